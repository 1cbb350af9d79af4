import { isIpcError, type Codec } from '@ipcx/core';
import type { NatsConnectOptions } from './internal/connection.js';
import { NatsPublisher } from './nats-publisher.js';
import { NatsSubscriber, type TopicEntry } from './nats-subscriber.js';

/** The local side a bridge reads: what `@ipcx/pubsub`'s `Subscriber` offers (any object of this shape works). */
export interface LocalTopicSubscriber<T> {
  current(): TopicEntry<T> | undefined;
  [Symbol.asyncIterator](): AsyncIterator<TopicEntry<T>>;
}

/** The local side a bridge writes: what `@ipcx/pubsub`'s `Publisher` offers (any object of this shape works). */
export interface LocalTopicPublisher<T> {
  publish(value: T): Promise<number> | Promise<unknown>;
}

/** Options of `bridgeTopic`: exactly one of `toNats` and `fromNats`, and how to reach NATS. */
export interface BridgeTopicOptions<T> extends NatsConnectOptions {
  /**
   * Mirror this local subscriber's revisions into the NATS topic (the bridge holds the topic's `NatsPublisher`).
   * The bridge publishes the subscriber's `current()` first, then what its loop yields.
   */
  toNats?: LocalTopicSubscriber<T> | undefined;
  /** Mirror the NATS topic into this local publisher (the bridge holds a `NatsSubscriber` from `'latest'`). */
  fromNats?: LocalTopicPublisher<T> | undefined;
  /** Default `msgpackCodec`, on the NATS side. */
  codec?: Codec<T> | undefined;
  /** The NATS side's bucket options (see `NatsPublisherOptions`). */
  bucket?: string | undefined;
  history?: number | undefined;
  maxValueBytes?: number | undefined;
}

/** A running bridge. */
export interface TopicBridge extends AsyncDisposable {
  /** Revisions mirrored so far. */
  readonly mirrored: number;
  /**
   * Settles when the bridge ends: resolves when the source ended in order (it was closed) or `close` was called;
   * rejects with the typed error that ended it otherwise (the publisher gone, NATS unreachable, another writer on
   * the NATS topic: `RevisionMismatchError`).
   */
  readonly done: Promise<void>;
  /** True once `close` or `destroy` was called. */
  readonly closed: boolean;
  /** Stops mirroring and closes what the bridge opened on NATS (never the local side). Idempotent. */
  close(): Promise<void>;
  /** Stops mirroring now and destroys what the bridge opened on NATS (a write in flight may still land). Idempotent. */
  destroy(error?: Error): void;
}

/**
 * Mirrors a topic between this machine and NATS, in one direction:
 *
 * - `toNats`: every revision a local subscriber yields is published to the NATS topic, in order, as a
 *   compare-and-set on the revision the bridge wrote last, so the NATS side has one writer (a second one ends the
 *   bridge with `RevisionMismatchError` instead of interleaving). The NATS topic numbers its revisions 1, 2, 3, …
 *   with no gap, one per revision mirrored: the same numbers as the local topic when the bridge starts with the
 *   local topic's first revision on a fresh bucket and its subscriber never skips (otherwise the numbers are
 *   offset, still continuous).
 * - `fromNats`: every revision of the NATS topic, from the current one, is published to a local publisher.
 *
 * Both sides are duck-typed (`{ current(), [Symbol.asyncIterator] }` and `{ publish(value) }`), which is what
 * `@ipcx/pubsub`'s `Subscriber` and `Publisher` are.
 *
 * @example
 * ```ts
 * const local = await Subscriber.open<Price>('prices');            // @ipcx/pubsub, on this machine
 * const bridge = await bridgeTopic('prices', { toNats: local, servers: 'nats://10.0.0.5:4222' });
 * // on any machine: (await NatsSubscriber.open<Price>('prices', { servers })) yields the same values
 * ```
 */
