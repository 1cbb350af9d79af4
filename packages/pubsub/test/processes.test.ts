import { statSync } from 'node:fs';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { AlreadyExistsError } from '@ipcx/core';
import { Publisher, listTopics, runtimeDir } from '../src/index.js';
import { killTrackedChildren, leftovers, startFixture, uniqueName, until, type Fixture } from './helpers.js';

const topics: string[] = [];
function topicFor(what: string): string {
  const topic = uniqueName(what);
  topics.push(topic);
  return topic;
}

afterEach(async () => {
  await killTrackedChildren();
  for (const topic of topics.splice(0)) await Publisher.unlink(topic).catch(() => undefined);
});

const endOf = (f: Fixture): Promise<{ event: string; last?: unknown; count?: unknown; code?: unknown }> =>
  f.waitFor((l) => l.event === 'end' || l.event === 'error', 30_000);

describe('publisher and subscriber processes', () => {
  it('delivers to 8 subscriber processes, drops the 3 SIGKILLed mid-stream, and every survivor ends at the latest revision', async () => {
    const topic = topicFor('fanout');
    const pub = await Publisher.create<{ i: number }>(topic);
    const subs = Array.from({ length: 8 }, () => startFixture('subscriber', { topic, quiet: true }));
    await Promise.all(subs.map((s) => s.event('ready')));
    await until(() => pub.subscribers.length === 8, 10_000, '8 subscribers');
    expect(new Set(pub.subscribers.map((p) => p.pid))).toEqual(new Set(subs.map((s) => s.child.pid)));

    let revision = 0;
    for (let i = 1; i <= 3000; i++) {
      revision = await pub.publish({ i });
      if (i === 1000) await Promise.all(subs.slice(0, 3).map((s) => s.kill()));
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // The publisher noticed the dead ones (their slots are free again) and carried on.
    await until(() => pub.subscribers.length === 5, 10_000, 'the killed subscribers to be dropped');
    await pub.close();
    for (const sub of subs.slice(3)) {
      const end = await endOf(sub);
      expect(end).toMatchObject({ event: 'end', last: revision });
    }
    expect(revision).toBe(3000);
    expect(leftovers(topic)).toEqual([]);
  });

  it('a SIGKILLed publisher: error subscribers end with PeerGoneError at once; a new publisher takes over and waiting subscribers resume at its revisions', async () => {
    const topic = topicFor('takeover');
    const first = startFixture('publisher', { topic, options: { history: 4 } });
    await first.event('ready');
    for (let i = 1; i <= 5; i++) first.send({ op: 'publish', value: { i } });
    await first.waitFor((l) => l.event === 'published' && l.revision === 5);
    const quitters = [0, 1].map(() => startFixture('subscriber', { topic }));
    const waiters = [0, 1].map(() => startFixture('subscriber', { topic, onPublisherGone: 'wait' }));
    for (const sub of [...quitters, ...waiters]) await sub.waitFor((l) => l.event === 'rev' && l.revision === 5);
    expect((await listTopics()).find((t) => t.topic === topic)).toMatchObject({
      alive: true,
      revision: 5,
      pid: first.child.pid,
    });

    const killedAt = Date.now();
    await first.kill();
    for (const sub of quitters) {
      expect(await endOf(sub)).toMatchObject({ event: 'error', code: 'IPCX_ERR_PEER_GONE', last: 5 });
    }
    // Noticed within a second (generous on a shared machine: the socket's end is immediate).
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    // What SIGKILL left: the segment, the socket and lock files; listTopics calls it dead.
    expect(leftovers(topic).length).toBeGreaterThanOrEqual(3);
    expect((await listTopics()).find((t) => t.topic === topic)).toMatchObject({ alive: false, revision: 5 });

    const second = await Publisher.create<{ i: number }>(topic, { takeover: true, history: 4 });
    onTestFinished(() => second.close()); // also when an assertion below fails: nothing may be left
    expect(second.revision).toBe(5);
    expect(second.current()).toEqual({ revision: 5, value: { i: 5 } });
    expect(leftovers(topic).filter((f) => f.startsWith('/dev/shm/'))).toEqual([
      `/dev/shm/ipcx-topic-${topic}.${second.generation}`,
    ]);
    await until(() => second.subscribers.length === 2, 10_000, 'the waiting subscribers to reconnect');
    expect(await second.publish({ i: 6 })).toBe(6);
    for (const sub of waiters) await sub.waitFor((l) => l.event === 'rev' && l.revision === 6);
    expect(await second.publish({ i: 7 })).toBe(7);
    await second.close();
    for (const sub of waiters) expect(await endOf(sub)).toMatchObject({ event: 'end', last: 7 });
    expect(leftovers(topic)).toEqual([]);
  });

  it('a second live publisher is AlreadyExistsError; files and segment are owner-only', async () => {
    const topic = topicFor('single');
    const first = startFixture('publisher', { topic });
    await first.event('ready');
    await expect(Publisher.create(topic)).rejects.toBeInstanceOf(AlreadyExistsError);
    const second = startFixture('publisher', { topic });
    expect(await second.event('error')).toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    for (const path of leftovers(topic))
      expect(statSync(path.startsWith('/dev/shm/') ? path : `${runtimeDir()}/${path}`).mode & 0o777).toBe(0o600);
    first.send({ op: 'close' });
    await first.event('closed');
    expect(leftovers(topic)).toEqual([]);
  });

  it('readers never see a torn value while a writer publishes 64 KiB values flat out (every byte checked)', async () => {
    const topic = topicFor('torn');
    const pub = startFixture('publisher', { topic, options: { maxValueBytes: 256 * 1024 } });
    await pub.event('ready');
    const readers = [0, 1, 2].map(() =>
      startFixture('subscriber', { topic, verify: true, quiet: true, extraReads: 50 }),
    );
    await Promise.all(readers.map((r) => r.event('ready')));
    pub.send({ op: 'burst', count: 3000, size: 64 * 1024, yieldEvery: 64 });
    const done = await pub.event('burst-done', 40_000);
    pub.send({ op: 'close' });
    for (const reader of readers) {
      const end = await endOf(reader);
      expect(end).toMatchObject({ event: 'end', last: done.revision });
      expect(end.count as number).toBeGreaterThan(1);
    }
  });

  it('a late joiner reads the current snapshot at once; from "new" waits for the next one', async () => {
    const topic = topicFor('late');
    const pub = await Publisher.create<{ i: number }>(topic);
    for (let i = 1; i <= 5; i++) await pub.publish({ i });
    const late = startFixture('subscriber', { topic });
    expect(await late.event('ready')).toMatchObject({ current: 5 });
    expect(await late.event('rev')).toMatchObject({ revision: 5, value: { i: 5 } });
    const fresh = startFixture('subscriber', { topic, from: 'new' });
    await fresh.event('ready');
    await until(() => pub.subscribers.length === 2);
    await pub.publish({ i: 6 });
    expect(await fresh.event('rev')).toMatchObject({ revision: 6 });
    expect(fresh.lines.filter((l) => l.event === 'rev')).toHaveLength(1);
    await pub.close();
  });

  it('replays history from a revision, in order, and names the kept revisions past its edge', async () => {
    const topic = topicFor('history');
    const pub = await Publisher.create<{ i: number }>(topic, { history: 5 });
    for (let i = 1; i <= 12; i++) await pub.publish({ i });
    const replay = startFixture('subscriber', { topic, from: { revision: 8 } });
    await replay.waitFor((l) => l.event === 'rev' && l.revision === 12);
    expect(replay.lines.filter((l) => l.event === 'rev').map((l) => l.revision)).toEqual([8, 9, 10, 11, 12]);
    const tooOld = startFixture('subscriber', { topic, from: { revision: 7 } });
    expect(await tooOld.event('error')).toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
      name: 'RevisionNotFoundError',
      oldest: 8,
      latest: 12,
    });
    await pub.close();
  });

  it('grows to a new generation for a larger value without subscribers missing it', async () => {
    const topic = topicFor('grow');
    const pub = await Publisher.create<{ seed: number; size: number; data: Uint8Array }>(topic, {
      bufferBytes: 64,
      maxValueBytes: 64 * 1024,
    });
    const sub = startFixture('subscriber', { topic, verify: true });
    await sub.event('ready');
    await until(() => pub.subscribers.length === 1);
    const sizes = [10, 1000, 20_000, 5, 60_000];
    for (const [seed, size] of sizes.entries()) {
      const data = new Uint8Array(size).map((_, i) => (seed + i * 31) & 255);
      const revision = await pub.publish({ seed, size, data });
      await sub.waitFor((l) => l.event === 'rev' && l.revision === revision);
    }
    expect(pub.generation).toBeGreaterThan(1);
    expect(pub.bufferBytes).toBeLessThanOrEqual(64 * 1024);
    await expect(pub.publish({ seed: 0, size: 70_000, data: new Uint8Array(70_000) })).rejects.toMatchObject({
      code: 'IPCX_ERR_TOO_LARGE',
    });
    expect(leftovers(topic).filter((f) => f.startsWith('/dev/shm/'))).toHaveLength(1);
    await pub.close();
    expect(await endOf(sub)).toMatchObject({ event: 'end', last: sizes.length });
    expect(leftovers(topic)).toEqual([]);
  });

  it("writers: 'locked' lets several processes publish; compare-and-set updates lose nothing", async () => {
    const topic = topicFor('locked');
    const writers: Fixture[] = [];
    for (let i = 0; i < 3; i++) {
      const writer = startFixture('publisher', { topic, options: { writers: 'locked', maxValueBytes: 1024 } });
      await writer.event('ready');
      writers.push(writer);
    }
    const sub = startFixture('subscriber', { topic });
    await sub.event('ready');
    for (const w of writers) w.send({ op: 'increment', count: 100 });
    for (const w of writers) await w.event('incremented', 30_000);
    await sub.waitFor((l) => l.event === 'rev' && l.revision === 300);
    expect(sub.lines.find((l) => l.event === 'rev' && l.revision === 300)).toMatchObject({ value: { n: 300 } });
    for (const w of writers.slice(1)) {
      w.send({ op: 'close' });
      await w.event('closed');
    }
    writers[0]!.send({ op: 'close' });
    await writers[0]!.event('closed');
    expect(await endOf(sub)).toMatchObject({ event: 'end', last: 300 });
    expect(leftovers(topic)).toEqual([]);
  });
});
