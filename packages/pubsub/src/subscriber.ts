import { watch, type FSWatcher } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  ClosedError,
  NotFoundError,
  PeerGoneError,
  RevisionNotFoundError,
  isIpcError,
  msgpackCodec,
  type Codec,
  type WaitOptions,
} from '@ipcx/core';
import { futex } from '@ipcx/native';
import { UnixSocket, type PeerCredentials, type StreamChannel } from '@ipcx/sockets';
import { Word } from './layout.js';
import { TopicSegment } from './internal/segment.js';
import type { PublisherMessage, SubscriberMessage } from './internal/protocol.js';
import { checkTopicName, runtimeDir, socketPath } from './names.js';
import {
  checkCodec,
  checkEnum,
  checkWaitOptions,
  deadline,
  linkSignals,
  fromSystemError,
  spinOption,
  type Deadline,
} from '@ipcx/core/transport';
import type { Revision } from './publisher.js';

/** Options of `Subscriber.open`. */
export interface SubscriberOptions<T = unknown> extends WaitOptions {
  /**
   * Where iteration starts: 'latest' (default) yields the current revision at once (if there is one), then each
   * change; 'new' only revisions published after connecting; `{ revision: n }` replays every kept revision from
   * n up to the latest, then goes on like 'latest' (`RevisionNotFoundError` when n is no longer kept).
   */
  from?: 'latest' | 'new' | { revision: number };
  /**
   * When the publisher dies: 'error' (default) ends iteration with `PeerGoneError` after the latest revision;
   * 'wait' waits for a new publisher of the topic and goes on with its revisions. Also what `open` does when
   * the topic has no live publisher: `NotFoundError`, or wait (bounded by `timeout` / `signal`).
   */
  onPublisherGone?: 'error' | 'wait';
  /** Decodes values (default `msgpackCodec`); the publisher's codec. */
  codec?: Codec<T>;
  /** The runtime directory of socket and lock files; the publisher's. */
  dir?: string;
  /** Checks the publisher's credentials (pid, uid, gid) before anything is read from it. */
  authorize?: (peer: PeerCredentials) => boolean | Promise<boolean>;
  /**
   * How long `next` may poll shared memory before it sleeps, in µs, while the topic is busy (revisions have been
   * coming faster than that) and the publisher and its subscribers number fewer than the cores. Default 50; 0
   * never spins. A topic that changes less often never spins.
   */
  spinMicroseconds?: number;
}

type Connection = StreamChannel<PublisherMessage | SubscriberMessage, PeerCredentials>;

const CORES = availableParallelism();

/** How often a subscriber waiting for a publisher looks for its socket when no file-system event came. */
const LOOK_AGAIN_MS = 250;

/**
 * A reader of a topic in another process. Values are read straight from shared memory, never torn, never older
 * than what this subscriber saw before; the publisher only nudges it (one small message) when it sleeps.
 * Updates coalesce: a subscriber that is slower than the publisher gets the latest revision, not a backlog.
 *
 * @example
 * ```ts
 * const sub = await Subscriber.open<{ level: string }>('log-config', { onPublisherGone: 'wait' });
 * console.log(sub.current()?.value);                // the latest, now, without waiting
 * for await (const { revision, value } of sub) applyConfig(value);
 * ```
 */