export async function bridgeTopic<T = unknown>(topic: string, options: BridgeTopicOptions<T>): Promise<TopicBridge> {
  const { toNats, fromNats, ...rest } = options;
  if ((toNats === undefined) === (fromNats === undefined))
    throw new TypeError('bridgeTopic takes exactly one of toNats and fromNats');
  if (
    toNats !== undefined &&
    (typeof toNats.current !== 'function' || typeof toNats[Symbol.asyncIterator] !== 'function')
  ) {
    throw new TypeError('toNats must be a subscriber: { current(), [Symbol.asyncIterator]() }');
  }
  if (fromNats !== undefined && typeof fromNats.publish !== 'function')
    throw new TypeError('fromNats must be a publisher: { publish(value) }');
  return toNats !== undefined ? toNatsBridge(topic, toNats, rest) : fromNatsBridge(topic, fromNats!, rest);
}

class Bridge implements TopicBridge {
  mirrored = 0;
  readonly done: Promise<void>;
  #closed = false;
  #iterator: AsyncIterator<unknown> | undefined;
  #stop!: () => void;
  /** Resolves at close: a loop waiting on its source stops waiting (the source may never yield again). */
  readonly #stopped = new Promise<IteratorReturnResult<undefined>>(
    (resolve) => (this.#stop = () => resolve({ done: true, value: undefined })),
  );

  constructor(
    private readonly natsSide: { close(): Promise<void>; destroy(error?: Error): void },
    run: (bridge: Bridge) => Promise<void>,
  ) {
    this.done = run(this).then(
      () => this.natsSide.close(),
      async (error: unknown) => {
        await this.natsSide.close();
        if (this.#closed && isIpcError(error) && error.code === 'IPCX_ERR_CLOSED') return;
        throw error;
      },
    );
    // The caller may never look at `done`: its rejection is theirs to read, not an unhandled one.
    this.done.catch(() => {});
  }

  get closed(): boolean {
    return this.#closed;
  }

  iterate<E>(source: AsyncIterable<E>): AsyncIterator<E> {
    const iterator = source[Symbol.asyncIterator]();
    this.#iterator = iterator;
    return iterator;
  }

  /** The source's next step, or done once the bridge is closed. */
  next<E>(iterator: AsyncIterator<E>): Promise<IteratorResult<E>> {
    return Promise.race([iterator.next(), this.#stopped]);
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#stop();
      // Leaves the source's loop (a pubsub subscriber stays open: it is the caller's); the NATS side closes.
      void this.#iterator?.return?.();
    }
    await this.natsSide.close();
    await this.done.catch(() => {});
  }

  destroy(error?: Error): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#stop();
      void this.#iterator?.return?.();
    }
    this.natsSide.destroy(error);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function toNatsBridge<T>(
  topic: string,
  local: LocalTopicSubscriber<T>,
  options: Omit<BridgeTopicOptions<T>, 'toNats' | 'fromNats'>,
): Promise<TopicBridge> {
  const publisher = await NatsPublisher.create<T>(topic, options);
  let last = publisher.current()?.revision ?? 0;
  return new Bridge(publisher, async (bridge) => {
    let lastLocal = 0;
    const mirror = async ({ revision, value }: TopicEntry<T>): Promise<void> => {
      if (revision <= lastLocal) return; // the current value, seen again by the loop
      lastLocal = revision;
      last = await publisher.publish(value, { expectedRevision: last });
      bridge.mirrored++;
    };
    // The loop is taken before anything is awaited, then the current value goes first, whether or not the
    // local subscriber's loop starts with it.
    const iterator = bridge.iterate<TopicEntry<T>>({ [Symbol.asyncIterator]: () => local[Symbol.asyncIterator]() });
    const current = local.current();
    if (current !== undefined) await mirror(current);
    for (;;) {
      const step = await bridge.next(iterator);
      if (step.done || bridge.closed) return;
      await mirror(step.value);
    }
  });
}

async function fromNatsBridge<T>(
  topic: string,
  local: LocalTopicPublisher<T>,
  options: Omit<BridgeTopicOptions<T>, 'toNats' | 'fromNats'>,
): Promise<TopicBridge> {
  const subscriber = await NatsSubscriber.open<T>(topic, { ...options, from: 'latest', onPublisherGone: 'wait' });
  return new Bridge(subscriber, async (bridge) => {
    const iterator = bridge.iterate(subscriber);
    for (;;) {
      const step = await bridge.next(iterator);
      if (step.done || bridge.closed) return;
      await local.publish(step.value.value);
      bridge.mirrored++;
    }
  });
}
