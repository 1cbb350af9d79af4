import assert from 'node:assert/strict';
import { afterEach, expect, it } from 'vitest';
import { isIpcError, jsonCodec } from '@ipcx/core';
import { pendingAfterTurns } from '@ipcx/core/testing';
import { NatsPublisher, NatsSubscriber, Publisher, Subscriber, type TopicEntry } from '@ipcx/nats';
import { join } from 'node:path';
import { childLines, describeNats, fixtures, killChild, natsServer, spawnNode, uniqueName, within } from './helpers.js';

type Price = { price: number };

describeNats('topics on NATS KV: NatsPublisher and NatsSubscriber', () => {
  const server = natsServer();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  const publisher = async <T = Price>(
    topic: string,
    options: Parameters<typeof NatsPublisher.create<T>>[1] = {},
  ): Promise<NatsPublisher<T>> => {
    const pub = await NatsPublisher.create<T>(topic, { servers: server().url, ...options });
    open.push(pub);
    return pub;
  };
  const subscriber = async <T = Price>(
    topic: string,
    options: Parameters<typeof NatsSubscriber.open<T>>[1] = {},
  ): Promise<NatsSubscriber<T>> => {
    const sub = await NatsSubscriber.open<T>(topic, { servers: server().url, timeout: 5000, ...options });
    open.push(sub);
    return sub;
  };
  const take = async <T>(sub: NatsSubscriber<T>, n: number): Promise<TopicEntry<T>[]> => {
    const got: TopicEntry<T>[] = [];
    for (let i = 0; i < n; i++) got.push(await sub.next({ timeout: 5000 }));
    return got;
  };

  it('exports Publisher and Subscriber with the names @ipcx/pubsub uses', () => {
    expect(Publisher).toBe(NatsPublisher);
    expect(Subscriber).toBe(NatsSubscriber);
  });

  it('numbers revisions 1, 2, 3 with no gap and hands them to for await in order', async () => {
    const topic = uniqueName('order');
    const pub = await publisher(topic);
    const sub = await subscriber(topic, { from: 'new' });
    for (let i = 1; i <= 20; i++) expect(await pub.publish({ price: i })).toBe(i);
    const seen: number[] = [];
    for await (const { revision, value } of sub) {
      expect(value.price).toBe(revision);
      seen.push(revision);
      if (revision === 20) break;
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(sub.current()).toEqual({ revision: 20, value: { price: 20 } });
    expect(pub.current()).toEqual({ revision: 20, value: { price: 20 } });
  });

  it('gives a late joiner the current value first, then what follows', async () => {
    const topic = uniqueName('late');
    const pub = await publisher(topic);
    await pub.publish({ price: 1 });
    await pub.publish({ price: 2 });
    const sub = await subscriber(topic);
    expect(sub.current()).toEqual({ revision: 2, value: { price: 2 } });
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 2, value: { price: 2 } });
    await pub.publish({ price: 3 });
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 3, value: { price: 3 } });
  });

  it("from: 'new' waits for the next revision and from: { revision } replays the history", async () => {
    const topic = uniqueName('history');
    const pub = await publisher(topic, { history: 4 });
    for (let i = 1; i <= 6; i++) await pub.publish({ price: i });
    const fresh = await subscriber(topic, { from: 'new' });
    expect(fresh.current()?.revision).toBe(6);
    const waiting = fresh.next({ timeout: 5000 });
    expect(await pendingAfterTurns(waiting)).toBe(true);
    const replay = await subscriber(topic, { from: { revision: 4 } });
    expect((await take(replay, 3)).map((e) => e.revision)).toEqual([4, 5, 6]);
    await pub.publish({ price: 7 });
    expect((await waiting).revision).toBe(7);
    expect((await replay.next({ timeout: 5000 })).revision).toBe(7);
    // History keeps 4: revision 2 is gone, and asking for it is an error, not a silent jump.
    await expect(subscriber(topic, { from: { revision: 2 } })).rejects.toMatchObject({
      name: 'RevisionNotFoundError',
      code: 'IPCX_ERR_NOT_FOUND',
      revision: 2,
      oldest: 4,
      latest: 7,
    });
    // A revision not published yet: iteration starts there.
    const future = await subscriber(topic, { from: { revision: 9 } });
    await pub.publish({ price: 8 });
    await pub.publish({ price: 9 });
    expect((await future.next({ timeout: 5000 })).revision).toBe(9);
  });

  it('compare-and-set: expectedRevision publishes only at that revision, else RevisionMismatchError', async () => {
    const topic = uniqueName('cas');
    const pub = await publisher(topic);
    expect(await pub.publish({ price: 1 }, { expectedRevision: 0 })).toBe(1);
    await expect(pub.publish({ price: 9 }, { expectedRevision: 0 })).rejects.toMatchObject({
      code: 'IPCX_ERR_REVISION',
      expected: 0,
      actual: 1,
    });
    expect(await pub.publish({ price: 2 }, { expectedRevision: 1 })).toBe(2);
    const error = await pub.publish({ price: 9 }, { expectedRevision: 1 }).catch((e: unknown) => e);
    assert.ok(isIpcError(error));
    expect(error).toMatchObject({ name: 'RevisionMismatchError', code: 'IPCX_ERR_REVISION', expected: 1, actual: 2 });
    const sub = await subscriber(topic);
    expect(sub.current()).toEqual({ revision: 2, value: { price: 2 } });
    await expect(pub.publish({ price: 3 }, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'IPCX_ERR_ABORTED',
    });
    expect(await pub.publish({ price: 3 }, { timeout: 5000 })).toBe(3);
  });

  it('update retries a lost compare-and-set: two writers on two connections lose no increment', async () => {
    const topic = uniqueName('update');
    const a = await publisher<{ n: number }>(topic);
    const b = await publisher<{ n: number }>(topic);
    const bump = (pub: NatsPublisher<{ n: number }>) => async () => {
      for (let i = 0; i < 15; i++) await pub.update((current) => ({ n: (current?.n ?? 0) + 1 }));
    };
    await Promise.all([bump(a)(), bump(b)()]);
    const sub = await subscriber<{ n: number }>(topic);
    expect(sub.current()).toEqual({ revision: 30, value: { n: 30 } });
  });

  it("a publisher that closes ends the subscriber's loop quietly after what it published (as in pubsub), and 'wait' keeps watching", async () => {
    const topic = uniqueName('gone');
    const pub = await NatsPublisher.create<Price>(topic, { servers: server().url, heartbeatInterval: 50 });
    await pub.publish({ price: 1 });
    const strict = await subscriber(topic, { heartbeatInterval: 50 });
    const patient = await subscriber(topic, { heartbeatInterval: 50, onPublisherGone: 'wait' });
    await pub.publish({ price: 2 });
    // Wait until both have heard the publisher live (the presence subject) before it leaves.
    expect((await take(strict, 2)).map((e) => e.revision)).toEqual([1, 2]);
    expect((await take(patient, 2)).map((e) => e.revision)).toEqual([1, 2]);
    const loop = (async () => {
      for await (const _ of strict) assert.fail('nothing more was published');
    })();
    await pub.close();
    await within(loop, 5000, 'the end of the loop');
    await expect(strict.next()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    const next = await NatsPublisher.create<Price>(topic, { servers: server().url });
    open.push(next);
    expect(await next.publish({ price: 3 })).toBe(3);
    expect(await patient.next({ timeout: 5000 })).toEqual({ revision: 3, value: { price: 3 } });
  });

  it('a publisher whose process is SIGKILLed ends the subscriber with PeerGoneError after its revisions', async () => {
    const topic = uniqueName('killed');
    const child = spawnNode([join(fixtures, 'publish-topic.mjs'), server().url, topic, '50']);
    expect(await childLines(child).next()).toBe('ready');
    const sub = await subscriber(topic, { heartbeatInterval: 50 });
    expect(await sub.next({ timeout: 5000 })).toEqual({ revision: 1, value: { price: 1 } });
    expect(sub.revision).toBe(1);
    // Heard alive before it dies (presence every 50 ms).
    await within(
      (async () => {
        while (!sub.publisherAlive) await new Promise((resolve) => setImmediate(resolve));
      })(),
      5000,
      'the publisher heard',
    );
    await killChild(child);
    await expect(within(sub.next(), 5000, 'the end')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it('carries any codec, refuses a value over maxValueBytes with TooLargeError, and a missing topic is NotFoundError', async () => {
    const topic = uniqueName('codec');
    const pub = await publisher<unknown>(topic, { codec: jsonCodec, maxValueBytes: 64 });
    await expect(pub.publish({ text: 'x'.repeat(100) })).rejects.toMatchObject({ code: 'IPCX_ERR_TOO_LARGE' });
    await pub.publish({ text: 'ok' });
    const sub = await subscriber<unknown>(topic, { codec: jsonCodec });
    expect(sub.current()).toEqual({ revision: 1, value: { text: 'ok' } });
    await expect(subscriber(uniqueName('missing'))).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
    await expect(NatsSubscriber.open('bad name', { servers: server().url })).rejects.toMatchObject({
      code: 'IPCX_ERR_INVALID_NAME',
    });
    await expect(NatsPublisher.create(topic, { servers: server().url, history: 65 })).rejects.toThrow(RangeError);
  });

  it('close ends a waiting next with ClosedError and is idempotent; for await ends quietly', async () => {
    const topic = uniqueName('close');
    const pub = await publisher(topic);
    await pub.publish({ price: 1 });
    const sub = await NatsSubscriber.open<Price>(topic, { servers: server().url, from: 'new' });
    const waiting = sub.next();
    const loop = (async () => {
      for await (const _ of sub) assert.fail('nothing was published');
    })();
    await sub.close();
    await sub.close();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await loop;
    await expect(sub.next()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await pub.close();
    await pub.close();
    await expect(pub.publish({ price: 2 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });
});
