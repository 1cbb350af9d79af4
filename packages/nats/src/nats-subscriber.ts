import {
  ClosedError,
  NotFoundError,
  PeerGoneError,
  RevisionNotFoundError,
  isIpcError,
  type Codec,
  type IpcError,
  type WaitOptions,
} from '@ipcx/core';
import { Inbox, checkEnum, checkInteger, intervalOption, iterate } from '@ipcx/core/transport';
import type { KV, KvEntry } from '@nats-io/kv';
import type { QueuedIterator, Status, Subscription } from '@nats-io/transport-node';
import {
  checkConnectOptions,
  holdConnection,
  onConnectionClosed,
  releaseConnection,
  type HeldConnection,
  type NatsConnectOptions,
} from './internal/connection.js';
import { fromNatsError } from './internal/errors.js';
import { TOPIC_KEY, bucketName, openBucket, presenceSubject, topicCodec } from './internal/topic-common.js';

/** One revision of a topic. */
export interface TopicEntry<T> {
  revision: number;
  value: T;
}

/** Options of `NatsSubscriber.open`. */
export interface NatsSubscriberOptions<T> extends NatsConnectOptions {
  /**
   * Where iteration starts: `'latest'` (default) yields the current value first, then every later revision;
   * `'new'` only revisions published after connect; `{ revision: n }` revision n and every later one, from the
   * bucket's history (`NotFoundError` when the history no longer holds n).
   */
  from?: 'latest' | 'new' | { revision: number } | undefined;
  /**
   * When the topic's publisher leaves, as in `@ipcx/pubsub`: with `'error'` (default), once the revisions that
   * arrived are read, a publisher that closed ends `next` with `ClosedError` (and `for await` quietly), one that was
   * heard and then fell silent for 5 presence intervals (it died) with `PeerGoneError`; `'wait'` keeps watching for
   * the next publisher (the revisions go on: they are in the bucket). A publisher never heard is never gone.
   */
  onPublisherGone?: 'error' | 'wait' | undefined;
  /** Default `msgpackCodec`: the publisher's codec. */
  codec?: Codec<T> | undefined;
  /** The KV bucket. Default `ipcx-<topic>`. */
  bucket?: string | undefined;
  /**
   * Revisions held unread; a subscriber that falls further behind skips the oldest (a state topic's reader needs
   * the newest, not every step): the revisions it then yields jump, and `skipped` counts what it missed. Default 1024.
   */
  capacity?: number | undefined;
  /**
   * How often the subscriber checks that the other side still delivers: that its KV watch does (a watch can die silently after a server
   * restart): when the bucket holds a newer revision than the watch delivered, the watch is made again from the
   * last revision seen. Also re-made at once on every reconnect. Default 2000 ms.
   */
  peerCheckInterval?: number | undefined;
  /**
   * The publisher's `heartbeatInterval` (how often it says it lives): one not heard from in 5 of them is gone.
   * Default 1000.
   */
  heartbeatInterval?: number | undefined;
}

const SILENT_INTERVALS = 5;
/** Failed attempts in a row to make the watch again, after which the subscriber gives up with PeerGoneError. */
const MAX_FRUITLESS_WATCHES = 20;

/**
 * The reading side of a topic that spans machines, with `@ipcx/pubsub`'s `Subscriber` API: `for await` of
 * `{ revision, value }`, `current()`, `next()`, late join (the current value at connect), history
 * (`from: { revision }`), and an end (`PeerGoneError`) when the publisher leaves. It watches the topic's NATS KV
 * bucket and keeps that watch alive: after a reconnect, or when it stops delivering while the bucket moves on, it
 * is made again from the last revision seen, so no revision is delivered twice and none is lost silently. When
 * NATS cannot be reached any more (the connection closed), iteration ends with `PeerGoneError`.
 *
 * @example
 * ```ts
 * await using sub = await NatsSubscriber.open<{ price: number }>('prices', { servers: 'nats://10.0.0.5:4222' });
 * for await (const { revision, value } of sub) console.log(revision, value.price);
 * ```
 */