export class Subscriber<T = unknown> implements AsyncIterable<Revision<T>>, AsyncDisposable {
  readonly #codec: Codec<T>;
  readonly #path: string;
  readonly #dir: string;
  readonly #wait: boolean;
  readonly #authorize: SubscriberOptions<T>['authorize'];
  readonly #spinMs: number;
  /** When (performance.now) `next` last handed out a revision, and the publisher's estimated ms per revision. */
  #handedAt = 0;
  #gapMs = Number.POSITIVE_INFINITY;
  #segment: TopicSegment | undefined;
  #connection: Connection | undefined;
  #slot = 0;
  /** The last revision handed out by `next`. */
  #last = 0;
  /** Replay every revision up to this one, one by one. */
  #replayUntil = 0;
  /** Set when the connection ended: 'closed' when the publisher said goodbye, 'died' otherwise. */
  #gone: 'closed' | 'died' | undefined;
  #closed = false;
  #wakes = 0;
  readonly #sleepers = new Set<() => void>();
  #reconnecting: Promise<void> | undefined;
  readonly #stop = new AbortController();
  /** Cancels the futex waits of `#sleep`; replaced once aborted. */
  #cancel = new AbortController();
  #watcher: FSWatcher | undefined;

  private constructor(
    /** The topic's name. */
    readonly topic: string,
    options: {
      codec: Codec<T>;
      dir: string;
      wait: boolean;
      authorize: SubscriberOptions<T>['authorize'];
      spinMicroseconds: number;
    },
  ) {
    this.#spinMs = options.spinMicroseconds / 1000;
    this.#codec = options.codec;
    this.#dir = options.dir;
    this.#path = socketPath(options.dir, topic);
    this.#wait = options.wait;
    this.#authorize = options.authorize;
  }

