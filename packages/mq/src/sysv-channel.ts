import {
  AbstractChannel,
  ClosedError,
  PeerGoneError,
  isIpcError,
  msgpackCodec,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import { sysv } from '@ipcx/native';
import { SysvMessageQueue, type SysvMessage, type SysvMessageQueueCreateOptions, type SysvMessageQueueOptions } from './sysv-queue.js';

/** Options of `SysvChannel.create` and `SysvChannel.open`. */
export interface SysvChannelOptions<T = unknown> extends SysvMessageQueueCreateOptions {
  /** Default `msgpackCodec`. Both ends must use the same codec. */
  codec?: Codec<T>;
  /**
   * The two message types the channel uses on its queue: [the type the creating end sends, the type the
   * opening end sends]. Both ends must pass the same pair. Default [1, 2]. Other types on the same queue are
   * left alone, so a queue can carry several channels, or a channel and other traffic.
   */
  types?: readonly [number, number];
}

// The end of a channel's stream: an empty message. msgpack never encodes to zero bytes; with a raw codec,
// empty messages are refused on a channel.
const EOF = new Uint8Array(0);

/**
 * A `Channel` over one System V message queue and a pair of message types: the creating end sends type
 * `types[0]` and receives `types[1]`, the opening end the reverse. Messages are encoded by a codec (msgpack by
 * default); with `rawCodec` a C program that sends and receives those types is a peer.
 *
 * Closing: an end whose queue holds nothing for the other end removes the queue at once (the other end's
 * receives then end with `ClosedError`). If messages for the other end wait, it leaves them with an end marker
 * (an empty message of its type) and the other end, having read them, removes the queue when it closes; the
 * queue also stays registered in the creating process, so that its shutdown removes it if the other end dies
 * first. A dead end is not noticed (a queue has no owner to watch): receives then end by `timeout` or `signal`.
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
  #closed = false;
  #peerClosed = false;

  private constructor(queue: SysvMessageQueue, codec: Codec<T> | undefined, sendType: number, receiveType: number) {
    super();
    this.queue = queue;
    this.#codec = codec ?? (msgpackCodec as Codec<T>);
    this.#sendType = sendType;
    this.#receiveType = receiveType;
    this.#receiveSelector = { type: receiveType };
  }

  /** Creates the queue (`AlreadyExistsError` if the key is taken) and returns the creating end. */
  static create<T = unknown>(options: SysvChannelOptions<T> = {}): SysvChannel<T> {
    const [a, b] = checkTypes(options.types);
    checkCodec(options.codec);
    const { codec, types: _, ...rest } = options;
    return new SysvChannel<T>(SysvMessageQueue.create(rest), codec, a, b);
  }

  /** Opens the other end of a channel made by `create` (by key, `path` + `id`, or the queue's `id`). */
  static open<T = unknown>(options: Omit<SysvChannelOptions<T>, 'maxBytes'>): SysvChannel<T> {
    const [a, b] = checkTypes(options.types);
    checkCodec(options.codec);
    const { codec, types: _, ...rest } = options;
    return new SysvChannel<T>(SysvMessageQueue.open(rest as SysvMessageQueueOptions), codec, b, a);
  }

  /** The largest encoded message. */
  get maxMessageBytes(): number {
    return this.queue.maxMessageBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    try {
      this.#checkSend();
      return this.queue.send(this.#sendType, this.#encode(message), options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  trySend(message: T): boolean {
    this.#checkSend();
    return this.queue.trySend(this.#sendType, this.#encode(message));
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (this.#peerClosed) return Promise.reject(new ClosedError('channel (closed by the peer)'));
    const selector = options === undefined ? this.#receiveSelector : { ...options, type: this.#receiveType };
    return this.queue.receive(selector).then(this.#decodeMessage, this.#mapClosed);
  }

  tryReceive(): T | undefined {
    if (this.#closed) throw new ClosedError();
    if (this.#peerClosed) throw new ClosedError('channel (closed by the peer)');
    let message: SysvMessage | undefined;
    try {
      message = this.queue.tryReceive(this.#receiveSelector);
    } catch (error) {
      throw this.#mapClosed(error);
    }
    return message === undefined ? undefined : this.#decode(message.data);
  }

  /**
   * Closes this end: pending receives reject with `ClosedError`; unread messages to this end are dropped; the
   * other end is told (an empty message, waiting at most a second for room); the last end to close removes the
   * queue. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const q = this.queue;
    q.fail(new ClosedError());
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
      else if (!this.#peerClosed) await q.send(this.#sendType, EOF, { timeout: 1000 }).catch(() => {});
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
    if (!this.#peerClosed && q.created) q.disownOnClose();
    await q.close();
  }

  #checkSend(): void {
    if (this.#closed) throw new ClosedError();
    if (this.#peerClosed) throw new PeerGoneError('peer (it closed the channel)');
  }

  #encode(message: T): Uint8Array {
    const bytes = this.#codec.encode(message);
    if (bytes.length === 0) throw new TypeError('an empty message cannot cross a System V channel (it marks the end)');
    return bytes;
  }

  readonly #decodeMessage = (message: SysvMessage): T => this.#decode(message.data);

  readonly #mapClosed = (error: unknown): never => {
    // The queue was removed: the other end closed last-first (or someone ran ipcrm).
    if (isIpcError(error) && error.code === 'IPCX_ERR_CLOSED' && !this.#closed) throw new ClosedError('channel (its queue was removed)', { cause: error });
    throw error;
  };

  #decode(data: Uint8Array): T {
    if (data.length === 0) {
      this.#peerClosed = true;
      this.queue.fail(new ClosedError('channel (closed by the peer)'));
      throw new ClosedError('channel (closed by the peer)');
    }
    return this.#codec.decode(data);
  }
}

function checkTypes(types: readonly [number, number] | undefined): [number, number] {
  if (types === undefined) return [1, 2];
  if (!Array.isArray(types) || types.length !== 2 || !types.every((t) => Number.isSafeInteger(t) && t >= 1) || types[0] === types[1]) {
    throw new RangeError('types must be two different message types (integers from 1 to 2^53 - 1)');
  }
  return [types[0]!, types[1]!];
}

function checkCodec(codec: Codec<unknown> | undefined): void {
  if (codec !== undefined && (typeof codec.encode !== 'function' || typeof codec.decode !== 'function')) throw new TypeError('codec must be a Codec');
}
