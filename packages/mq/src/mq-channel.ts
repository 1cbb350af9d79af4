import {
  AbstractChannel,
  AlreadyExistsError,
  ClosedError,
  checkWaitOptions,
  intervalOption,
  PeerGoneError,
  UnsupportedError,
  msgpackCodec,
  type Channel,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import { RESOLVED, failWaits, lockQueue, lockedElsewhere, receiveSoon, sendSoon, waitToReceive, waitToSend } from './internal/channel-access.js';
import { MessageQueue, type MessageQueueOptions, type QueueMessage } from './message-queue.js';

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
    intervalOption('peerCheckInterval', options.peerCheckInterval, 500); // before anything is opened
    const q = MessageQueue.open(name, options);
    return new MqChannel<T>(name, options.read === false ? undefined : q, options.write === false ? undefined : q, options, false, []);
  }

  /**
   * Creates a duplex channel: queues `name.0` (this end sends) and `name.1` (this end receives).
   * This end owns them and unlinks both on close. Queues left by a creator that died are taken over
   * (unless `exclusive`); queues whose creator still has them open are `AlreadyExistsError`.
   */
  static create<T = unknown>(name: string, options: MqChannelOptions<T> = {}): MqChannel<T> {
    intervalOption('peerCheckInterval', options.peerCheckInterval, 500); // before anything exists
    const open = { ...options, create: true, read: true, write: true };
    const tx = MessageQueue.open(`${name}.0`, open);
    let rx: MessageQueue;
    try {
      rx = MessageQueue.open(`${name}.1`, open);
    } catch (error) {
      closeQuietly(tx);
      MessageQueue.unlink(`${name}.0`);
      throw error;
    }
    // Each end holds flock(LOCK_EX) on the queue it receives from for as long as it has it open; the
    // kernel drops the lock when the process dies, which is how the other end learns that it did.
    holdLock(rx, tx, `message queue channel "${name}" (its creating end is open in another process)`);
    return new MqChannel<T>(name, rx, tx, options, true, [`${name}.0`, `${name}.1`]);
  }

  /** Opens the other end of a duplex channel made by `create` (one such end at a time). */
  static open<T = unknown>(name: string, options: Omit<MqChannelOptions<T>, 'create' | 'exclusive'> = {}): MqChannel<T> {
    intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    const rx = MessageQueue.open(`${name}.0`, { ...options, create: false });
    let tx: MessageQueue;
    try {
      tx = MessageQueue.open(`${name}.1`, { ...options, create: false });
    } catch (error) {
      closeQuietly(rx);
      throw error;
    }
    holdLock(rx, tx, `an open end of message queue channel "${name}" (another process has opened it)`);
    const channel = new MqChannel<T>(name, rx, tx, options, true, []);
    try {
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
      if (!this.#peerSeen && this.#duplex) this.#lookForPeer();
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
    return tx.trySend(this.#encode(message), this.#sendOptions);
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
   * Duplex: true when the other end is known to be gone: its lock on the queue this end sends to was
   * seen held and is free now. A C peer takes no lock, so it is never seen and never reported gone.
   */
  #peerLost(): boolean {
    if (this.#tx![lockedElsewhere]()) {
      this.#peerSeen = true;
      return false;
    }
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