export class NatsSubscriber<T = unknown> implements AsyncIterable<TopicEntry<T>>, AsyncDisposable {
  readonly #held: HeldConnection;
  readonly #kv: KV;
  readonly #codec: Codec<T>;
  readonly #what: string;
  readonly #capacity: number;
  readonly #inbox = new Inbox<TopicEntry<T>>();
  readonly #presenceSub: Subscription;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #onPublisherGone: 'error' | 'wait';
  readonly #heartbeatInterval: number;
  #closed = false;
  #closing: Promise<void> | undefined;
  #ended = false;
  #current: TopicEntry<T> | undefined;
  /** The newest revision taken from the bucket (delivered or current). */
  #seen: number;
  #watch: QueuedIterator<KvEntry> | undefined;
  #watchGeneration = 0;
  #fruitless = 0;
  #seenAtLastCheck = -1;
  #publisherHeard: number | undefined;
  #handedOut = 0;
  /** Revisions handed out by `next`, and the revision before the first one this subscriber was to hand out. */
  #handedCount = 0;
  #base = 0;
  #checking = false;
  #unwatchClosed: () => void = () => {};
  #status: AsyncIterator<Status> | undefined;

  private constructor(
    held: HeldConnection,
    kv: KV,
    codec: Codec<T>,
    bucket: string,
    what: string,
    settings: {
      capacity: number;
      peerCheckInterval: number;
      heartbeatInterval: number;
      onPublisherGone: 'error' | 'wait';
    },
    current: TopicEntry<T> | undefined,
    startAfter: number,
  ) {
    this.#held = held;
    this.#kv = kv;
    this.#codec = codec;
    this.#what = what;
    this.#capacity = settings.capacity;
    this.#onPublisherGone = settings.onPublisherGone;
    this.#heartbeatInterval = settings.heartbeatInterval;
    this.#current = current;
    this.#seen = startAfter;
    this.#base = startAfter;
    const nc = held.nc;
    this.#presenceSub = nc.subscribe(presenceSubject(bucket), {
      callback: (_error, msg) => {
        if (msg.string() === 'gone') this.#publisherGone(true);
        else this.#publisherHeard = Date.now();
      },
    });
    void this.#followStatus();
    this.#unwatchClosed = onConnectionClosed(nc, () =>
      this.#end(new PeerGoneError(`${what}: NATS server (the connection closed)`)),
    );
    const check = setInterval(() => void this.#checkWatch(), settings.peerCheckInterval);
    const presence = setInterval(() => {
      if (
        this.#publisherHeard !== undefined &&
        Date.now() - this.#publisherHeard > SILENT_INTERVALS * this.#heartbeatInterval
      ) {
        this.#publisherGone(false);
      }
    }, settings.heartbeatInterval);
    check.unref();
    presence.unref();
    this.#timers.push(check, presence);
  }

  /**
   * Opens the topic's bucket (`NotFoundError` when no publisher ever created it) and starts watching it.
   * `{ signal, timeout }` bound the connect and the first read.
   */
  static async open<T = unknown>(topic: string, options: NatsSubscriberOptions<T> = {}): Promise<NatsSubscriber<T>> {
    const bucket = bucketName(topic, options.bucket);
    checkConnectOptions(options);
    const codec = topicCodec(options.codec);
    const from = options.from ?? 'latest';
    if (
      !(
        from === 'latest' ||
        from === 'new' ||
        (typeof from === 'object' && from !== null && Number.isInteger(from.revision) && from.revision >= 1)
      )
    ) {
      throw new TypeError(`from must be 'latest', 'new' or { revision: n } with n >= 1, got ${JSON.stringify(from)}`);
    }
    const onPublisherGone = checkEnum('onPublisherGone', options.onPublisherGone, ['error', 'wait'] as const, 'error');
    const capacity = checkInteger('capacity', options.capacity, { min: 1, default: 1024 });
    const peerCheckInterval = intervalOption('peerCheckInterval', options.peerCheckInterval, 2000);
    const heartbeatInterval = intervalOption('heartbeatInterval', options.heartbeatInterval, 1000);
    const what = `topic "${topic}" subscriber`;
    const held = await holdConnection(what, options);
    try {
      const kv = await openBucket(held.nc, bucket);
      if (kv === undefined) throw new NotFoundError(`topic "${topic}" (KV bucket "${bucket}")`);
      const latest = await kv.get(TOPIC_KEY);
      const current =
        latest?.operation === 'PUT'
          ? { revision: latest.revision, value: codec.decode(latest.value, false) }
          : undefined;
      const latestRevision = latest?.revision ?? 0;
      let startAfter: number;
      const initial: TopicEntry<T>[] = [];
      if (from === 'latest') {
        startAfter = latestRevision;
        if (current) initial.push(current);
      } else if (from === 'new') {
        startAfter = latestRevision;
      } else {
        startAfter = from.revision - 1;
        if (from.revision <= latestRevision) {
          const first = await kv.get(TOPIC_KEY, { revision: from.revision });
          if (first === null) {
            const oldest = (await kv.status()).streamInfo.state.first_seq;
            throw new RevisionNotFoundError(`topic "${topic}"`, from.revision, oldest, latestRevision);
          }
        }
      }
      const sub = new NatsSubscriber<T>(
        held,
        kv,
        codec,
        bucket,
        what,
        { capacity, peerCheckInterval, heartbeatInterval, onPublisherGone },
        current,
        startAfter,
      );
      for (const entry of initial) {
        sub.#inbox.push(entry);
        sub.#base = Math.min(sub.#base, entry.revision - 1);
      }
      await sub.#startWatch();
      return sub;
    } catch (error) {
      await releaseConnection(held);
      throw isIpcError(error) ? error : fromNatsError(`${what}: connect`, error);
    }
  }

  /** True once `close` or `destroy` was called, or the subscription ended and every revision it had was read. */
  get closed(): boolean {
    return this.#closed || (this.#ended && this.#inbox.size === 0);
  }

  /** Revisions skipped because this subscriber fell more than `capacity` behind. */
  get skipped(): number {
    // Every revision after the base and up to the newest seen was handed out, waits, or was skipped.
    return this.#seen - this.#base - this.#handedCount - this.#inbox.size;
  }

  /** The newest revision known (read or not), or undefined when the topic has none yet. */
  current(): TopicEntry<T> | undefined {
    return this.#current;
  }

  /** The next revision in order, waiting for one. Rejects with `ClosedError` after close, `PeerGoneError` when the publisher or NATS is gone. */
  async next(options?: WaitOptions): Promise<TopicEntry<T>> {
    if (this.#closed) throw new ClosedError(this.#what);
    const entry = await this.#inbox.receive(`${this.#what} next`, options);
    this.#handedOut = entry.revision;
    this.#handedCount++;
    return entry;
  }

  /** True while the topic's publisher is heard (its presence messages arrive); false before, and once it left. */
  get publisherAlive(): boolean {
    return this.#publisherHeard !== undefined && !this.#ended;
  }

  /** The last revision handed out by `next` or the loop (0 before the first). */
  get revision(): number {
    return this.#handedOut;
  }

  [Symbol.asyncIterator](): AsyncIterator<TopicEntry<T>> {
    return iterate(() => this.next());
  }

  /** Stops watching; a waiting `next` rejects with `ClosedError`. Idempotent. */
  close(): Promise<void> {
    this.destroy();
    return this.#closing!;
  }

  /** The same as `close` (a subscriber sends nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    this.#inbox.fail(new ClosedError(this.#what));
    this.#closing = releaseConnection(this.#held);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #stop(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#watchGeneration++;
    this.#watch?.stop();
    this.#watch = undefined;
    this.#presenceSub.unsubscribe();
    void this.#status?.return?.();
    this.#unwatchClosed();
  }

  #end(error: IpcError): void {
    if (this.#closed || this.#ended) return;
    this.#ended = true;
    this.#stop();
    this.#inbox.end(error);
  }

  /** The publisher closed the topic (`closed`) or fell silent: as `@ipcx/pubsub` does, unless `'wait'`. */
  #publisherGone(closed: boolean): void {
    if (this.#onPublisherGone === 'wait') {
      this.#publisherHeard = undefined;
      return;
    }
    this.#end(
      closed
        ? new ClosedError(`topic (its publisher closed it) for the ${this.#what}`)
        : new PeerGoneError(
            `${this.#what}: the topic's publisher (not heard from in ${SILENT_INTERVALS} intervals of ${this.#heartbeatInterval} ms)`,
          ),
    );
  }

  /** (Re)makes the KV watch from the revision after the last one seen; the old watch, if any, is dropped. */
  async #startWatch(): Promise<void> {
    const generation = ++this.#watchGeneration;
    this.#watch?.stop();
    this.#watch = undefined;
    const watch = await this.#kv.watch({ key: TOPIC_KEY, resumeFromRevision: this.#seen + 1, ignoreDeletes: true });
    if (generation !== this.#watchGeneration || this.#closed || this.#ended) {
      watch.stop();
      return;
    }
    this.#watch = watch;
    void (async () => {
      try {
        for await (const entry of watch) {
          if (generation !== this.#watchGeneration) return;
          this.#deliver(entry);
        }
      } catch {
        // Remade below.
      }
      // The watch ended without being replaced: make it again (the checker does if this fails).
      if (generation === this.#watchGeneration && !this.#closed && !this.#ended) await this.#rewatch();
    })();
  }

  async #rewatch(): Promise<void> {
    if (this.#closed || this.#ended || this.#held.nc.isClosed()) return;
    try {
      await this.#startWatch();
      this.#fruitless = 0;
    } catch (error) {
      // The server is not back yet: the next check or reconnect tries again, a bounded number of times.
      if (++this.#fruitless >= MAX_FRUITLESS_WATCHES) {
        this.#end(
          fromNatsError(
            `${this.#what}: NATS (the KV watch could not be made ${MAX_FRUITLESS_WATCHES} times in a row)`,
            error,
          ),
        );
      }
    }
  }

  /** Hands out one revision; false when it is not one to hand out (not a value, or seen already). */
  #deliver(entry: KvEntry): boolean {
    if (entry.operation !== 'PUT' || entry.revision <= this.#seen) return false;
    this.#seen = entry.revision;
    let value: T;
    try {
      value = this.#codec.decode(entry.value, false);
    } catch (error) {
      this.#end(isIpcError(error) ? error : fromNatsError(`${this.#what}: decode revision ${entry.revision}`, error));
      return false;
    }
    const item = { revision: entry.revision, value };
    this.#current = item;
    if (this.#inbox.size >= this.#capacity) {
      this.#inbox.shift();
    }
    this.#inbox.push(item);
    return true;
  }

  /**
   * A watch that delivers nothing while the bucket moved on is dead (a known failure after a server restart, or a
   * consumer the server dropped): the revisions it missed are read straight from the bucket's history (those the
   * history no longer holds count as skipped), then the watch is made again. So a subscriber recovers within two
   * check intervals of a new revision, whatever state its watch is in.
   */
  async #checkWatch(): Promise<void> {
    if (this.#closed || this.#ended || this.#held.nc.isClosed() || this.#checking) return;
    this.#checking = true;
    try {
      const seen = this.#seen;
      let latest: number;
      try {
        latest = (await this.#kv.get(TOPIC_KEY))?.revision ?? 0;
      } catch {
        return; // NATS is unreachable now; the reconnect remakes the watch
      }
      const stalled = latest > seen && this.#seenAtLastCheck === seen;
      this.#seenAtLastCheck = seen;
      if (!stalled || this.#seen !== seen) return;
      await this.#readMissed(latest);
      await this.#rewatch();
    } finally {
      this.#checking = false;
    }
  }

  /** Reads revisions after the last one seen up to `latest` from the bucket, in order, and delivers them. */
  async #readMissed(latest: number): Promise<void> {
    // More than capacity behind: only the newest capacity matter (the rest would be skipped anyway).
    const from = Math.max(this.#seen + 1, latest - this.#capacity + 1);
    for (let revision = from; revision <= latest && !this.#closed && !this.#ended; revision++) {
      if (revision <= this.#seen) continue; // the watch came back meanwhile
      let entry: KvEntry | null;
      try {
        entry = await this.#kv.get(TOPIC_KEY, { revision });
      } catch {
        return; // unreachable again: the next check goes on
      }
      if (entry !== null) this.#deliver(entry); // null: no longer in the history (counted as skipped)
    }
    if (this.#seen < latest) this.#seen = latest;
  }

  async #followStatus(): Promise<void> {
    const statuses = this.#held.nc.status()[Symbol.asyncIterator]();
    this.#status = statuses;
    for (;;) {
      const { done, value } = await statuses.next();
      if (done || this.#closed || this.#ended) return;
      if (value.type === 'reconnect') await this.#rewatch();
    }
  }
}
