import {
  AbstractChannel,
  AlreadyExistsError,
  ClosedError,
  InvalidNameError,
  PermissionError,
  checkWaitOptions,
  intervalOption,
  PeerGoneError,
  UnsupportedError,
  msgpackCodec,
  spinOption,
  type Channel,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import {
  RESOLVED,
  failWaits,
  lockQueue,
  lockedElsewhere,
  markOpened,
  markedOpened,
  ownerUid,
  receiveSoon,
  sendSoon,
  waitToReceive,
  waitToSend,
} from './internal/channel-access.js';
import { checkQueueName } from './internal/limits.js';
import { MQ_PRIORITIES, MessageQueue, openQueue, ownQueue, type MessageQueueOptions, type QueueMessage } from './message-queue.js';

/** Options of the queue channels. */
export interface MqChannelOptions<T> extends MessageQueueOptions {
  /** Default `msgpackCodec`. */
  codec?: Codec<T>;
  /** Priority of `send` when the call gives none (and of every `trySend`). Default 0. */
  priority?: number;
  /**
   * Duplex channels: how often, in ms, a waiting `send` or `receive` checks that the other end still has
   * its queues open (a kernel lock each end holds, see "When the other end dies" in the README). Default 500.
   */
  peerCheckInterval?: number;
}

/** How long create/open retry the lock: another end's probe holds it for two syscalls. */
const LOCK_PATIENCE_MS = 10;

/**
 * The mark an opening end leaves on the queue it receives from (the owner's execute bit, which a queue has
 * no use for): it stays when that end dies, so that the creating end knows an end was there even if it never
 * saw that end's lock held. The creating end clears it when it takes the queues over.
 */
const OPENED_MARK = 0o100;

// A duplex channel's end-of-stream: an empty message. msgpack never encodes to zero bytes, so it
// cannot collide with a message; with a raw codec, empty messages are refused on duplex channels.
const EOF = new Uint8Array(0);

/**
 * A `Channel` over POSIX message queues, messages encoded by a codec (msgpack by default).
 * `MqChannel.queue` is one queue: any number of senders, one receiver. `MqChannel.create` and
 * `MqChannel.open` give the two ends of a duplex channel over a pair of queues (`name.0`, `name.1`),
 * the shape that `request`/`serve` need.
 *
 * @example
 * ```ts
 * // process A
 * await using jobs = MqChannel.create<{ id: number }>('/jobs', { maxMessages: 10, messageSize: 1024 });
 * await jobs.send({ id: 1 }, { priority: 5 });
 * // process B
 * await using worker = MqChannel.open<{ id: number }>('/jobs');
 * for await (const job of worker) console.log(job.id);
 * ```
 */
export class MqChannel<T = unknown> extends AbstractChannel<T> {
  readonly #rx: MessageQueue | undefined;
  readonly #tx: MessageQueue | undefined;
  readonly #codec: Codec<T>;
  readonly #priority: number;
  readonly #sendOptions: { priority: number };
  readonly #duplex: boolean;
  readonly #owned: string[];
  readonly #name: string;
  readonly #peerCheckMs: number;
  /** Duplex: this end created the queues (the other end marks them when it opens). */
  readonly #creator: boolean;
  #closed = false;
  #peerClosed = false;
  /** Duplex: the other end's lock was seen held, so a free lock now means that end is gone. */
  #peerSeen = false;
  /** Until the other end is seen, sends and received messages look for its lock, at most this often. */
  #nextLook = 0;
  #peerGone = false;
  /** Sends and receives waiting now; while there are any, a duplex end checks its peer every #peerCheckMs. */
  #waits = 0;
  #monitor: NodeJS.Timeout | undefined;

  private constructor(name: string, rx: MessageQueue | undefined, tx: MessageQueue | undefined, options: MqChannelOptions<T>, duplex: boolean, owned: string[]) {
    super();
    this.#creator = owned.length > 0;
    this.#name = name;
    this.#rx = rx;
    this.#tx = tx;
    this.#codec = options.codec ?? (msgpackCodec as Codec<T>);
    this.#priority = options.priority ?? 0;
    this.#sendOptions = { priority: this.#priority };
    this.#duplex = duplex;
    this.#owned = owned;
    this.#peerCheckMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
  }

  /** A channel on one queue: `send` enqueues, `receive` dequeues (N senders, 1 receiver). */
  static queue<T = unknown>(name: string, options: MqChannelOptions<T> = {}): MqChannel<T> {
    checkQueueName(name);
    checkChannelOptions(options); // before anything is opened
    const q = MessageQueue.open(name, options);
    return new MqChannel<T>(name, options.read === false ? undefined : q, options.write === false ? undefined : q, options, false, []);
  }

  /**
   * Creates a duplex channel: queues `name.0` (this end sends) and `name.1` (this end receives).
   * This end owns them, registers them with core's registry of kernel objects, and unlinks both on close.
   * Queues left by a creator that died are taken over (unless `exclusive`) if this user owns them and their
   * permissions are no wider than `mode` (else `PermissionError`); queues whose creator still has them open
   * are `AlreadyExistsError`. Every option is checked before any queue exists.
   */
  static create<T = unknown>(name: string, options: MqChannelOptions<T> = {}): MqChannel<T> {
    checkChannelName(name);
    checkChannelOptions(options); // before anything exists
    const open = { ...options, create: true, read: true, write: true };
    const tx = openQueue(`${name}.0`, open, { markerBits: OPENED_MARK });
    let rx: MessageQueue;
    try {
      rx = openQueue(`${name}.1`, open, { markerBits: OPENED_MARK });
    } catch (error) {
      closeQuietly(tx);
      MessageQueue.unlink(`${name}.0`);
      throw error;
    }
    // Each end holds flock(LOCK_EX) on the queue it receives from for as long as it has it open; the
    // kernel drops the lock when the process dies, which is how the other end learns that it did.
    holdLock(rx, tx, `message queue channel "${name}" (its creating end is open in another process)`);
    try {
      // Taken over from a creator that died: a mark its opener left means nothing to this creator.
      tx[markedOpened](OPENED_MARK, true);
      rx[markedOpened](OPENED_MARK, true);
    } catch (error) {
      closeQuietly(rx, tx);
      throw error;
    }
    ownQueue(`${name}.0`);
    ownQueue(`${name}.1`);
    return new MqChannel<T>(name, rx, tx, options, true, [`${name}.0`, `${name}.1`]);
  }

  /**
   * Opens the other end of a duplex channel made by `create` (one such end at a time). Queues that another
   * user made are `PermissionError`: both ends of a channel run as one user.
   */
  static open<T = unknown>(name: string, options: Omit<MqChannelOptions<T>, 'create' | 'exclusive'> = {}): MqChannel<T> {
    checkChannelName(name);
    checkChannelOptions(options);
    const rx = MessageQueue.open(`${name}.0`, { ...options, create: false });
    let tx: MessageQueue;
    try {
      tx = MessageQueue.open(`${name}.1`, { ...options, create: false });
    } catch (error) {
      closeQuietly(rx);
      throw error;
    }
    try {
      checkSameUser(name, rx, tx);
    } catch (error) {
      closeQuietly(rx, tx);
      throw error;
    }
    holdLock(rx, tx, `an open end of message queue channel "${name}" (another process has opened it)`);
    const channel = new MqChannel<T>(name, rx, tx, options, true, []);
    try {
      // After the lock: a creator that finds the mark and the lock free knows this end was here and went.
      rx[markOpened](OPENED_MARK);
      channel.#peerLost(); // the creator holds its lock from the start: seen now, its death is noticed later
    } catch (error) {
      closeQuietly(rx, tx);
      throw error;
    }
    return channel;
  }

  /** The largest encoded message. */
  get maxMessageBytes(): number {
    return (this.#tx ?? this.#rx)!.messageSize;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // send and receive are plain functions returning promises, not async ones: on a round trip every
  // promise layer costs microtask turns, and the queue answers most calls at once.
  send(message: T, options?: SendOptions): Promise<void> {
    try {
      const tx = this.#sender();
      const bytes = this.#encode(message);
      if (this.#duplex) this.#checkPeerBeforeSend();
      if (options !== undefined) checkWaitOptions(options);
      const priority = options?.priority ?? this.#priority;
      if (tx[sendSoon](bytes, priority)) return RESOLVED;
      return this.#whileWaiting(tx[waitToSend](bytes, options === undefined ? this.#sendOptions : { ...options, priority }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  trySend(message: T): boolean {
    const tx = this.#sender();
    const bytes = this.#encode(message);
    if (this.#duplex) this.#checkPeerBeforeSend();
    return tx.trySend(bytes, this.#sendOptions);
  }

  receive(options?: ReceiveOptions): Promise<T> {
    try {
      const rx = this.#receiver();
      const data = rx[receiveSoon]();
      if (data !== undefined) return Promise.resolve(this.#decode(data));
      return this.#whileWaiting(rx[waitToReceive](options)).then(this.#decodeMessage);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  tryReceive(): T | undefined {
    const rx = this.#receiver();
    const message = rx.tryReceive();
    return message === undefined ? undefined : this.#decode(message.data);
  }

  /**
   * Closes this end. A duplex end first tells the other end (an empty message, waiting at most a
   * second for room), and the creating end unlinks both queues. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#monitor);
    if (this.#duplex && this.#tx && !this.#peerClosed && !this.#peerGone && !this.#goneNow()) {
      await this.#tx.send(EOF, { timeout: 1000 }).catch(() => {});
    }
    await Promise.all([this.#rx?.close(), this.#tx?.close()]);
    for (const name of this.#owned) MessageQueue.unlink(name);
  }

  #sender(): MessageQueue {
    if (this.#closed) throw new ClosedError();
    if (this.#tx === undefined) throw new UnsupportedError('send on a receive-only queue channel');
    if (this.#peerClosed) throw new PeerGoneError('peer (it closed the channel)');
    if (this.#peerGone) throw this.#goneError();
    return this.#tx;
  }

  /**
   * Duplex: a message sent to an end that is gone would wait in a queue nobody reads: each send looks at
   * the other end's lock first (one flock(2) that fails while the lock is held) and throws PeerGoneError
   * once the end is known to be gone.
   */
  #checkPeerBeforeSend(): void {
    if (!this.#peerLost()) return;
    this.#peerGone = true;
    const error = this.#goneError();
    this.#tx![failWaits](error);
    throw error;
  }

  /**
   * Duplex: true when the other end is known to be gone: its lock on the queue this end sends to was
   * seen held, or the opening end left its mark on that queue, and the lock is free now. A C peer takes no
   * lock and leaves no mark, so it is never seen and never reported gone.
   */
  #peerLost(): boolean {
    // The mark is read before the lock: an opener takes its lock before it marks, so a mark seen and a lock
    // found free after it mean that the opener has been and gone, not that it is about to lock.
    const marked = !this.#peerSeen && this.#creator && this.#tx![markedOpened](OPENED_MARK);
    if (this.#tx![lockedElsewhere]()) {
      this.#peerSeen = true;
      return false;
    }
    if (marked) this.#peerSeen = true;
    return this.#peerSeen;
  }

  /** #peerLost for its side effect (seeing the other end), at most once per peerCheckInterval. */
  #lookForPeer(): void {
    const now = performance.now();
    if (now < this.#nextLook) return;
    this.#nextLook = now + this.#peerCheckMs;
    this.#peerLost();
  }

  /**
   * Runs while a send or receive waits on a duplex channel: checks the other end at once and then every
   * peerCheckInterval, so that a wait on a dead end fails with PeerGoneError instead of lasting for ever.
   */
  #whileWaiting<R>(wait: Promise<R>): Promise<R> {
    if (!this.#duplex) return wait;
    if (this.#waits++ === 0) {
      this.#monitor = setInterval(() => this.#checkPeer(), this.#peerCheckMs);
      this.#monitor.unref();
      this.#checkPeer();
    }
    return wait.finally(() => {
      if (--this.#waits === 0) {
        clearInterval(this.#monitor);
        this.#monitor = undefined;
      }
    });
  }

  #checkPeer(): void {
    if (this.#closed) return;
    try {
      if (!this.#peerGone) {
        if (!this.#peerLost()) return;
        this.#peerGone = true;
        this.#tx![failWaits](this.#goneError());
      }
      // What the other end sent before it went is still delivered: receives fail once the queue is empty.
      if (this.#rx!.attributes().currentMessages === 0) this.#rx![failWaits](this.#goneError());
    } catch (error) {
      this.#tx?.[failWaits](error);
      this.#rx?.[failWaits](error);
    }
  }

  /** At close: the other end was seen and its lock is free now (an end marker would wait for room in vain). */
  #goneNow(): boolean {
    try {
      return this.#peerSeen && this.#peerLost();
    } catch {
      return false;
    }
  }

  #goneError(): PeerGoneError {
    return new PeerGoneError(`the other end of message queue channel "${this.#name}"`);
  }

  #receiver(): MessageQueue {
    if (this.#closed) throw new ClosedError();
    if (this.#rx === undefined) throw new UnsupportedError('receive on a send-only queue channel');
    if (this.#peerClosed) throw new ClosedError('channel (closed by the peer)');
    return this.#rx;
  }

  #encode(message: T): Uint8Array {
    const bytes = this.#codec.encode(message);
    if (this.#duplex && bytes.length === 0) throw new TypeError('an empty message cannot cross a duplex queue channel (it marks the end)');
    return bytes;
  }

  readonly #decodeMessage = (message: QueueMessage): T => this.#decode(message.data);

  #decode(data: Uint8Array): T {
    // A message shows that the other end opened (and took its lock) before sending it.
    if (!this.#peerSeen && this.#duplex) this.#lookForPeer();
    if (this.#duplex && data.length === 0) {
      this.#peerClosed = true;
      // Other receives of this end wait on the same queue: pass the end on to them.
      this.#rx!.trySend(EOF);
      throw new ClosedError('channel (closed by the peer)');
    }
    return this.#codec.decode(data);
  }
}

/** A typed channel on one POSIX queue (same as `MqChannel.queue`). */
export function mqChannel<T = unknown>(name: string, options: MqChannelOptions<T> = {}): Channel<T> {
  return MqChannel.queue<T>(name, options);
}

/** Checks a duplex channel's name: a queue name with room for '.0', and a base name that is not '', '.' or '..'. */
function checkChannelName(name: string): void {
  if (typeof name === 'string' && name.startsWith('/')) {
    const base = name.slice(1);
    if (base === '' || base === '.' || base === '..') {
      throw new InvalidNameError(name, `a channel name is '/' and a base name that is not empty, '.' or '..'`);
    }
  }
  checkQueueName(name);
  checkQueueName(`${name}.0`);
}

/** Checks every option of a queue channel before any queue is opened or made. */
function checkChannelOptions(options: MqChannelOptions<unknown>): void {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
  spinOption(options.spinMicroseconds, 50);
  const codec = options.codec;
  if (codec !== undefined && (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function')) {
    throw new TypeError('codec must be a Codec (name, encode, encodeInto, decode)');
  }
  const priority = options.priority;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < 0 || priority >= MQ_PRIORITIES)) {
    throw new RangeError(`priority must be an integer from 0 to ${MQ_PRIORITIES - 1}, got ${String(priority)}`);
  }
  for (const key of ['maxMessages', 'messageSize'] as const) {
    const value = options[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 0x7fffffff)) {
      throw new RangeError(`${key} must be an integer from 1 to ${0x7fffffff}, got ${String(value)}`);
    }
  }
  if (options.mode !== undefined && (!Number.isInteger(options.mode) || options.mode < 0 || options.mode > 0o777)) {
    throw new RangeError(`mode must be permission bits from 0 to 0o777, got ${String(options.mode)}`);
  }
  for (const key of ['create', 'exclusive', 'read', 'write'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw new TypeError(`${key} must be a boolean`);
  }
}

/** Both ends of a duplex channel run as one user: queues another uid made are not joined. */
function checkSameUser(name: string, ...queues: MessageQueue[]): void {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  for (const q of queues) {
    const owner = q[ownerUid]();
    if (owner !== uid) {
      throw new PermissionError(
        `message queue "${q.name}" of channel "${name}" was made by uid ${owner}, not by this user (uid ${uid}): ` +
          `another user could read and inject its messages. Run both ends as one user, or remove the queues (as their owner or root) and create the channel again`,
      );
    }
  }
}

/** Takes the lock of an end on its receiving queue, or closes both queues and throws AlreadyExistsError. */
function holdLock(rx: MessageQueue, tx: MessageQueue, what: string): void {
  let held: boolean;
  try {
    held = rx[lockQueue](LOCK_PATIENCE_MS);
  } catch (error) {
    closeQuietly(rx, tx);
    throw error;
  }
  if (held) return;
  closeQuietly(rx, tx);
  throw new AlreadyExistsError(what);
}

/** Closes queues on a failure path, where the failure is what the caller hears about. */
function closeQuietly(...queues: MessageQueue[]): void {
  for (const q of queues) q.close().catch(() => {});
}
