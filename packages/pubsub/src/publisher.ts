import { existsSync, rmSync } from 'node:fs';
import {
  AlreadyExistsError,
  ClosedError,
  PeerGoneError,
  RevisionMismatchError,
  TooLargeError,
  isIpcError,
  msgpackCodec,
  type Codec,
  type WaitOptions,
} from '@ipcx/core';
import { FileLock } from '@ipcx/shm';
import {
  UnixServer,
  UnixSocket,
  sameUser,
  type PeerCredentials,
  type StreamChannel,
  type UnixChannel,
} from '@ipcx/sockets';
import { TopicSegment, unlinkQuietly } from './internal/segment.js';
import { TopicLock } from './internal/topic-lock.js';
import type { PublisherMessage, SubscriberMessage } from './internal/protocol.js';
import {
  checkTopicName,
  lockPath,
  runtimeDir,
  segmentName,
  socketPath,
  topicGenerations,
  writersLockPath,
} from './names.js';
import {
  checkBoolean,
  checkCodec,
  checkEnum,
  checkInteger,
  checkMode,
  checkWaitOptions,
  registerKernelObject,
  type KernelObjectRegistration,
} from '@ipcx/core/transport';

/** Options of `Publisher.create`. */
export interface PublisherOptions<T = unknown> {
  /** The largest encoded value this topic accepts; a larger one is `TooLargeError`. Default 1 MiB. */
  maxValueBytes?: number;
  /**
   * Room for a value in the first generation's buffers, in bytes (default 4 KiB, at most `maxValueBytes`). A larger
   * value grows the topic to a new generation. With `writers: 'locked'` the topic is sized for `maxValueBytes` at once.
   */
  bufferBytes?: number;
  /** Revisions kept for subscribers that replay (`from: { revision }`), the latest included. Default 1, at most 4096. */
  history?: number;
  /** Encodes values (default `msgpackCodec`); subscribers must use the same codec. */
  codec?: Codec<T>;
  /** Permission bits of the segment and the socket and lock files. Default 0o600 (owner only). */
  mode?: number;
  /**
   * When the topic's previous publisher died, continue its topic: its revisions, value and history, reclaiming its
   * segment and socket file. Default true. False: such a topic is `AlreadyExistsError`.
   */
  takeover?: boolean;
  /**
   * 'single' (default): one writer per topic; a second live publisher is `AlreadyExistsError`. 'locked': several
   * processes may publish to the topic, each write taken under a lock file (a few µs more per publish).
   */
  writers?: 'single' | 'locked';
  /** Subscribers connected at once; more are refused. Default 1024. */
  maxSubscribers?: number;
  /** The runtime directory of socket and lock files (see `runtimeDir`); subscribers must use the same. */
  dir?: string;
  /**
   * Who may subscribe, from the peer's pid, uid and gid. Default: this user only, or, when `mode` opens the files
   * to the group or others, whoever the file permissions let in.
   */
  authorize?: (peer: PeerCredentials) => boolean | Promise<boolean>;
}

/** Options of `publish`. */
export interface PublishOptions {
  /** Compare-and-set: publish only if the topic's revision is this one, else `RevisionMismatchError`. */
  expectedRevision?: number;
}

/** A revision of a topic and its value. */
export interface Revision<T> {
  readonly revision: number;
  readonly value: T;
}

const DEFAULT_MAX_VALUE_BYTES = 1 << 20;
const DEFAULT_BUFFER_BYTES = 4096;
const MAX_HISTORY = 4096;

interface Client {
  readonly channel: UnixChannel<PublisherMessage | SubscriberMessage>;
  readonly slot: number;
}

/**
 * The one writer of a topic: it keeps the topic's state in shared memory (`/ipcx-topic-<topic>.<generation>`) and
 * tells subscribers over a Unix socket (`<dir>/<topic>.sock`) that it changed. `publish` never waits for a
 * subscriber: a subscriber that is busy is not told at all (it finds the new revision itself before it sleeps),
 * one that sleeps gets one tiny message.
 *
 * @example
 * ```ts
 * const pub = await Publisher.create<{ level: string }>('log-config');
 * await pub.publish({ level: 'debug' });                         // revision 1
 * await pub.update((current) => ({ ...current, level: 'info' })); // revision 2, compare-and-set
 * ```
 */
