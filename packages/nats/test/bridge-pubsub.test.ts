import { afterEach, expect, it } from 'vitest';
import { NatsPublisher, NatsSubscriber, bridgeTopic, type TopicEntry } from '@ipcx/nats';
import { describe } from 'vitest';
import { natsServer, skipWithoutServer, uniqueName } from './helpers.js';

// With the real @ipcx/pubsub: skipped (named) when the package is not in the workspace.
const pubsub = await import('@ipcx/pubsub' as string).catch(() => undefined);
if (!pubsub)
  console.warn('@ipcx/nats: @ipcx/pubsub is not in this workspace: the bridge tests with the real package are SKIPPED');

type Price = { price: number };

describe.skipIf(skipWithoutServer || !pubsub)('bridgeTopic with the real @ipcx/pubsub', () => {
  const server = natsServer();
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  const track = <T extends { close(): Promise<void> }>(o: T): T => {
    open.push(o);
    return o;
  };

  it('a local pubsub topic watched through NATS with the same loop: the same latest value, NATS revisions continuous', async () => {
    const topic = uniqueName('pubsub-to-nats');
    const local = track(await pubsub!.Publisher.create(topic, { history: 8 }));
    await local.publish({ price: 1 });
    const localSub = track(await pubsub!.Subscriber.open(topic));
    track(await bridgeTopic<Price>(topic, { toNats: localSub, servers: server().url }));
    const remote = track(
      await NatsSubscriber.open<Price>(topic, { servers: server().url, onPublisherGone: 'wait', timeout: 5000 }),
    );
    const localWatcher = track(await pubsub!.Subscriber.open(topic));
    for (let i = 2; i <= 5; i++) await local.publish({ price: i });
    // The same code on both: next() until the value of local revision 5. (A pubsub subscriber, the bridge's
    // included, skips revisions it was too slow for: the NATS side then has fewer, still continuous.)
    const watch = async (sub: {
      next(o: { timeout: number }): Promise<TopicEntry<Price>>;
    }): Promise<TopicEntry<Price>[]> => {
      const seen: TopicEntry<Price>[] = [];
      while (seen.at(-1)?.value.price !== 5) seen.push(await sub.next({ timeout: 5000 }));
      return seen;
    };
    const [here, there] = await Promise.all([watch(localWatcher), watch(remote)]);
    expect(here.at(-1)).toEqual({ revision: 5, value: { price: 5 } });
    expect(there.at(-1)!.value).toEqual({ price: 5 });
    expect(there.map((e) => e.revision)).toEqual(there.map((_, i) => there[0]!.revision + i)); // continuous
    expect(remote.current()?.value).toEqual({ price: 5 });
  });

  it('a NATS topic mirrored into a local pubsub topic', async () => {
    const topic = uniqueName('nats-to-pubsub');
    const pub = track(await NatsPublisher.create<Price>(topic, { servers: server().url }));
    await pub.publish({ price: 1 });
    const local = track(await pubsub!.Publisher.create(topic));
    track(await bridgeTopic<Price>(topic, { fromNats: local, servers: server().url }));
    const localSub = track(await pubsub!.Subscriber.open(topic));
    for (let i = 2; i <= 4; i++) await pub.publish({ price: i });
    let last: TopicEntry<Price> | undefined;
    while (last?.value.price !== 4) last = await localSub.next({ timeout: 5000 });
    expect(last).toEqual({ revision: 4, value: { price: 4 } });
  });
});
