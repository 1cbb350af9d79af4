import {
  AlreadyExistsError,
  ClosedError,
  PeerGoneError,
  isIpcError,
  msgpackCodec,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import {
  AbstractChannel,
  fromSystemError,
  intervalOption,
  lingerOption,
  registerKernelObject,
  type KernelObjectRegistration,
} from '@ipcx/core/transport';
import { sysv, sysvConstants } from '@ipcx/native';
import { failReceives, sendsSettled } from './internal/channel-access.js';
import { checkCodec } from '@ipcx/core/transport';
import { EOF, Ending, PeerMonitor, encodeForChannel } from './internal/lifecycle.js';
import {
  checkAdoptable,
  createSysvQueue,
  openSysvQueue,
  type SysvMessage,
  type SysvMessageQueue,
  type SysvMessageQueueCreateOptions,
} from './sysv-queue.js';

/** Options of `SysvChannel.create`: those of `SysvMessageQueue.create` (always exclusive), a codec, the types, liveness. */
export interface SysvChannelOptions<T = unknown> extends Omit<SysvMessageQueueCreateOptions, 'exclusive'> {
  /** Default `msgpackCodec`. Both ends must use the same codec. */
  codec?: Codec<T>;
  /**
   * The two message types the channel uses on its queue: [the type the creating end sends, the type the
   * opening end sends]. Both ends must pass the same pair. Default [1, 2]. Other types on the same queue are
   * left alone, so a queue can carry several channels, or a channel and other traffic.
   */
  types?: readonly [number, number];
  /**
   * How often, in ms, a waiting `send` or `receive` checks that the other end's process lives (a SEM_UNDO
   * semaphore each end holds, see "When the other end dies"). Default 500.
   */
  peerCheckInterval?: number;
}

/** Options of `SysvChannel.open`: the queue exists, so its capacity is not given. */
export type SysvChannelOpenOptions<T = unknown> = Omit<SysvChannelOptions<T>, 'bufferBytes'>;

/**
 * Liveness of the two ends, for channels found by key: a semaphore set with the queue's key, semaphore 0 held
 * (+1, SEM_UNDO) by the creating end and 1 by the opening end. The kernel undoes a dead end's +1, however it
 * died; an odd value means held, and a value seen odd and then even means that end is gone. The opening end also
 * adds 2 without undo, a mark that stays: a creator that never saw the opener's unit held still learns it came.
 */
interface Liveness {
  readonly id: number;
  readonly mine: number;
  readonly peer: number;
  registration: KernelObjectRegistration | undefined;
}

/**
 * A `Channel` over one System V message queue and a pair of message types: the creating end sends type
 * `types[0]` and receives `types[1]`, the opening end the reverse. Messages are encoded by a codec (msgpack by
 * default); with `rawCodec` a C program that sends and receives those types is a peer.
 *
 * Closing: an end whose queue holds nothing for the other end removes the queue at once (the other end's
 * receives then end with `ClosedError`). If messages for the other end wait, it leaves them with an end marker
 * (an empty message of its type) and the other end, having read them, removes the queue when it closes; the
 * queue also stays registered in the creating process, so that its shutdown removes it if the other end dies
 * first.
 *
 * When the other end dies: a queue has no owner, so a channel found by key also makes a semaphore set with the
 * same key, where each end holds one unit taken with SEM_UNDO; the kernel gives a dead end's unit back, however
 * it died. While a send or receive waits, the end checks the other's unit at once and every `peerCheckInterval`
 * ms (default 500): once seen held and found free, waits fail with `PeerGoneError` (receives after what the
 * other end sent before it went), later sends too, and `close` removes the queue and the set. Not noticed: the
 * other end of a channel opened by `id` (a private queue has no key for the set), and a C peer (it holds no
 * unit); their receives end by `timeout` or `signal`.
 *
 * @example
 * ```ts
 * await using server = SysvChannel.create<{ n: number }>({ key: 0x1d2c });
 * // another process:
 * await using client = SysvChannel.open<{ n: number }>({ key: 0x1d2c });
 * await client.send({ n: 1 });
 * console.log(await server.receive({ timeout: 1000 }));
 * ```
 */
export class SysvChannel<T = unknown> extends AbstractChannel<T> {
  /** The queue underneath (its `id`, `key`, `stat()`). */
  readonly queue: SysvMessageQueue;
  readonly #codec: Codec<T>;
  readonly #sendType: number;
  readonly #receiveType: number;
  readonly #receiveSelector: { type: number };
  readonly #liveness: Liveness | undefined;
  readonly #lingerMs: number;
  readonly #ending = new Ending();
  /** Close finished its drain, or destroy: the monitor stops. */
  #released = false;
  /** The peer's end marker was read, the queue was removed, or the peer is gone and what it sent was received. */
  #ended = false;
  #peerClosed = false;
  #peerSeen = false;
  #peerGone = false;
  /** While sends or receives wait (and the end has liveness), checks the other end every peerCheckInterval. */
  readonly #monitor: PeerMonitor | undefined;

  private constructor(
    queue: SysvMessageQueue,
    codec: Codec<T> | undefined,
    sendType: number,
    receiveType: number,
    liveness: Liveness | undefined,
    peerCheckMs: number,
    lingerMs: number,
  ) {
    super();
    this.queue = queue;
    this.#codec = codec ?? (msgpackCodec as Codec<T>);
    this.#sendType = sendType;
    this.#receiveType = receiveType;
    this.#receiveSelector = { type: receiveType };
    this.#liveness = liveness;
    this.#lingerMs = lingerMs;
    this.#monitor = liveness === undefined ? undefined : new PeerMonitor(peerCheckMs, () => this.#checkPeer(), true);
  }

  /**
   * Creates the queue (`AlreadyExistsError` if the key is taken: a channel's queue is always new) and returns the
   * creating end.
   */
  static async create<T = unknown>(options: SysvChannelOptions<T> = {}): Promise<SysvChannel<T>> {
    return SysvChannel.#make('create', options);
  }

  /** Opens the other end of a channel made by `create` (by key, `path` + `id`, or the queue's `id`). */
  static async open<T = unknown>(options: SysvChannelOpenOptions<T>): Promise<SysvChannel<T>> {
    return SysvChannel.#make('open', options);
  }

  static #make<T>(role: 'create' | 'open', options: SysvChannelOptions<T>): SysvChannel<T> {
    const [a, b] = checkTypes(options.types);
    checkCodec(options.codec, msgpackCodec, ['encode', 'decode']);
    const peerCheckMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    const lingerMs = lingerOption(options.lingerTimeout);
    const { codec, types: _, peerCheckInterval: __, ...rest } = options;
    const queue = role === 'create' ? createSysvQueue({ ...rest, exclusive: true }) : openSysvQueue(rest);
    let liveness: Liveness | undefined;
    if (queue.key !== 0) {
      try {
        liveness = (role === 'create' ? createLiveness : openLiveness)(queue.key, options.mode ?? 0o600);
      } catch (error) {
        queue.destroy();
        throw error;
      }
    }
    if (role === 'create') return new SysvChannel<T>(queue, codec, a, b, liveness, peerCheckMs, lingerMs);
    const channel = new SysvChannel<T>(queue, codec, b, a, liveness, peerCheckMs, lingerMs);
    channel.#peerAlive(); // the creator holds its unit from the start: seen now, its death is noticed later
    return channel;
  }

  /** The largest encoded message. */
  get maxMessageBytes(): number {
    return this.queue.maxMessageBytes;
  }

  /** True once `close()` or `destroy()` was called, or the channel ended (the peer closed or died and all it sent was received). */
  get closed(): boolean {
    return this.#ending.called || this.#ended;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    try {
      this.#checkSend();
      return this.#whileWaiting(
        this.queue.send(this.#sendType, encodeForChannel(this.#codec, message, 'a SysvChannel'), options),
      ).catch(this.#mapRemoved);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  trySend(message: T): boolean {
    this.#checkSend();
    try {
      return this.queue.trySend(this.#sendType, encodeForChannel(this.#codec, message, 'a SysvChannel'));
    } catch (error) {
      return this.#mapRemoved(error);
    }
  }

  receive(options?: ReceiveOptions): Promise<T> {
    try {
      this.#checkReceive();
    } catch (error) {
      return Promise.reject(error);
    }
    const selector = options === undefined ? this.#receiveSelector : { ...options, type: this.#receiveType };
    return this.#whileWaiting(this.queue.receive(selector)).then(this.#decodeMessage, this.#mapClosed);
  }

  tryReceive(): T | undefined {
    this.#checkReceive();
    let message: SysvMessage | undefined;
    try {
      message = this.queue.tryReceive(this.#receiveSelector);
    } catch (error) {
      throw this.#mapClosed(error);
    }
    return message === undefined ? undefined : this.#decode(message.data);
  }

  /**
   * Graceful: pending receives reject with `ClosedError`; sends waiting for room go in first (or fail); unread
   * messages to this end are dropped; the other end is told (an empty message); the last end to close removes
   * the queue (System V has no unlink that spares the open ends: removing it drops what the other end has yet to
   * read). All of it within `lingerTimeout` (default 2000 ms): a peer that does not read makes the sends still
   * waiting reject with `ClosedError`, and gets no end marker. Never hangs. Idempotent.
   */
  close(): Promise<void> {
    const until = performance.now() + this.#lingerMs;
    return this.#ending.close(
      async () => {
        this.#failReceives(new ClosedError());
        await this.queue[sendsSettled]();
      },
      () => this.#release(Math.max(0, until - performance.now())),
    );
  }

  /**
   * Immediate: waiting calls reject with `error` (default `ClosedError`), nothing more is sent, and this end
   * releases its unit (the other end sees it gone); the queue is removed at once if the other end is gone
   * already, else left for it to remove.
   */
  destroy(error?: Error): void {
    this.#ending.destroy(() => {
      this.queue.fail(error ?? new ClosedError());
      return this.#release(undefined);
    });
  }

  /** `linger`: the ms a graceful close has left for its end marker; undefined for destroy (no marker). */
  async #release(linger: number | undefined): Promise<void> {
    this.#released = true;
    this.#monitor?.stop();
    const q = this.queue;
    q.fail(new ClosedError());
    if (!this.#peerGone && this.#peerSeen && !this.#peerAlive()) this.#peerGone = true;
    if (this.#peerGone) this.#peerClosed = true; // nobody is left to read or remove: remove it all now
    let removed = false;
    try {
      // Nobody will read what was sent to this end; an end marker among it means the other end closed first.
      for (let i = 0; i < 100_000 && !this.#peerClosed; i++) {
        const m = q.tryReceive(this.#receiveSelector);
        if (m === undefined) break;
        if (m.data.length === 0) this.#peerClosed = true;
      }
      // Nothing left for the other end to read: remove the queue now (its receives end with ClosedError). Else
      // leave an end marker after what it has to read, and the queue for it to remove.
      if (!this.#peerClosed && q.stat().messages === 0) this.#peerClosed = true;
      else if (!this.#peerClosed && linger !== undefined)
        await q.send(this.#sendType, EOF, { timeout: linger }).catch(() => {});
    } catch (error) {
      removed = isIpcError(error) && error.code === 'IPCX_ERR_CLOSED'; // removed under us
    }
    if (this.#peerClosed && !removed) {
      try {
        sysv.msg.remove(q.id);
      } catch {
        // removed already
      }
    }
    const live = this.#liveness;
    if (live !== undefined) {
      try {
        if (this.#peerClosed) sysv.sem.remove(live.id);
        else sysv.sem.tryOp(live.id, [{ index: live.mine, delta: -1, undo: true }]); // our unit, and its undo, go
      } catch {
        // removed already
      }
      if (this.#peerClosed) live.registration?.unregister();
    }
    if (!this.#peerClosed && q.created) q.disownOnClose();
    q.destroy();
  }

  /**
   * Before each send: a message to an end that closed or died would wait in a queue nobody reads, so the other
   * end's unit is read (one semctl) and a free one is PeerGoneError.
   */
  #checkSend(): void {
    if (this.#ending.called) throw new ClosedError();
    if (this.#peerClosed) throw new PeerGoneError('peer (it closed the channel)');
    if (!this.#peerGone && !this.#peerAlive()) this.#peerGone = true;
    if (this.#peerGone) throw this.#goneError();
  }

  #checkReceive(): void {
    if (this.#ending.called) throw new ClosedError();
    if (this.#peerClosed) throw new ClosedError('channel (closed by the peer)');
    if (this.#ended) throw this.#goneError();
  }

  /** Rejects the waiting receives of this end (only: its sends wait on the same queue). */
  #failReceives(error: unknown): void {
    this.queue[failReceives](error);
  }

  /** True while the other end's unit is held; the first time it is, that end counts as seen. No liveness: true. */
  #peerAlive(): boolean {
    const live = this.#liveness;
    if (live === undefined) return true;
    let value: number;
    try {
      value = sysv.sem.getValue(live.id, live.peer);
    } catch {
      return !this.#peerSeen; // the set was removed: by the other end's close (its queue goes too) or by hand
    }
    // Odd: the unit is held. Above 0: that end was here (an opener also adds 2 without undo, which stays when
    // it goes, so that a creator that never saw its unit held still learns that it came and went).
    if (value > 0) this.#peerSeen = true;
    return (value & 1) === 1 || !this.#peerSeen;
  }

  #checkPeer(): void {
    if (this.#released || this.#monitor === undefined || this.#monitor.waits === 0) return;
    if (!this.#peerGone) {
      if (this.#peerAlive()) return;
      this.#peerGone = true;
    }
    // What the other end sent before it went is still delivered: waits fail once the queue is empty.
    try {
      if (this.queue.stat().messages > 0) return;
    } catch {
      return; // removed: the waits see it themselves
    }
    this.#ended = true;
    this.queue.fail(this.#goneError());
  }

  #goneError(): PeerGoneError {
    return new PeerGoneError(`the other end of System V channel ${this.queue.id} (its process died)`);
  }

  readonly #decodeMessage = (message: SysvMessage): T => this.#decode(message.data);

  #whileWaiting<R>(wait: Promise<R>): Promise<R> {
    return this.#monitor === undefined ? wait : this.#monitor.around(wait);
  }

  /** The queue was removed (the other end closed with nothing left for us, or someone ran ipcrm): the channel ended. */
  #removed(error: unknown): boolean {
    if (!isIpcError(error) || error.code !== 'IPCX_ERR_CLOSED' || this.#ending.called) return false;
    this.#ended = true;
    this.#peerClosed = true;
    return true;
  }

  readonly #mapClosed = (error: unknown): never => {
    if (this.#removed(error)) throw new ClosedError('channel (its queue was removed)', { cause: error });
    throw error;
  };

  /** A send into a removed queue: the other end closed, so PeerGoneError (nothing is silently dropped). */
  readonly #mapRemoved = (error: unknown): never => {
    if (this.#removed(error))
      throw new PeerGoneError('peer (it closed the channel and removed its queue)', { cause: error });
    throw error;
  };

  #decode(data: Uint8Array): T {
    if (data.length === 0) {
      this.#peerClosed = true;
      this.#ended = true;
      this.queue.fail(new ClosedError('channel (closed by the peer)'));
      throw new ClosedError('channel (closed by the peer)');
    }
    return this.#codec.decode(data);
  }
}

function checkTypes(types: readonly [number, number] | undefined): [number, number] {
  if (types === undefined) return [1, 2];
  if (
    !Array.isArray(types) ||
    types.length !== 2 ||
    !types.every((t) => Number.isSafeInteger(t) && t >= 1) ||
    types[0] === types[1]
  ) {
    throw new RangeError('types must be two different message types (integers from 1 to 2^53 - 1)');
  }
  return [types[0]!, types[1]!];
}

function semError(what: string, error: unknown): Error {
  if ((error as NodeJS.ErrnoException).code === 'EEXIST') return new AlreadyExistsError(what, { cause: error });
  return fromSystemError(what, error);
}

/** The creating end's liveness set: same key as the queue, 2 semaphores, this end's unit taken with SEM_UNDO. */
function createLiveness(key: number, mode: number): Liveness {
  const what = `System V channel liveness semaphores (key 0x${(key >>> 0).toString(16).padStart(8, '0')})`;
  let id: number;
  try {
    id = sysv.sem.get(key, 2, sysvConstants.IPC_CREAT | sysvConstants.IPC_EXCL | mode);
  } catch (error) {
    throw semError(what, error);
  }
  const registration = registerKernelObject({
    kind: 'sysv-sem',
    name: `key 0x${(key >>> 0).toString(16).padStart(8, '0')}`,
    owner: '@ipcx/mq',
    unlink: () => {
      try {
        sysv.sem.remove(id);
      } catch {
        // removed already
      }
    },
  });
  sysv.sem.tryOp(id, [{ index: 0, delta: 1, undo: true }]);
  return { id, mine: 0, peer: 1, registration };
}

/** The opening end's: the creator's set if there is one (a C creator makes none: then no liveness). */
function openLiveness(key: number, mode: number): Liveness | undefined {
  const what = `System V channel liveness semaphores (key 0x${(key >>> 0).toString(16).padStart(8, '0')})`;
  let id: number;
  try {
    id = sysv.sem.get(key, 0, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw semError(what, error);
  }
  let stat;
  try {
    stat = sysv.sem.stat(id);
  } catch (error) {
    throw semError(what, error);
  }
  if (stat.count !== 2) return undefined; // not ours
  checkAdoptable(what, stat, mode);
  if ((sysv.sem.getValue(id, 1) & 1) === 1)
    throw new AlreadyExistsError(
      `the opening end of System V channel key 0x${(key >>> 0).toString(16)} (another process has it open)`,
    );
  // The unit (+1, undone by the kernel when this process dies) and the mark that an opener came (+2, kept).
  sysv.sem.tryOp(id, [
    { index: 1, delta: 1, undo: true },
    { index: 1, delta: 2, undo: false },
  ]);
  return { id, mine: 1, peer: 0, registration: undefined };
}