export class Publisher<T = unknown> implements AsyncDisposable {
  readonly #codec: Codec<T>;
  readonly #maxValueBytes: number;
  readonly #mode: number;
  readonly #dir: string;
  readonly #lock: TopicLock | undefined;
  readonly #writersLock: FileLock | undefined;
  #segment: TopicSegment;
  #server: UnixServer<PublisherMessage | SubscriberMessage> | undefined;
  /** A writer of a locked topic that is not the one serving the socket: its connection to that one. */
  #host: StreamChannel<PublisherMessage | SubscriberMessage, PeerCredentials> | undefined;
  #hostGone = false;
  readonly #clients = new Map<UnixChannel<PublisherMessage | SubscriberMessage>, Client>();
  readonly #freeSlots: number[] = [];
  #nextSlot = 0;
  readonly #registrations: KernelObjectRegistration[] = [];
  #segmentRegistration: KernelObjectRegistration | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    /** The topic's name. */
    readonly topic: string,
    init: {
      codec: Codec<T>;
      maxValueBytes: number;
      mode: number;
      dir: string;
      lock: TopicLock | undefined;
      writersLock: FileLock | undefined;
      segment: TopicSegment;
    },
  ) {
    this.#codec = init.codec;
    this.#maxValueBytes = init.maxValueBytes;
    this.#mode = init.mode;
    this.#dir = init.dir;
    this.#lock = init.lock;
    this.#writersLock = init.writersLock;
    this.#segment = init.segment;
  }

  /**
   * Becomes the publisher of `topic`. All options are checked before anything is created.
   * @throws InvalidNameError for a bad topic name; AlreadyExistsError while another publisher of the topic lives
   * (unless both use `writers: 'locked'`), or for a dead publisher's topic with `takeover: false`;
   * PermissionError for a runtime directory or segment of another user.
   */
  static async create<T = unknown>(topic: string, options: PublisherOptions<T> = {}): Promise<Publisher<T>> {
    checkTopicName(topic);
    const maxValueBytes = checkInteger('maxValueBytes', options.maxValueBytes, {
      min: 1,
      max: 1 << 30,
      default: DEFAULT_MAX_VALUE_BYTES,
    });
    const bufferBytes = checkInteger('bufferBytes', options.bufferBytes, {
      min: 1,
      max: maxValueBytes,
      default: Math.min(DEFAULT_BUFFER_BYTES, maxValueBytes),
    });
    const history = checkInteger('history', options.history, { min: 1, max: MAX_HISTORY, default: 1 });
    const codec = checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
    const mode = checkMode('mode', options.mode, 0o600);
    const takeover = checkBoolean('takeover', options.takeover, true);
    const writers = checkEnum('writers', options.writers, ['single', 'locked'] as const, 'single');
    const maxSubscribers = checkInteger('maxSubscribers', options.maxSubscribers, {
      min: 1,
      max: 65536,
      default: 1024,
    });
    const authorize = options.authorize ?? ((mode & 0o077) === 0 ? sameUser : () => true);
    if (typeof authorize !== 'function') throw new TypeError('authorize must be a function');
    const dir = runtimeDir(options.dir);
    const what = `topic "${topic}"`;

    let lock: TopicLock;
    try {
      lock = await TopicLock.acquire(lockPath(dir, topic), mode, what);
    } catch (error) {
      if (writers === 'locked' && isIpcError(error) && error.code === 'IPCX_ERR_ALREADY_EXISTS')
        return Publisher.#joinLocked<T>(topic, dir, codec, maxValueBytes, mode, what);
      throw error;
    }
    let segment: TopicSegment | undefined;
    let server: UnixServer<PublisherMessage | SubscriberMessage> | undefined;
    try {
      const previous = TopicSegment.openLatest(topic, true);
      if (previous !== undefined && !takeover) {
        throw new AlreadyExistsError(
          `${what} (left by a publisher that died; pass takeover: true to continue it, or Publisher.unlink it)`,
        );
      }
      const generation = Math.max(0, ...topicGenerations(topic)) + 1;
      const kept = previous === undefined ? [] : keptRevisions(previous);
      const largest = kept.reduce((n, r) => Math.max(n, r.bytes.length), 0);
      const slotBytes = writers === 'locked' ? maxValueBytes : Math.min(maxValueBytes, Math.max(bufferBytes, largest));
      segment = TopicSegment.create(
        topic,
        generation,
        { slotBytes, slots: history + 1, maxSubscribers, locked: writers === 'locked' },
        mode,
      );
      for (const r of kept) if (r.bytes.length <= slotBytes) segment.write(r.revision, r.bytes);
      // Subscribers still mapping an old generation follow the chain to this one; then the names go.
      previous?.supersede(generation);
      for (const old of topicGenerations(topic)) if (old !== generation) unlinkQuietly(segmentName(topic, old));
      server = await UnixServer.listen<PublisherMessage | SubscriberMessage>(socketPath(dir, topic), {
        mode,
        maxClients: maxSubscribers,
        authorize,
      });
      const writersLock = writers === 'locked' ? await FileLock.open(writersLockPath(dir, topic), { mode }) : undefined;
      const publisher = new Publisher<T>(topic, { codec, maxValueBytes, mode, dir, lock, writersLock, segment });
      publisher.#server = server;
      publisher.#register();
      void publisher.#acceptLoop(server);
      return publisher;
    } catch (error) {
      await server?.close();
      segment?.unlink();
      lock.release(true);
      throw error;
    }
  }

  /**
   * Removes what a dead publisher of `topic` left (segments, socket and lock files). Resolves to false when
   * there was nothing to remove.
   * @throws AlreadyExistsError while a publisher of the topic lives.
   */
  static async unlink(topic: string, options: { dir?: string } = {}): Promise<boolean> {
    checkTopicName(topic);
    const dir = runtimeDir(options.dir);
    const path = lockPath(dir, topic);
    const lock = await TopicLock.acquire(path, 0o600, `topic "${topic}"`);
    let removed = false;
    try {
      for (const generation of topicGenerations(topic)) {
        unlinkQuietly(segmentName(topic, generation));
        removed = true;
      }
      for (const file of [socketPath(dir, topic), writersLockPath(dir, topic)]) {
        if (existsSync(file)) {
          rmSync(file, { force: true });
          removed = true;
        }
      }
    } finally {
      lock.release(true);
    }
    return removed;
  }

  static async #joinLocked<T>(
    topic: string,
    dir: string,
    codec: Codec<T>,
    maxValueBytes: number,
    mode: number,
    what: string,
  ): Promise<Publisher<T>> {
    let host: StreamChannel<PublisherMessage | SubscriberMessage, PeerCredentials>;
    try {
      host = await UnixSocket.connect<PublisherMessage | SubscriberMessage>(socketPath(dir, topic), { timeout: 5000 });
    } catch (error) {
      throw new AlreadyExistsError(`${what} (its publisher is starting or stopping; try again)`, { cause: error });
    }
    try {
      const hello = await host.receive({ timeout: 5000 });
      if (hello.t !== 'hello') throw new AlreadyExistsError(`${what} (unexpected answer from its publisher)`);
      const segment = TopicSegment.open(topic, hello.generation, true);
      if (!segment.locked) throw new AlreadyExistsError(`${what} (its publisher writes alone: writers: 'single')`);
      const writersLock = await FileLock.open(writersLockPath(dir, topic), { mode });
      const publisher = new Publisher<T>(topic, {
        codec,
        maxValueBytes: Math.min(maxValueBytes, segment.slotBytes),
        mode,
        dir,
        lock: undefined,
        writersLock,
        segment,
      });
      publisher.#host = host;
      void (async () => {
        try {
          for (;;) await host.receive();
        } catch {
          publisher.#hostGone = true;
        }
      })();
      return publisher;
    } catch (error) {
      host.destroy();
      throw error;
    }
  }

  /** The latest revision (0 before the first publish). */
  get revision(): number {
    return this.#segment.head;
  }

  /** The credentials (pid, uid, gid, as the kernel took them at connect) of the connected subscribers; `.length` counts them. */
  get subscribers(): readonly PeerCredentials[] {
    return [...this.#clients.keys()].map((channel) => channel.peer);
  }

  /** The current generation: 1, then one more each time a larger value grew the topic (or a publisher took it over). */
  get generation(): number {
    return this.#segment.generation;
  }

  /** The room for a value in the current generation, in bytes. */
  get bufferBytes(): number {
    return this.#segment.slotBytes;
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The latest revision and its value, or undefined before the first publish. */
  current(): Revision<T> | undefined {
    this.#follow();
    const latest = this.#segment.readLatest();
    return latest === undefined ? undefined : { revision: latest.revision, value: this.#codec.decode(latest.bytes) };
  }

  /**
   * Publishes `value` as the next revision and resolves to that revision. Subscribers never see it half
   * written. With `expectedRevision`, a compare-and-set.
   * @throws RevisionMismatchError when `expectedRevision` is not the topic's revision; TooLargeError above
   * `maxValueBytes`; ClosedError after `close`.
   */
  async publish(value: T, options: PublishOptions = {}): Promise<number> {
    if (this.#closing) throw new ClosedError(`publisher of topic "${this.topic}"`);
    const expected = options.expectedRevision;
    if (expected !== undefined) checkInteger('expectedRevision', expected, { min: 0 });
    if (this.#writersLock === undefined) {
      if (expected !== undefined && expected !== this.#segment.head) {
        throw new RevisionMismatchError(`topic "${this.topic}" publish`, expected, this.#segment.head);
      }
      return this.#write(this.#encode(value));
    }
    if (this.#hostGone) throw new PeerGoneError(`publisher serving topic "${this.topic}"`);
    const bytes = copy(this.#encode(value));
    const guard = await this.#writersLock.lock({ timeout: 10_000 });
    let revision: number;
    try {
      this.#follow();
      if (expected !== undefined && expected !== this.#segment.head) {
        throw new RevisionMismatchError(`topic "${this.topic}" publish`, expected, this.#segment.head);
      }
      revision = this.#write(bytes);
    } finally {
      guard.release();
    }
    try {
      this.#host?.trySend({ t: 'wrote', revision });
    } catch {
      // the serving publisher is gone: its successor notifies
    }
    return revision;
  }

  /**
   * Read, change, compare-and-set: calls `fn` with the current value and revision and publishes what it returns,
   * calling `fn` again if another write came in between. Resolves to the new revision.
   */
  async update(
    fn: (current: T | undefined, revision: number) => T | Promise<T>,
    options: WaitOptions = {},
  ): Promise<number> {
    checkWaitOptions(options);
    for (let attempt = 1; ; attempt++) {
      const current = this.current();
      const revision = current?.revision ?? 0;
      const next = await fn(current?.value, revision);
      try {
        return await this.publish(next, { expectedRevision: revision });
      } catch (error) {
        if (!(isIpcError(error) && error.code === 'IPCX_ERR_REVISION') || attempt >= 1000 || options.signal?.aborted)
          throw error;
      }
    }
  }

  /**
   * Stops publishing: subscribers are told (their iteration ends after the latest revision), the socket closes,
   * and the segment, socket file and lock file are removed. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(true);
    return this.#closing;
  }

  /**
   * Stops publishing now: the same as `close`, except that subscribers are not told goodbye (theirs ends as when a
   * publisher dies: `PeerGoneError`, or waiting for the next publisher). Idempotent.
   */
  destroy(_error?: Error): void {
    this.#closing ??= this.#shutdown(false);
    this.#closing.catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(graceful: boolean): Promise<void> {
    if (this.#host) {
      this.#host.destroy();
      await this.#writersLock?.close();
      return;
    }
    for (const { channel } of this.#clients.values()) {
      try {
        if (graceful) channel.trySend({ t: 'bye' });
        else channel.destroy();
      } catch {
        // gone already
      }
    }
    try {
      await this.#server?.close();
    } finally {
      this.#segment.unlink();
      rmSync(writersLockPath(this.#dir, this.topic), { force: true });
      await this.#writersLock?.close();
      this.#lock?.release(true);
      for (const registration of this.#registrations) registration.unregister();
      this.#segmentRegistration?.unregister();
    }
  }

  #encode(value: T): Uint8Array {
    const bytes = this.#codec.encode(value);
    if (bytes.length > this.#maxValueBytes)
      throw new TooLargeError(`value for topic "${this.topic}"`, bytes.length, this.#maxValueBytes);
    return bytes;
  }

  /** Writes the next revision (the caller holds the writers' lock, if any) and wakes sleeping subscribers. */
  #write(bytes: Uint8Array): number {
    if (bytes.length > this.#segment.slotBytes) this.#grow(bytes.length);
    const revision = this.#segment.head + 1;
    this.#segment.write(revision, bytes);
    this.#notify(revision);
    return revision;
  }

  /**
   * Wakes sleeping subscribers (see `layout.ts`): one futex wake for all of them, and only if one of the parked
   * words this publisher knows was set. A writer of a locked topic that does not serve the socket knows none:
   * it always wakes (one system call), and tells the serving one, which clears the words.
   */
  #notify(_revision: number): void {
    const parked = this.#segment.parked;
    let sleeping = this.#host !== undefined;
    for (const client of this.#clients.values()) {
      if (Atomics.exchange(parked, client.slot, 0) === 1) sleeping = true;
    }
    this.#segment.ring(sleeping);
  }

  /** Moves the topic to a new generation with room for `needed` bytes, kept history included. */
  #grow(needed: number): void {
    const old = this.#segment;
    const slotBytes = Math.min(this.#maxValueBytes, Math.max(2 ** Math.ceil(Math.log2(needed)), old.slotBytes * 2));
    const generation = old.generation + 1;
    const segment = TopicSegment.create(
      this.topic,
      generation,
      { slotBytes, slots: old.slots, maxSubscribers: old.maxSubscribers, locked: old.locked },
      this.#mode,
    );
    for (const r of keptRevisions(old)) segment.write(r.revision, r.bytes);
    segment.subscribers = this.#clients.size;
    old.supersede(generation);
    old.ring(true);
    this.#segment = segment;
    this.#registerSegment();
    old.unlink();
    for (const { channel } of this.#clients.values()) {
      try {
        channel.trySend({ t: 'gen', generation });
      } catch {
        // closing
      }
    }
  }

  /** A writer of a locked topic follows generations another writer made (after a takeover). */
  #follow(): void {
    for (let next = this.#segment.nextGeneration; next !== 0; next = this.#segment.nextGeneration) {
      try {
        this.#segment = TopicSegment.open(this.topic, next);
      } catch {
        return;
      }
    }
  }

  #register(): void {
    const owner = '@ipcx/pubsub';
    const lock = this.#lock;
    this.#registrations.push(
      // First, so that it is removed last, and synchronously: unlinkOwnedKernelObjectsSync() in an exit handler
      // cannot wait for close(), and must not leave the lock file behind.
      registerKernelObject({
        kind: 'file',
        name: lockPath(this.#dir, this.topic),
        owner,
        unlink: () => lock?.release(true),
      }),
      registerKernelObject({ kind: 'topic', name: this.topic, owner, unlink: () => this.close() }),
      registerKernelObject({
        kind: 'socket',
        name: socketPath(this.#dir, this.topic),
        owner,
        unlink: () => rmSync(socketPath(this.#dir, this.topic), { force: true }),
      }),
    );
    this.#registerSegment();
  }

  #registerSegment(): void {
    this.#segmentRegistration?.unregister();
    const name = this.#segment.name;
    this.#segmentRegistration = registerKernelObject({
      kind: 'shm',
      name,
      owner: '@ipcx/pubsub',
      unlink: () => unlinkQuietly(name),
    });
  }

  async #acceptLoop(server: UnixServer<PublisherMessage | SubscriberMessage>): Promise<void> {
    try {
      for await (const channel of server) this.#admit(channel);
    } catch {
      // the server closed
    }
  }

  #admit(channel: UnixChannel<PublisherMessage | SubscriberMessage>): void {
    const slot = this.#freeSlots.pop() ?? (this.#nextSlot < this.#segment.maxSubscribers ? this.#nextSlot++ : -1);
    if (slot < 0 || this.#closing) {
      channel.destroy();
      return;
    }
    Atomics.store(this.#segment.parked, slot, 0);
    const client = { channel, slot };
    this.#clients.set(channel, client);
    this.#segment.subscribers = this.#clients.size;
    try {
      channel.trySend({ t: 'hello', generation: this.#segment.generation, slot, revision: this.#segment.head });
    } catch {
      // gone at once: the loop below ends
    }
    void (async () => {
      try {
        for (;;) {
          const message = await channel.receive();
          // Another writer of a locked topic wrote a revision: wake the sleepers.
          // Another writer of a locked topic wrote (and woke the sleepers itself): follow its generation.
          if ((message as SubscriberMessage).t === 'wrote') this.#follow();
        }
      } catch (error) {
        // The subscriber left (closed, or was killed: the kernel closed its socket): free its slot.
        if (!isIpcError(error)) throw error;
      } finally {
        this.#clients.delete(channel);
        this.#segment.subscribers = this.#clients.size;
        Atomics.store(this.#segment.parked, slot, 0);
        this.#freeSlots.push(slot);
        channel.destroy();
      }
    })();
  }
}

/** Copies of the revisions a segment still keeps, oldest first (a slot torn by a dead writer is skipped). */
export function keptRevisions(segment: TopicSegment): { revision: number; bytes: Uint8Array }[] {
  const out: { revision: number; bytes: Uint8Array }[] = [];
  const head = segment.head;
  for (let revision = segment.oldest; revision >= 1 && revision <= head; revision++) {
    const got = segment.read(revision);
    if (typeof got === 'object') out.push(got);
  }
  return out;
}

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
