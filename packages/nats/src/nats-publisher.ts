import { ClosedError, TooLargeError, isIpcError, type Codec, type WaitOptions } from '@ipcx/core';
import { checkInteger, deadline, intervalOption } from '@ipcx/core/transport';
import { Kvm, type KV } from '@nats-io/kv';
import {
  checkConnectOptions,
  holdConnection,
  releaseConnection,
  type HeldConnection,
  type NatsConnectOptions,
} from './internal/connection.js';
import { fromNatsError } from './internal/errors.js';
import {
  TOPIC_KEY,
  bucketName,
  encodeValue,
  fromKvWriteError,
  isWrongLastSequence,
  openBucket,
  presenceSubject,
  topicCodec,
} from './internal/topic-common.js';

/** Options of `NatsPublisher.create`. */
export interface NatsPublisherOptions<T> extends NatsConnectOptions {
  /** Largest encoded value. Default 1 MiB (and at most the server's `max_payload`). */
  maxValueBytes?: number | undefined;
  /** Revisions the bucket keeps for `from: { revision }` (NATS KV keeps 1 to 64). Default 16. */
  history?: number | undefined;
  /** Default `msgpackCodec`; subscribers must use the same. */
  codec?: Codec<T> | undefined;
  /** The KV bucket. Default `ipcx-<topic>`. */
  bucket?: string | undefined;
  /** How often the publisher tells subscribers it lives, ms (see `onPublisherGone`). Default 1000. */
  heartbeatInterval?: number | undefined;
}

/** Options of `publish`. */
export interface PublishOptions extends WaitOptions {
  /**
   * `signal` and `timeout` end the wait for the server's acknowledgement (`AbortedError`, `TimeoutError`); a write
   * already sent may still be stored, as its revision will show.
   *
   * Compare-and-set: publish only if the topic is at this revision now (0: only if nothing was published);
   * otherwise `RevisionMismatchError`.
   */
  expectedRevision?: number | undefined;
}

/** Options of `update`. */
export interface UpdateOptions extends WaitOptions {
  /** How many times `update` retries after losing a compare-and-set to another writer. Default 100. */
  maxAttempts?: number | undefined;
}

const DEFAULT_HISTORY = 16;
const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

/**
 * The writing side of a topic that spans machines: its state lives in a NATS KV bucket of its own
 * (`ipcx-<topic>`, one key), so the topic's revisions are the bucket's sequence: 1, 2, 3, … with no gap, the
 * same numbering as `@ipcx/pubsub`. `publish` is a KV put (with `expectedRevision`, a KV update: compare-and-set);
 * `update` reads, calls the function and compare-and-sets, retrying when another writer won. The value outlives
 * the publisher (it is in JetStream); subscribers learn that the publisher left through `heartbeatInterval`.
 *
 * @example
 * ```ts
 * await using pub = await NatsPublisher.create<{ price: number }>('prices', { servers: 'nats://10.0.0.5:4222' });
 * const revision = await pub.publish({ price: 42 });
 * await pub.update((current) => ({ price: (current?.price ?? 0) + 1 }));
 * ```
 */
export class NatsPublisher<T = unknown> implements AsyncDisposable {
  readonly #held: HeldConnection;
  readonly #kv: KV;
  readonly #codec: Codec<T>;
  readonly #maxValueBytes: number;
  readonly #presence: string;
  readonly #timer: NodeJS.Timeout;
  readonly #what: string;
  #closed = false;
  #closing: Promise<void> | undefined;
  #last: { revision: number; value: T } | undefined;

  private constructor(
    held: HeldConnection,
    kv: KV,
    codec: Codec<T>,
    maxValueBytes: number,
    bucket: string,
    interval: number,
    what: string,
  ) {
    this.#held = held;
    this.#kv = kv;
    this.#codec = codec;
    this.#maxValueBytes = maxValueBytes;
    this.#presence = presenceSubject(bucket);
    this.#what = what;
    this.#timer = setInterval(() => this.#say('alive'), interval);
    this.#timer.unref();
    this.#say('alive');
  }

  /** Creates the topic's bucket (or opens it, when it exists) and starts publishing to it. */
  static async create<T = unknown>(topic: string, options: NatsPublisherOptions<T> = {}): Promise<NatsPublisher<T>> {
    const bucket = bucketName(topic, options.bucket);
    checkConnectOptions(options);
    const codec = topicCodec(options.codec);
    const history = checkInteger('history', options.history, { min: 1, max: 64, default: DEFAULT_HISTORY }); // NATS KV's bound
    const maxValueBytes = checkInteger('maxValueBytes', options.maxValueBytes, {
      min: 1,
      default: DEFAULT_MAX_VALUE_BYTES,
    });
    const interval = intervalOption('heartbeatInterval', options.heartbeatInterval, 1000);
    const what = `topic "${topic}" publisher`;
    const held = await holdConnection(what, options);
    try {
      const max = Math.min(maxValueBytes, held.nc.info?.max_payload ?? Infinity);
      const kv = await new Kvm(held.nc).create(bucket, {
        history,
        maxValueSize: max,
        ...(options.timeout !== undefined ? { timeout: Math.max(1, Math.ceil(options.timeout)) } : {}),
      });
      const latest = await kv.get(TOPIC_KEY);
      const publisher = new NatsPublisher<T>(held, kv, codec, max, bucket, interval, what);
      if (latest?.operation === 'PUT')
        publisher.#last = { revision: latest.revision, value: codec.decode(latest.value, false) };
      return publisher;
    } catch (error) {
      await releaseConnection(held);
      throw fromNatsError(`${what}: create the KV bucket "${bucket}"`, error);
    }
  }

