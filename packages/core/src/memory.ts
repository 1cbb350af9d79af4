import { AbstractChannel } from './abstract-channel.js';
import type { ReceiveOptions, SendOptions } from './channel.js';
import { copyBytes, msgpackCodec, type Codec } from './codec.js';
import { ClosedError, PeerGoneError, TooLargeError, type IpcError } from './errors.js';
import { Inbox } from './inbox.js';
import { checkCodec, checkInteger } from './options.js';
import { SendQueue } from './send-queue.js';
import { NO_MESSAGE, type WaitForNext } from './wait.js';

/** Options of `MemoryChannel.pair`. */
export interface MemoryChannelOptions<T> {
  /** Messages one end holds unreceived before the other end's `send` waits. Default 64. */
  capacity?: number | undefined;
  /** Default `msgpackCodec`: messages are encoded, so nothing is shared between the two ends. */
  codec?: Codec<T> | undefined;
  /** Largest encoded message. Default 1 MiB. */
  maxMessageBytes?: number | undefined;
}

const peerClosed = (): PeerGoneError => new PeerGoneError('peer (it closed the channel)');

/**
 * One end of a pair of connected in-memory channels in one thread: the reference transport. Messages go through
 * the codec, so each end gets its own copy, and each direction holds at most `capacity` messages.
 *
 * `close()` is graceful: sends still waiting for room are handed to the peer, which receives everything, then
 * `ClosedError`. `destroy(error?)` drops the waiting sends (they
 * reject with `error`, else `ClosedError`). After the peer closed, `send` rejects with `PeerGoneError`, and
 * `closed` turns true once everything the peer sent was received.
 *
 * @example
 * ```ts
 * const [a, b] = MemoryChannel.pair();
 * await a.send({ n: 1 });
 * console.log(await b.receive()); // { n: 1 }
 * ```
 */
export class MemoryChannel<T = unknown> extends AbstractChannel<T> {
  #peer!: MemoryChannel<T>;
  readonly #inbox = new Inbox<Uint8Array>();
  readonly #queue = new SendQueue<Uint8Array>();
  readonly #codec: Codec<T>;
  readonly #capacity: number;
  readonly #maxMessageBytes: number;
  #closed = false;
  /** The peer called close() or destroy(): nothing more may be sent to it. */
  #peerGone = false;
  #closing: Promise<void> | undefined;

  private constructor(codec: Codec<T>, capacity: number, maxMessageBytes: number) {
    super();
    this.#codec = codec;
    this.#capacity = capacity;
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Two connected ends. */
  static pair<T = unknown>(options: MemoryChannelOptions<T> = {}): [MemoryChannel<T>, MemoryChannel<T>] {
    const capacity = checkInteger('capacity', options.capacity, { min: 1, default: 64 });
    const maxMessageBytes = checkInteger('maxMessageBytes', options.maxMessageBytes, { min: 0, default: 1024 * 1024 });
    const codec = checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
    const a = new MemoryChannel<T>(codec, capacity, maxMessageBytes);
    const b = new MemoryChannel<T>(codec, capacity, maxMessageBytes);
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  /** True once this end was closed or destroyed, or the peer ended and everything it sent was received. */
  get closed(): boolean {
    return this.#closed || (this.#inbox.ended && this.#inbox.size === 0);
  }

  send(message: T, options?: SendOptions): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(message);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#queue.size === 0 && this.#hasRoom()) {
      this.#peer.#inbox.push(bytes);
      return Promise.resolve();
    }
    return this.#queue.enqueue(bytes, options);
  }

  trySend(message: T): boolean {
    const bytes = this.#encode(message);
    if (this.#queue.size > 0 || !this.#hasRoom()) return false;
    this.#peer.#inbox.push(bytes);
    return true;
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (this.#inbox.size > 0) {
      try {
        return Promise.resolve(this.#take());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#inbox.receive('receive', options, this.#decoder);
  }

  tryReceive(): T | undefined {
    const message = this.poll();
    return message === NO_MESSAGE ? undefined : message;
  }

  protected override waitForNext(...[received, end]: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>> {
    return this.#inbox.receive('receive', undefined, (bytes) => received(this.#decode(bytes)), end);
  }

  protected override poll(): T | typeof NO_MESSAGE {
    if (this.#closed) throw new ClosedError();
    if (this.#inbox.size === 0) {
      this.#inbox.shift(); // throws the end error once the peer ended and everything was received
      return NO_MESSAGE;
    }
    return this.#take();
  }

  /**
   * Closes this end gracefully: receives reject with `ClosedError` at once; sends still waiting for room are
   * handed to the peer (it holds more than `capacity` for a moment rather than lose them), then the peer is told.
   * Idempotent: the same promise when called again.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#inbox.fail(new ClosedError());
    this.#peer.#peerGone = true;
    this.#peer.#queue.rejectAll(peerClosed());
    const inbox = this.#peer.#inbox;
    this.#queue.flush((bytes) => {
      inbox.push(bytes);
      return true;
    });
    inbox.end(new ClosedError('channel (closed by the peer)'));
    this.#closing = Promise.resolve();
    return this.#closing;
  }

  /** Closes this end now: sends still waiting reject with `error` (else `ClosedError`) and are dropped. Idempotent. */
  destroy(error?: IpcError): void {
    if (this.#closed && this.#queue.size === 0) return;
    this.#closed = true;
    const reason = error ?? new ClosedError();
    this.#inbox.fail(reason);
    this.#peer.#peerGone = true;
    this.#peer.#queue.rejectAll(peerClosed());
    this.#queue.rejectAll(reason);
    this.#closing ??= Promise.resolve();
    this.#peer.#inbox.end(new ClosedError('channel (closed by the peer)'));
  }

  #take(): T {
    const bytes = this.#inbox.shift()!;
    // Wake a sender waiting for room once half the capacity is free, not at every message: it then refills in a
    // batch (trySend) instead of one send, one wake-up at a time.
    if (this.#inbox.size * 2 <= this.#capacity) this.#peer.#flush();
    return this.#decode(bytes);
  }

  readonly #decoder = (bytes: Uint8Array): T => this.#decode(bytes);

  #decode(bytes: Uint8Array): T {
    return this.#codec.decode(bytes);
  }

  /** Moves waiting sends into the peer's inbox while it has room. */
  #flush(): void {
    if (this.#queue.size > 0)
      this.#queue.flush((bytes) => {
        if (!this.#hasRoom()) return false;
        this.#peer.#inbox.push(bytes);
        return true;
      });
  }

  #hasRoom(): boolean {
    return this.#peer.#inbox.size < this.#capacity;
  }

  #encode(message: T): Uint8Array {
    if (this.#closed) throw new ClosedError();
    if (this.#peerGone) throw peerClosed();
    const encoded = this.#codec.encode(message);
    if (encoded.length > this.#maxMessageBytes) {
      throw new TooLargeError('message', encoded.length, this.#maxMessageBytes);
    }
    // The codec may reuse its buffer (and rawCodec passes the caller's bytes): keep a copy.
    return copyBytes(encoded); // Buffer#slice would be a view of the codec's buffer
  }
}
