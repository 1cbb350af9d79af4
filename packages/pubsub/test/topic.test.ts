import { afterEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  InvalidNameError,
  RevisionMismatchError,
  TimeoutError,
  AbortedError,
  NotFoundError,
  isIpcError,
  ownedKernelObjects,
  unlinkOwnedKernelObjectsSync,
} from '@ipcx/core';
import { Publisher, Subscriber, listTopics } from '../src/index.js';
import { leftovers, uniqueName, within } from './helpers.js';

const topics: string[] = [];
function topicFor(what: string): string {
  const topic = uniqueName(what);
  topics.push(topic);
  return topic;
}
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  for (const topic of topics.splice(0)) {
    await Publisher.unlink(topic).catch(() => undefined);
    expect(leftovers(topic)).toEqual([]);
  }
});

describe('topic names and options', () => {
  it.each(['', '.hidden', '-x', 'a/b', 'a b', 'x'.repeat(65), 'é'])(
    'refuses the topic name %j with InvalidNameError',
    async (name) => {
      await expect(Publisher.create(name)).rejects.toBeInstanceOf(InvalidNameError);
      await expect(Subscriber.open(name)).rejects.toBeInstanceOf(InvalidNameError);
    },
  );

  it('checks options before creating anything', async () => {
    const topic = topicFor('options');
    const invalid = { code: 'IPCX_ERR_INVALID_OPTION' };
    await expect(Publisher.create(topic, { history: 0 })).rejects.toMatchObject({ ...invalid, option: 'history' });
    await expect(Publisher.create(topic, { maxValueBytes: -1 })).rejects.toMatchObject({
      ...invalid,
      option: 'maxValueBytes',
    });
    await expect(Publisher.create(topic, { writers: 'many' as 'single' })).rejects.toMatchObject({
      ...invalid,
      option: 'writers',
    });
    await expect(Subscriber.open(topic, { from: { revision: 0 } })).rejects.toBeInstanceOf(TypeError);
    expect(leftovers(topic)).toEqual([]);
  });

  it('open without a live publisher is NotFoundError; with wait it waits within its timeout', async () => {
    const topic = topicFor('absent');
    await expect(Subscriber.open(topic)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Subscriber.open(topic, { onPublisherGone: 'wait', timeout: 100 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    const waiting = Subscriber.open<number>(topic, { onPublisherGone: 'wait', timeout: 10_000 });
    const pub = await Publisher.create<number>(topic);
    open.push(pub);
    const sub = await waiting;
    open.push(sub);
    await pub.publish(1);
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 1, value: 1 });
  });
});

describe('Publisher', () => {
  it('compare-and-set: a stale expectedRevision is RevisionMismatchError; update retries', async () => {
    const topic = topicFor('cas');
    const pub = await Publisher.create<{ n: number }>(topic);
    open.push(pub);
    expect(await pub.publish({ n: 1 }, { expectedRevision: 0 })).toBe(1);
    const error = await pub.publish({ n: 2 }, { expectedRevision: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RevisionMismatchError);
    expect(error).toMatchObject({ code: 'IPCX_ERR_REVISION', expected: 0, actual: 1 });
    // Two updates whose functions overlap: the loser runs again on the winner's value.
    let calls = 0;
    const slow = pub.update(async (current) => {
      calls++;
      await new Promise((resolve) => setImmediate(resolve));
      return { n: (current?.n ?? 0) + 10 };
    });
    const fast = pub.update((current) => ({ n: (current?.n ?? 0) + 100 }));
    await Promise.all([slow, fast]);
    expect(pub.current()).toEqual({ revision: 3, value: { n: 111 } });
    expect(calls).toBe(2);
  });

  it('registers its topic, segment and socket, and unregisters them on close (idempotent)', async () => {
    const topic = topicFor('registry');
    const pub = await Publisher.create(topic);
    const mine = () =>
      ownedKernelObjects().filter((o) => o.owner === '@ipcx/pubsub' && (o.name === topic || o.name.includes(topic)));
    expect(
      mine()
        .map((o) => o.kind)
        .sort(),
    ).toEqual(['file', 'shm', 'socket', 'topic']);
    expect((await listTopics()).find((t) => t.topic === topic)).toMatchObject({
      alive: true,
      revision: 0,
      generation: 1,
    });
    await pub.close();
    await pub.close();
    expect(mine()).toEqual([]);
    await expect(pub.publish(1)).rejects.toBeInstanceOf(ClosedError);
    expect((await listTopics()).find((t) => t.topic === topic)).toBeUndefined();
  });

  it('unlinkOwnedKernelObjectsSync (an exit handler) leaves nothing of a topic behind', async () => {
    const topic = topicFor('exit');
    await Publisher.create(topic);
    const results = unlinkOwnedKernelObjectsSync().filter(
      (r) => r.object.owner === '@ipcx/pubsub' && r.object.name.includes(topic),
    );
    expect(results.map((r) => r.object.kind).sort()).toEqual(['file', 'shm', 'socket', 'topic']);
    // close() (the topic entry) goes on asynchronously; the files and the segment are gone already.
    expect(leftovers(topic)).toEqual([]);
  });
});

describe('listTopics', () => {
  it('finds the many topics of one process with their revisions, and none after they close', async () => {
    const names = [topicFor('many-a'), topicFor('many-b'), topicFor('many-c')];
    const pubs = await Promise.all(names.map((name) => Publisher.create<number>(name)));
    for (const [i, pub] of pubs.entries()) for (let n = 0; n <= i; n++) await pub.publish(n);
    const listed = (await listTopics()).filter((t) => names.includes(t.topic));
    expect(listed.map((t) => [t.topic, t.revision, t.alive, t.pid])).toEqual(
      names.map((name, i) => [name, i + 1, true, process.pid]).sort(),
    );
    await Promise.all(pubs.map((pub) => pub.close()));
    expect((await listTopics()).filter((t) => names.includes(t.topic))).toEqual([]);
  });
});

describe('Subscriber', () => {
  it('next takes a timeout and a signal; close ends a pending next and the iteration', async () => {
    const topic = topicFor('waits');
    const pub = await Publisher.create<number>(topic);
    open.push(pub);
    const sub = await Subscriber.open<number>(topic);
    expect(sub.current()).toBeUndefined();
    await expect(sub.next({ timeout: 50 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = sub.next({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    await pub.publish(7);
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 1, value: 7 });
    const pending = sub.next();
    const iterating = (async () => {
      const seen: number[] = [];
      for await (const { revision } of sub) seen.push(revision);
      return seen;
    })();
    await sub.close();
    await sub.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    expect(await iterating).toEqual([]);
  });

  it('a futex wait the kernel refuses fails next with a typed error, once, instead of looking again in a loop', async () => {
    const topic = topicFor('futex-fails');
    const pub = await Publisher.create<number>(topic);
    open.push(pub);
    const sub = await Subscriber.open<number>(topic, { spinMicroseconds: 0 });
    open.push(sub);
    const { futex } = await import('@ipcx/native');
    const waitAsync = futex.waitAsync;
    let calls = 0;
    const refused = Object.assign(new Error('futex: ENOMEM'), { code: 'ENOMEM', errno: -12, syscall: 'futex' });
    futex.waitAsync = () => {
      calls++;
      return Promise.reject(refused);
    };
    try {
      const error = await within(sub.next({ timeout: 10_000 }), 5000, 'next after a refused futex wait').catch(
        (e: unknown) => e,
      );
      expect(isIpcError(error)).toBe(true);
      expect((error as Error).cause).toBe(refused);
      expect(calls).toBe(1);
    } finally {
      futex.waitAsync = waitAsync;
    }
    // The subscriber is still usable once the kernel takes waits again.
    const next = sub.next({ timeout: 5000 });
    await pub.publish(1);
    expect(await next).toEqual({ revision: 1, value: 1 });
  });

  it('coalesces: a subscriber that reads after many publishes gets the latest, not a backlog', async () => {
    const topic = topicFor('coalesce');
    const pub = await Publisher.create<number>(topic);
    open.push(pub);
    const sub = await Subscriber.open<number>(topic);
    open.push(sub);
    for (let i = 1; i <= 1000; i++) await pub.publish(i);
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 1000, value: 1000 });
    await expect(sub.next({ timeout: 50 })).rejects.toBeInstanceOf(TimeoutError);
  });
});