  /**
   * Removes the topic from NATS (its KV bucket, with every revision) and resolves to true, or to false when there
   * was none. Publishers and subscribers still attached end as when NATS loses the bucket.
   */
  static async unlink(
    topic: string,
    options: NatsConnectOptions & { bucket?: string | undefined } = {},
  ): Promise<boolean> {
    const bucket = bucketName(topic, options.bucket);
    checkConnectOptions(options);
    const what = `topic "${topic}" unlink`;
    const held = await holdConnection(what, options);
    try {
      const kv = await openBucket(held.nc, bucket);
      return kv === undefined ? false : await kv.destroy();
    } catch (error) {
      throw fromNatsError(`${what}: the KV bucket "${bucket}"`, error);
    } finally {
      await releaseConnection(held);
    }
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The topic's newest revision this publisher knows (0 when none). */
  get revision(): number {
    return this.#last?.revision ?? 0;
  }

  /** The topic's newest revision this publisher knows: what it published last, or what the topic held at create (undefined when empty). */
  current(): { revision: number; value: T } | undefined {
    return this.#last;
  }

  /**
   * Publishes `value` as the topic's next revision and resolves to that revision once JetStream stored it.
   * With `expectedRevision`, only if the topic is at that revision now (`RevisionMismatchError` otherwise).
   */
  async publish(value: T, options: PublishOptions = {}): Promise<number> {
    if (this.#closed) throw new ClosedError(this.#what);
    const expected = options.expectedRevision;
    if (expected !== undefined) checkInteger('expectedRevision', expected, { min: 0 });
    const bytes = this.#encode(value);
    const revision = await this.#write(bytes, expected, options);
    this.#remember(revision, value);
    return revision;
  }

  /**
   * Reads the topic, calls `fn(current, revision)` (undefined and 0 when nothing was published) and publishes what
   * it returns as a compare-and-set; when another writer won, reads again and calls `fn` again (at most
   * `maxAttempts` times, then `RevisionMismatchError`). Resolves to the revision written.
   */
  async update(
    fn: (current: T | undefined, revision: number) => T | Promise<T>,
    options: UpdateOptions = {},
  ): Promise<number> {
    if (this.#closed) throw new ClosedError(this.#what);
    const attempts = checkInteger('maxAttempts', options.maxAttempts, { min: 1, default: 100 });
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      let entry;
      try {
        entry = await this.#kv.get(TOPIC_KEY);
      } catch (error) {
        throw fromNatsError(`${this.#what}: read for update`, error);
      }
      const revision = entry?.operation === 'PUT' ? entry.revision : 0;
      const current = entry?.operation === 'PUT' ? this.#codec.decode(entry.value, false) : undefined;
      const next = await fn(current, revision);
      if (this.#closed) throw new ClosedError(this.#what);
      const bytes = this.#encode(next);
      try {
        const written = await this.#write(bytes, revision, options);
        this.#remember(written, next);
        return written;
      } catch (error) {
        if (!(isIpcError(error) && error.code === 'IPCX_ERR_REVISION')) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  /** Stops publishing and tells subscribers the publisher left; the topic's value stays in the bucket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      clearInterval(this.#timer);
      this.#say('gone');
      if (this.#held.owned) await this.#held.nc.flush().catch(() => {});
      await releaseConnection(this.#held);
    })();
    return this.#closing;
  }

  /**
   * Stops publishing now, without telling subscribers (they notice the silence, as when a publisher dies); writes
   * already sent may still be stored. Idempotent.
   */
  destroy(_error?: Error): void {
    if (this.#closing !== undefined) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#closing = releaseConnection(this.#held);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #encode(value: T): Uint8Array {
    const bytes = encodeValue(this.#codec, value);
    if (bytes.length > this.#maxValueBytes) throw new TooLargeError('topic value', bytes.length, this.#maxValueBytes);
    return bytes;
  }

  #remember(revision: number, value: T): void {
    if (this.#last === undefined || revision > this.#last.revision) this.#last = { revision, value };
  }

  async #write(bytes: Uint8Array, expected: number | undefined, options: WaitOptions): Promise<number> {
    const what = `${this.#what}: publish`;
    const limit = deadline(what, options);
    if (limit?.signal.aborted) {
      limit.release();
      throw limit.error();
    }
    const timeout = options.timeout === undefined ? undefined : Math.max(1, Math.ceil(options.timeout));
    const writing = (async () => {
      try {
        if (expected === undefined)
          return await this.#kv.put(TOPIC_KEY, bytes, timeout === undefined ? {} : { timeout });
        if (expected === 0) return await this.#kv.create(TOPIC_KEY, bytes);
        return await this.#kv.update(TOPIC_KEY, bytes, expected, timeout);
      } catch (error) {
        const actual = isWrongLastSequence(error)
          ? ((await this.#kv.get(TOPIC_KEY).catch(() => null))?.revision ?? 0)
          : 0;
        throw fromKvWriteError(what, error, expected, actual);
      }
    })();
    // The caller stops waiting at the signal or the timeout; a write already sent may still be stored.
    if (limit === undefined) return writing;
    try {
      return await limit.race(writing);
    } finally {
      limit.release();
    }
  }

  #say(state: 'alive' | 'gone'): void {
    try {
      if (!this.#held.nc.isClosed()) this.#held.nc.publish(this.#presence, state);
    } catch {
      // A closing connection: subscribers notice the silence.
    }
  }
}