  /**
   * Opens the existing topic `topic`: connects to its publisher and maps its state. Resolves once the current snapshot is readable (a
   * late joiner does not wait for the next change).
   * @throws NotFoundError when the topic has no live publisher (`onPublisherGone: 'error'`); RevisionNotFoundError
   * when `from: { revision }` is no longer kept; TimeoutError / AbortedError.
   */
  static async open<T = unknown>(topic: string, options: SubscriberOptions<T> = {}): Promise<Subscriber<T>> {
    checkTopicName(topic);
    checkWaitOptions(options);
    const codec = checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
    const gone = checkEnum('onPublisherGone', options.onPublisherGone, ['error', 'wait'] as const, 'error');
    const from = options.from ?? 'latest';
    if (from !== 'latest' && from !== 'new') {
      const n = (from as { revision?: unknown } | null)?.revision;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1)
        throw new TypeError(
          `from must be 'latest', 'new' or { revision: n } with an integer n >= 1, got ${String(from)}`,
        );
    }
    if (options.authorize !== undefined && typeof options.authorize !== 'function')
      throw new TypeError('authorize must be a function');
    const spinMicroseconds = spinOption(options.spinMicroseconds, 50);
    const dir = runtimeDir(options.dir);
    const subscriber = new Subscriber<T>(topic, {
      codec,
      dir,
      wait: gone === 'wait',
      authorize: options.authorize,
      spinMicroseconds,
    });
    try {
      const limit = deadline(`subscribe to topic "${topic}"`, options);
      try {
        await subscriber.#attach(limit);
      } finally {
        limit?.release();
      }
      const segment = subscriber.#segment!;
      if (from === 'new') {
        subscriber.#last = segment.head;
      } else if (from !== 'latest') {
        const n = from.revision;
        const head = segment.head;
        if (n <= head && n < segment.oldest)
          throw new RevisionNotFoundError(`topic "${topic}"`, n, segment.oldest, head);
        subscriber.#last = n - 1;
        subscriber.#replayUntil = head;
      }
      return subscriber;
    } catch (error) {
      await subscriber.close();
      throw error;
    }
  }

  /** The last revision `next` (or the iteration) handed out; 0 before the first. */
  get revision(): number {
    return this.#last;
  }

  /** The publisher's credentials as the kernel took them when it listened (undefined while reconnecting). */
  get publisher(): PeerCredentials | undefined {
    return this.#connection?.peer;
  }

  /**
   * True once `close` or `destroy` was called, or the topic ended: its publisher closed it and this subscriber
   * has had its latest revision (`next` would fail at once).
   */
  get closed(): boolean {
    if (this.#closed) return true;
    if (this.#gone !== 'closed' || this.#segment === undefined) return false;
    const segment = this.#follow();
    return segment.head <= this.#last && this.#replayUntil <= this.#last;
  }

  /** The latest revision and its value, now, without waiting (undefined before the first publish). */
  current(): Revision<T> | undefined {
    if (this.#closed) throw new ClosedError(`subscriber of topic "${this.topic}"`);
    const segment = this.#follow();
    const latest = segment.readLatest();
    return latest === undefined ? undefined : { revision: latest.revision, value: this.#codec.decode(latest.bytes) };
  }

  /**
   * The next revision after the last one handed out: at once when there is one (the latest, or the next one while
   * replaying), else when the publisher publishes.
   * @throws PeerGoneError when the publisher died (`onPublisherGone: 'error'`), ClosedError when it closed the
   * topic or this subscriber was closed, RevisionNotFoundError when a replayed revision was overwritten first,
   * TimeoutError / AbortedError.
   */
  next(options?: WaitOptions): Promise<Revision<T>> {
    if (options === undefined) return this.#next(undefined); // the loop's path: no deadline, no extra await
    let limit: Deadline | undefined;
    try {
      limit = deadline(`next revision of topic "${this.topic}"`, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (limit === undefined) return this.#next(undefined);
    const held = limit;
    return this.#next(held).finally(() => held.release());
  }

  async #next(limit: Deadline | undefined): Promise<Revision<T>> {
    for (;;) {
      if (this.#closed) throw new ClosedError(`subscriber of topic "${this.topic}"`);
      const wakes = this.#wakes;
      const got = this.#poll();
      if (got !== undefined) return got;
      if (this.#gone === 'closed') throw new ClosedError(`topic "${this.topic}" (its publisher closed it)`);
      if (this.#gone === 'died') {
        if (!this.#wait) throw new PeerGoneError(`publisher of topic "${this.topic}"`);
        if (this.#reconnecting === undefined) {
          this.#reconnecting = this.#attach(undefined).finally(() => (this.#reconnecting = undefined));
          this.#reconnecting.catch(() => undefined); // each waiting `next` sees the error through the race
        }
        await (limit?.race(this.#reconnecting) ?? this.#reconnecting);
        continue;
      }
      const segment = this.#segment!;
      // Spin only while the publisher and its subscribers fit the cores: spinning readers would take the
      // publisher's core from it.
      if (this.#gapMs < this.#spinMs && segment.subscribers < CORES && this.#spin(segment)) continue;
      // Park (see layout.ts): note the wake sequence, say we sleep, look once more, sleep only if nothing came.
      const seq = segment.wakeSeq;
      Atomics.store(segment.parked, this.#slot, 1);
      if (segment.nextGeneration !== 0 || segment.head > this.#last || this.#replayUntil > this.#last) {
        Atomics.store(segment.parked, this.#slot, 0);
        continue;
      }
      await this.#sleep(wakes, limit, segment, seq);
    }
  }

  /**
   * Polls HEAD for up to spinMicroseconds; true when something arrived. Waking a sleeping process through its
   * socket costs tens to hundreds of µs; a publisher that publishes flat out writes again well within the spin.
   */
  #spin(segment: TopicSegment): boolean {
    const end = performance.now() + this.#spinMs;
    do {
      if (segment.head > this.#last || segment.nextGeneration !== 0) return true;
    } while (performance.now() < end);
    return false;
  }

  /** Yields `{ revision, value }` as `next` does; ends quietly when the topic or this subscriber is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Revision<T>> {
    for (;;) {
      let got: Revision<T>;
      try {
        got = await this.next();
      } catch (error) {
        if (isIpcError(error) && error.code === 'IPCX_ERR_CLOSED') return;
        throw error;
      }
      yield got;
    }
  }

  /** Disconnects; pending `next` calls reject with `ClosedError`, iteration ends. Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (a subscriber holds nothing to flush): disconnects now. Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#watcher?.close();
    this.#wake();
    const connection = this.#connection;
    this.#connection = undefined;
    connection?.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** What `next` hands out now, if anything. */
  #poll(): Revision<T> | undefined {
    if (this.#segment === undefined) return undefined;
    const segment = this.#follow();
    if (this.#replayUntil > this.#last) {
      const want = this.#last + 1;
      const got = segment.read(want);
      if (typeof got === 'object') {
        this.#last = want;
        return { revision: want, value: this.#codec.decode(got.bytes) };
      }
      if (got === 'gone' || want < segment.oldest) {
        this.#replayUntil = 0;
        throw new RevisionNotFoundError(`topic "${this.topic}" replay`, want, segment.oldest, segment.head);
      }
      // Not written in this generation's ring (a takeover kept less): go on from the latest.
      this.#replayUntil = 0;
    }
    if (segment.head <= this.#last) return undefined;
    const latest = segment.readLatest();
    if (latest === undefined || latest.revision <= this.#last) return undefined;
    const now = performance.now();
    if (this.#last > 0) this.#gapMs = (now - this.#handedAt) / (latest.revision - this.#last);
    this.#handedAt = now;
    this.#last = latest.revision;
    return { revision: latest.revision, value: this.#codec.decode(latest.bytes) };
  }

  /** The current generation's segment, after following any newer generation. */
  #follow(): TopicSegment {
    let segment = this.#segment!;
    for (let next = segment.nextGeneration; next !== 0; next = segment.nextGeneration) {
      try {
        segment = TopicSegment.open(this.topic, next);
      } catch {
        // Already replaced and unlinked: take the newest there is.
        const newest = TopicSegment.openLatest(this.topic);
        if (newest === undefined || newest.generation <= segment.generation) break;
        segment = newest;
      }
    }
    this.#segment = segment;
    return segment;
  }

  #wake(): void {
    this.#wakes++;
    for (const sleeper of [...this.#sleepers]) sleeper();
  }

  /**
   * Sleeps until the publisher rings the segment's futex (a new revision), the socket says something (a new
   * generation, goodbye, the publisher's death), `close`, or the limit. The futex wait goes through
   * `futex.waitAsync` (the event loop's io_uring, or a waiter thread); whichever comes first cancels the other.
   */
  #sleep(wakes: number, limit: Deadline | undefined, segment: TopicSegment, seq: number): Promise<void> {
    if (this.#wakes !== wakes) return Promise.resolve();
    if (limit?.signal.aborted) return Promise.reject(limit.error());
    // Shared by the sleeps until one cancels (a new AbortSignal with a listener costs about 12 µs on Node 20, as
    // much as the rest of a wake-up). Cancelling ends every sleep on it; the others return as woken, and their
    // callers look again.
    if (this.#cancel.signal.aborted) this.#cancel = new AbortController();
    const cancel = this.#cancel;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (woken: boolean, error?: unknown): void => {
        if (settled) return;
        settled = true;
        this.#sleepers.delete(sleeper);
        limit?.signal.removeEventListener('abort', onAbort);
        // A futex wait that returned needs no cancelling (that would cost a trip to its thread).
        if (!woken) cancel.abort();
        if (error === undefined) resolve();
        else reject(error);
      };
      const onAbort = (): void => settle(false, limit!.error());
      const sleeper = (): void => settle(false);
      this.#sleepers.add(sleeper);
      limit?.signal.addEventListener('abort', onAbort, { once: true });
      futex.waitAsync(segment.words, Word.WakeSeq, seq, undefined, { signal: cancel.signal }).then(
        () => settle(true),
        (error: unknown) => {
          // Cancelled: by this sleep (settled already) or by another one (look again). Anything else is a wait
          // the kernel refused: looking again would only fail again at once, in a loop, so `next` fails with it.
          if (cancel.signal.aborted) settle(true);
          else settle(false, fromSystemError(`futex wait of topic "${this.topic}"`, error));
        },
      );
    });
  }

  /** Connects (again): waits for the hello, maps the generation it names. Loops while waiting for a publisher. */
  async #attach(limit: Deadline | undefined): Promise<void> {
    const linked = limit === undefined ? undefined : linkSignals(limit.signal, this.#stop.signal);
    try {
      await this.#attachUntil(limit, linked?.signal ?? this.#stop.signal);
    } finally {
      linked?.release();
    }
  }

  /** `#attach`'s loop; `signal` ends it (the caller's deadline, or this subscriber's close). */
  async #attachUntil(limit: Deadline | undefined, signal: AbortSignal): Promise<void> {
    for (;;) {
      if (this.#closed) throw new ClosedError(`subscriber of topic "${this.topic}"`);
      if (limit?.signal.aborted) throw limit.error();
      let connection: Connection;
      try {
        connection = await UnixSocket.connect<PublisherMessage | SubscriberMessage>(this.#path, {
          signal,
          authorize: this.#authorize,
        });
      } catch (error) {
        if (this.#closed) throw new ClosedError(`subscriber of topic "${this.topic}"`);
        if (limit?.signal.aborted) throw limit.error();
        if (!isIpcError(error)) throw error;
        // A publisher SIGKILLed just now can still have its listening socket when we connect, and reset the
        // connection as it goes (PeerGoneError): for a subscriber that waits, that is no publisher yet either.
        const absent = error.code === 'IPCX_ERR_NOT_FOUND' || (this.#wait && error.code === 'IPCX_ERR_PEER_GONE');
        if (!absent) throw error;
        if (!this.#wait) throw new NotFoundError(`topic "${this.topic}" (no live publisher)`, { cause: error });
        await this.#publisherAppears(signal);
        continue;
      }
      let hello: PublisherMessage | SubscriberMessage;
      try {
        hello = await connection.receive({ signal });
        if (hello.t !== 'hello') throw new NotFoundError(`topic "${this.topic}" (its socket does not speak pubsub)`);
        const segment = TopicSegment.open(this.topic, hello.generation);
        this.#segment = segment;
        this.#slot = hello.slot;
      } catch (error) {
        connection.destroy();
        if (this.#closed) throw new ClosedError(`subscriber of topic "${this.topic}"`);
        if (limit?.signal.aborted) throw limit.error();
        if (this.#wait && isIpcError(error)) {
          // The publisher died while we joined: wait for the next one.
          await this.#publisherAppears(signal);
          continue;
        }
        throw error;
      }
      this.#connection = connection;
      this.#gone = undefined;
      void this.#listen(connection);
      this.#wake();
      return;
    }
  }

  /** Reads the publisher's messages (a new generation, goodbye); any of them may be what a sleeping `next` waits for. */
  async #listen(connection: Connection): Promise<void> {
    let bye = false;
    try {
      for (;;) {
        const message = await connection.receive();
        if (message.t === 'bye') bye = true;
        this.#wake();
      }
    } catch {
      // The connection ended: the publisher closed the topic (after 'bye') or died (the kernel closed its socket).
    }
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    connection.destroy();
    this.#gone = bye ? 'closed' : 'died';
    this.#wake();
  }

  /** Resolves when the topic's socket file may have appeared (a file-system event, or LOOK_AGAIN_MS passed). */
  #publisherAppears(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let watcher: FSWatcher | undefined;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        watcher?.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
        resolve();
      };
      const timer = setTimeout(done, LOOK_AGAIN_MS);
      signal.addEventListener('abort', done, { once: true });
      try {
        watcher = watch(this.#dir, (_event, file) => {
          if (file === null || file === `${this.topic}.sock`) done();
        });
        watcher.on('error', () => undefined);
        this.#watcher = watcher;
      } catch {
        // no inotify: the timer alone
      }
    });
  }
}
