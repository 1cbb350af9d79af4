import {
  AlreadyExistsError,
  ClosedError,
  InvalidNameError,
  PermissionError,
  PeerGoneError,
  msgpackCodec,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import { AbstractChannel, checkWaitOptions, intervalOption, lingerOption } from '@ipcx/core/transport';
import {
  RESOLVED,
  failWaits,
  lockQueue,
  lockedElsewhere,
  markOpened,
  markedOpened,
  own,
  ownerUid,
  receiveSoon,
  sendSoon,
  sendsSettled,
  waitToReceive,
  waitToSend,
} from './internal/channel-access.js';
import { EOF, Ending, PeerMonitor, encodeForChannel } from './internal/lifecycle.js';
import { checkQueueName } from './internal/limits.js';
import {
  checkQueueOptions,
  createQueue,
  openQueue,
  unlinkQueue,
  type MessageQueue,
  type MessageQueueCreateOptions,
  type QueueMessage,
} from './message-queue.js';
import { checkCodecOptions, type CodecOptions } from './typed-queue.js';

/** Options of `MqChannel.create`: those of `MessageQueue.create` for both queues, a codec, and liveness. */
export interface MqChannelOptions<T> extends Omit<MessageQueueCreateOptions, 'read' | 'write'>, CodecOptions<T> {
  /**
   * How often, in ms, a waiting `send` or `receive` checks that the other end still has its queues open (a
   * kernel lock each end holds, see "When the other end dies" in the README). Default 500.
   */
  peerCheckInterval?: number;
}

/** Options of `MqChannel.open`: the queues exist already, so their shape and mode are not given. */
export type MqChannelOpenOptions<T> = Omit<MqChannelOptions<T>, 'exclusive' | 'capacity' | 'maxMessageBytes' | 'mode'>;

/** How long create/open retry the lock: another end's probe holds it for two syscalls. */
const LOCK_PATIENCE_MS = 10;

/**
 * The mark an opening end leaves on the queue it receives from (the owner's execute bit, which a queue has
 * no use for): it stays when that end dies, so that the creating end knows an end was there even if it never
 * saw that end's lock held. The creating end clears it when it takes the queues over.
 */
const OPENED_MARK = 0o100;

/**
 * A `Channel` between two ends over a pair of POSIX message queues (`name.0`, `name.1`), messages encoded by a
 * codec (msgpack by default): the shape that `request`/`serve` need. `MqChannel.create` makes both queues and
 * owns them (its `close` and `destroy` unlink them); `MqChannel.open` is the other end. For many senders into
 * one receiver, see `TypedMessageQueue`.
 *
 * @example
 * ```ts
 * // process A
 * await using jobs = await MqChannel.create<{ id: number }>('/jobs', { capacity: 10, maxMessageBytes: 1024 });
 * await jobs.send({ id: 1 }, { priority: 5 });
 * // process B
 * await using worker = await MqChannel.open<{ id: number }>('/jobs');
 * for await (const job of worker) console.log(job.id);
 * ```
 */
export class MqChannel<T = unknown> extends AbstractChannel<T> {
  readonly #rx: MessageQueue;
  readonly #tx: MessageQueue;
  readonly #codec: Codec<T>;
  readonly #priority: number;
  readonly #sendOptions: { priority: number };
  readonly #name: string;
  readonly #peerCheckMs: number;
  readonly #lingerMs: number;
  /** This end created the queues (the other end marks them when it opens). */
  readonly #creator: boolean;
  readonly #ending = new Ending();
  /** The queues are closed (close finished its drain, or destroy). */
  #released = false;
  /** The channel ended: the peer's end marker was read, or the peer is gone and what it sent was received. */
  #ended = false;
  #peerClosed = false;
  /** The other end's lock was seen held, so a free lock now means that end is gone. */
  #peerSeen = false;
  /** Until the other end is seen, sends and received messages look for its lock, at most this often. */
  #nextLook = 0;
  #peerGone = false;
  /** While sends or receives wait, checks the other end every peerCheckInterval. */
  readonly #monitor: PeerMonitor;

  private constructor(
    name: string,
    rx: MessageQueue,
    tx: MessageQueue,
    options: MqChannelOpenOptions<T>,
    creator: boolean,
  ) {
    super();
    this.#creator = creator;
    this.#name = name;
    this.#rx = rx;
    this.#tx = tx;
    this.#codec = options.codec ?? (msgpackCodec as Codec<T>);
    this.#priority = options.priority ?? 0;
    this.#sendOptions = { priority: this.#priority };
    this.#peerCheckMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    this.#lingerMs = lingerOption(options.lingerTimeout);
    this.#monitor = new PeerMonitor(this.#peerCheckMs, () => this.#checkPeer());
  }

  /**
   * Creates a channel: queues `name.0` (this end sends) and `name.1` (this end receives), which this end owns:
   * registered with core's registry of kernel objects and unlinked by `close` and `destroy`. Exclusive:
   * `AlreadyExistsError` if either name exists. With `exclusive: false`, queues left by a creator that died are
   * taken over if this user owns them and their permissions are no wider than `mode` (else `PermissionError`);
   * queues whose creator still has them open stay `AlreadyExistsError`. Every option is checked before any
   * queue exists.
   */
  static async create<T = unknown>(name: string, options: MqChannelOptions<T> = {}): Promise<MqChannel<T>> {
    checkChannelName(name);
    checkChannelOptions(options); // before anything exists
    const { codec: _, priority: __, peerCheckInterval: ___, ...shape } = options;
    const open = { ...shape, read: true, write: true };
    const tx = createQueue(`${name}.0`, open, { markerBits: OPENED_MARK, own: false });
    let rx: MessageQueue;
    try {
      rx = createQueue(`${name}.1`, open, { markerBits: OPENED_MARK, own: false });
    } catch (error) {
      tx.destroy();
      unlinkQueue(`${name}.0`);
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
      destroyAll(rx, tx);
      throw error;
    }
    tx[own]();
    rx[own]();
    return new MqChannel<T>(name, rx, tx, options, true);
  }

  /**
   * Opens the other end of a channel made by `create` (one such end at a time; `NotFoundError` if there is
   * none). Queues that another user made are `PermissionError`: both ends of a channel run as one user. This
   * end never unlinks the queues.
   */
  static async open<T = unknown>(name: string, options: MqChannelOpenOptions<T> = {}): Promise<MqChannel<T>> {
    checkChannelName(name);
    checkChannelOptions(options);
    const { codec: _, priority: __, peerCheckInterval: ___, ...rest } = options;
    const rx = openQueue(`${name}.0`, rest);
    let tx: MessageQueue;
    try {
      tx = openQueue(`${name}.1`, rest);
    } catch (error) {
      destroyAll(rx);
      throw error;
    }
    try {
      checkSameUser(name, rx, tx);
    } catch (error) {
      destroyAll(rx, tx);
      throw error;
    }
    holdLock(rx, tx, `an open end of message queue channel "${name}" (another process has opened it)`);
    const channel = new MqChannel<T>(name, rx, tx, options, false);
    try {
      // After the lock: a creator that finds the mark and the lock free knows this end was here and went.
      rx[markOpened](OPENED_MARK);
      channel.#peerLost(); // the creator holds its lock from the start: seen now, its death is noticed later
    } catch (error) {
      destroyAll(rx, tx);
      throw error;
    }
    return channel;
  }

  /** The largest encoded message. */
  get maxMessageBytes(): number {
    return this.#tx.maxMessageBytes;
  }

  /** True once `close()` or `destroy()` was called, or the channel ended (the peer closed or died and all it sent was received). */
  get closed(): boolean {
    return this.#ending.called || this.#ended;
  }

  // send and receive are plain functions returning promises, not async ones: on a round trip every
  // promise layer costs microtask turns, and the queue answers most calls at once.
  send(message: T, options?: SendOptions): Promise<void> {
    try {
      const tx = this.#sender();
      const bytes = encodeForChannel(this.#codec, message, 'an MqChannel');
      this.#checkPeerBeforeSend();
      if (options !== undefined) checkWaitOptions(options);
      const priority = options?.priority ?? this.#priority;
      if (tx[sendSoon](bytes, priority)) return RESOLVED;
      return this.#monitor.around(
        tx[waitToSend](bytes, options === undefined ? this.#sendOptions : { ...options, priority }),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  trySend(message: T): boolean {
    const tx = this.#sender();
    const bytes = encodeForChannel(this.#codec, message, 'an MqChannel');
    this.#checkPeerBeforeSend();
    return tx.trySend(bytes, this.#sendOptions);
  }

  receive(options?: ReceiveOptions): Promise<T> {
    try {
      const rx = this.#receiver();
      const data = rx[receiveSoon]();
      if (data !== undefined) return Promise.resolve(this.#decode(data));
      if (this.#peerGone) this.#checkPeer(); // gone, and nothing left: fails now
      return this.#monitor.around(rx[waitToReceive](options)).then(this.#decodeMessage);
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
   * Graceful: waiting receives reject with `ClosedError`; sends already waiting for room go in first (or fail,
   * `PeerGoneError` if the other end goes meanwhile); then the other end is told (an empty message) and the
   * queues are closed; the creating end unlinks them. All of it within `lingerTimeout` (default 2000 ms): a peer
   * that does not read makes the sends still waiting reject with `ClosedError`, and gets no end marker. Never
   * hangs. Idempotent.
   */
  close(): Promise<void> {
    return this.#ending.close(
      async () => {
        const until = performance.now() + this.#lingerMs;
        this.#rx[failWaits](new ClosedError());
        await this.#tx[sendsSettled]();
        if (!this.#peerClosed && !this.#peerGone && !this.#goneNow()) {
          await this.#tx.send(EOF, { timeout: Math.max(0, until - performance.now()) }).catch(() => {});
        }
      },
      async () => {
        this.#release();
        await Promise.all([this.#rx.close(), this.#tx.close()]);
      },
    );
  }

  /**
   * Immediate: waiting sends and receives reject with `error` (default `ClosedError`), nothing more is sent (the
   * other end sees this one gone), the queues are closed and the creating end unlinks them. Idempotent.
   */
  destroy(error?: Error): void {
    this.#ending.destroy(() => {
      this.#release();
      this.#rx.destroy(error);
      this.#tx.destroy(error);
    });
  }

  #release(): void {
    this.#released = true;
    this.#monitor.stop();
  }

  #sender(): MessageQueue {
    if (this.#ending.called) throw new ClosedError();
    if (this.#peerClosed) throw new PeerGoneError('peer (it closed the channel)');
    if (this.#peerGone) throw this.#goneError();
    return this.#tx;
  }

  /**
   * A message sent to an end that is gone would wait in a queue nobody reads: each send looks at the other
   * end's lock first (one flock(2) that fails while the lock is held) and throws PeerGoneError once the end is
   * known to be gone (closed or died).
   */
  #checkPeerBeforeSend(): void {
    if (!this.#peerLost()) return;
    this.#peerGone = true;
    const error = this.#goneError();
    this.#tx[failWaits](error);
    throw error;
  }

  /**
   * True when the other end is known to be gone: its lock on the queue this end sends to was seen held, or the
   * opening end left its mark on that queue, and the lock is free now. A C peer takes no lock and leaves no
   * mark, so it is never seen and never reported gone.
   */
  #peerLost(): boolean {
    // The mark is read before the lock: an opener takes its lock before it marks, so a mark seen and a lock
    // found free after it mean that the opener has been and gone, not that it is about to lock.
    const marked = !this.#peerSeen && this.#creator && this.#tx[markedOpened](OPENED_MARK);
    if (this.#tx[lockedElsewhere]()) {
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

  #checkPeer(): void {
    if (this.#released) return;
    try {
      if (!this.#peerGone) {
        if (!this.#peerLost()) return;
        this.#peerGone = true;
        this.#tx[failWaits](this.#goneError());
      }
      // What the other end sent before it went is still delivered: the channel ends once the queue is empty.
      if (this.#rx.attributes().currentMessages === 0) {
        this.#ended = true;
        this.#rx[failWaits](this.#goneError());
      }
    } catch (error) {
      this.#tx[failWaits](error);
      this.#rx[failWaits](error);
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
    if (this.#ending.called) throw new ClosedError();
    if (this.#peerClosed) throw new ClosedError('channel (closed by the peer)');
    if (this.#ended) throw this.#goneError();
    return this.#rx;
  }

  readonly #decodeMessage = (message: QueueMessage): T => this.#decode(message.data);

  #decode(data: Uint8Array): T {
    // A message shows that the other end opened (and took its lock) before sending it.
    if (!this.#peerSeen) this.#lookForPeer();
    if (data.length === 0) {
      this.#peerClosed = true;
      this.#ended = true;
      // Other receives of this end wait on the same queue: pass the end on to them.
      this.#rx.trySend(EOF);
      throw new ClosedError('channel (closed by the peer)');
    }
    return this.#codec.decode(data);
  }
}

/** Checks a channel's name: a queue name with room for '.0', and a base name that is not '', '.' or '..'. */
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

/** Checks every option of a channel before any queue is opened or made. */
function checkChannelOptions(options: MqChannelOptions<unknown>): void {
  checkCodecOptions(options);
  checkQueueOptions(options);
  intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
}

/** Both ends of a channel run as one user: queues another uid made are not joined. */
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
    destroyAll(rx, tx);
    throw error;
  }
  if (held) return;
  destroyAll(rx, tx);
  throw new AlreadyExistsError(what);
}

/** Closes queues on a failure path, where the failure is what the caller hears about. */
function destroyAll(...queues: MessageQueue[]): void {
  for (const q of queues) q.destroy();
}
