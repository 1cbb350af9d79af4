import { afterEach, expect, it } from 'vitest';
import { NatsPublisher, NatsSubscriber, bridgeTopic, type TopicBridge, type TopicEntry } from '@ipcx/nats';
import { describeNats, natsServer, uniqueName } from './helpers.js';

type Price = { price: number };

/**
 * A local topic with the shape of @ipcx/pubsub's Publisher and Subscriber (publish; current() and for await of
 * { revision, value }), in memory: the bridge is written against that shape.
 */
class LocalTopic<T> {
  readonly entries: TopicEntry<T>[] = [];
  #wake: (() => void)[] = [];
  async publish(value: T): Promise<number> {
    this.entries.push({ revision: this.entries.length + 1, value });
    for (const wake of this.#wake.splice(0)) wake();
    return this.entries.length;
  }
  /** A subscriber from 'latest': its position is fixed when it is made, like a pubsub Subscriber's at connect. */
  subscriber(): { current(): TopicEntry<T> | undefined; [Symbol.asyncIterator](): AsyncIterator<TopicEntry<T>> } {
    const topic = this;
    let next = Math.max(0, topic.entries.length - 1); // the current one first
    return {
      current: () => topic.entries.at(-1),
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (next >= topic.entries.length) await new Promise<void>((resolve) => topic.#wake.push(resolve));
          yield topic.entries[next++]!;
        }
      },
    };
  }
  async waitFor(n: number): Promise<void> {
    while (this.entries.length < n) await new Promise<void>((resolve) => this.#wake.push(resolve));
  }
}

describeNats('bridgeTopic: a local topic mirrored into NATS KV and back', () => {
  const server = natsServer();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  const track = <T extends { close(): Promise<void> }>(o: T): T => {
    open.push(o);
    return o;
  };

  it('toNats: a subscriber elsewhere sees the local revisions with the same numbers, in order', async () => {
    const topic = uniqueName('to-nats');
    const local = new LocalTopic<Price>();
    await local.publish({ price: 1 });
    const bridge = track(await bridgeTopic<Price>(topic, { toNats: local.subscriber(), servers: server().url }));
    const remote = track(
      await NatsSubscriber.open<Price>(topic, { servers: server().url, timeout: 5000, onPublisherGone: 'wait' }),
    );
    for (let i = 2; i <= 6; i++) await local.publish({ price: i });
    const seen: TopicEntry<Price>[] = [];
    while (seen.at(-1)?.revision !== 6) {
      const entry = await remote.next({ timeout: 5000 }).catch((error: unknown) => {
        throw new Error(`after ${JSON.stringify(seen)}, mirrored ${bridge.mirrored}: ${String(error)}`, {
          cause: error,
        });
      });
      seen.push(entry);
    }
    expect(seen).toEqual(local.entries.slice(seen[0]!.revision - 1));
    expect(seen[0]!.revision).toBeLessThanOrEqual(2);
    expect(remote.current()).toEqual({ revision: 6, value: { price: 6 } });
    expect(bridge.mirrored).toBeGreaterThanOrEqual(5); // the sixth may still be on its way back from the server
  });

  it('fromNats: revisions published on NATS reach the local publisher in order, from the current one', async () => {
    const topic = uniqueName('from-nats');
    const pub = track(await NatsPublisher.create<Price>(topic, { servers: server().url }));
    await pub.publish({ price: 1 });
    const local = new LocalTopic<Price>();
    track(await bridgeTopic<Price>(topic, { fromNats: local, servers: server().url }));
    for (let i = 2; i <= 5; i++) await pub.publish({ price: i });
    await local.waitFor(5);
    expect(local.entries.map((e) => e.value.price)).toEqual([1, 2, 3, 4, 5]);
  });

  it('ends with RevisionMismatchError when another writer publishes to the NATS topic, and close is idempotent', async () => {
    const topic = uniqueName('two-writers');
    const local = new LocalTopic<Price>();
    const bridge: TopicBridge = track(
      await bridgeTopic<Price>(topic, { toNats: local.subscriber(), servers: server().url }),
    );
    await local.publish({ price: 1 });
    const intruder = track(await NatsPublisher.create<Price>(topic, { servers: server().url }));
    const sub = track(
      await NatsSubscriber.open<Price>(topic, {
        servers: server().url,
        from: { revision: 1 },
        onPublisherGone: 'wait',
      }),
    );
    expect((await sub.next({ timeout: 5000 })).revision).toBe(1);
    await intruder.publish({ price: 666 });
    await local.publish({ price: 2 });
    await expect(bridge.done).rejects.toMatchObject({ code: 'IPCX_ERR_REVISION' });
    await bridge.close();
    await bridge.close();
  });

  it('close stops mirroring, resolves done and leaves the local side alone', async () => {
    const topic = uniqueName('close');
    const local = new LocalTopic<Price>();
    await local.publish({ price: 1 });
    const bridge = await bridgeTopic<Price>(topic, { toNats: local.subscriber(), servers: server().url });
    await bridge.close();
    await expect(bridge.done).resolves.toBeUndefined();
    expect(await local.publish({ price: 2 })).toBe(2);
    await expect(bridgeTopic(topic, { servers: server().url })).rejects.toThrow(TypeError);
  });
});
