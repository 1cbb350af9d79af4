import { AbstractChannel } from './abstract-channel.js';
import type { Channel, ReceiveOptions, SendOptions } from './channel.js';
import { copyBytes, msgpackCodec, type Codec } from './codec.js';
import { ClosedError, PeerGoneError, TooLargeError } from './errors.js';
import { Inbox } from './inbox.js';
import { waitFor, type Settle } from './wait.js';

/** Options of `memoryChannelPair`. */
export interface MemoryChannelOptions<T> {
  /** Messages one end holds unreceived before the other end's `send` waits. Default 64. */
  capacity?: number;
  /** Default `msgpackCodec`: messages are encoded, so nothing is shared between the two ends. */
  codec?: Codec<T>;
  /** Largest encoded message. Default 1 MiB. */
  maxMessageBytes?: number;
}

interface PendingSend {
  bytes: Uint8Array;
  settle: Settle<void>;
}

class MemoryChannel<T> extends AbstractChannel<T> {
  peer!: MemoryChannel<T>;
  readonly inbox = new Inbox<Uint8Array>();
  readonly #pending = new Set<PendingSend>();
  #closed = false;

  constructor(
    private readonly codec: Codec<T>,
    private readonly capacity: number,
    private readonly maxMessageBytes: number,
  ) {
    super();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    const bytes = this.#encode(message);
    if (this.#pending.size === 0 && this.#hasRoom()) {
      this.peer.inbox.push(bytes);
      return;
    }
    return waitFor<void>('send', options, (settle) => {
      const entry = { bytes, settle };
      this.#pending.add(entry);
      return () => this.#pending.delete(entry);
    });
  }

  trySend(message: T): boolean {
    const bytes = this.#encode(message);
    if (this.#pending.size > 0 || !this.#hasRoom()) return false;
    this.peer.inbox.push(bytes);
    return true;
  }

  async receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closed) throw new ClosedError();
    const bytes = await this.inbox.receive('receive', options);
    this.peer.flushPending();
    return this.codec.decode(bytes);
  }

  tryReceive(): T | undefined {
    if (this.#closed) throw new ClosedError();
    const bytes = this.inbox.shift();
    if (bytes === undefined) return undefined;
    this.peer.flushPending();
    return this.codec.decode(bytes);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ClosedError();
    this.inbox.fail(closed);
    this.#rejectPending(closed);
    this.peer.inbox.end(new ClosedError('channel (closed by the peer)'));
    this.peer.peerClosed();
  }

  /** Moves waiting sends into the peer's inbox while it has room. */
  flushPending(): void {
    for (const entry of this.#pending) {
      if (!this.#hasRoom()) return;
      this.#pending.delete(entry);
      this.peer.inbox.push(entry.bytes);
      entry.settle.resolve();
    }
  }

  peerClosed(): void {
    this.#rejectPending(new PeerGoneError('peer (it closed the channel)'));
  }

  #rejectPending(error: Error): void {
    for (const entry of this.#pending) entry.settle.reject(error);
    this.#pending.clear();
  }

  #hasRoom(): boolean {
    return this.peer.inbox.size < this.capacity;
  }

  #encode(message: T): Uint8Array {
    if (this.#closed) throw new ClosedError();
    if (this.peer.closed) throw new PeerGoneError('peer (it closed the channel)');
    const encoded = this.codec.encode(message);
    if (encoded.length > this.maxMessageBytes) {
      throw new TooLargeError('message', encoded.length, this.maxMessageBytes);
    }
    // The codec may reuse its buffer (and rawCodec passes the caller's bytes): keep a copy.
    return copyBytes(encoded); // Buffer#slice would be a view of the codec's buffer
  }
}

/**
 * Two connected in-memory channel ends in one thread: the reference transport. Messages go through
 * the codec, so each end gets its own copy, and each direction holds at most `capacity` messages.
 *
 * @example
 * ```ts
 * const [a, b] = memoryChannelPair();
 * await a.send({ n: 1 });
 * console.log(await b.receive()); // { n: 1 }
 * ```
 */
export function memoryChannelPair<T = unknown>(options: MemoryChannelOptions<T> = {}): [Channel<T>, Channel<T>] {
  const capacity = options.capacity ?? 64;
  const maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 0) {
    throw new RangeError(`maxMessageBytes must be an integer >= 0, got ${maxMessageBytes}`);
  }
  const codec = options.codec ?? (msgpackCodec as Codec<T>);
  const a = new MemoryChannel<T>(codec, capacity, maxMessageBytes);
  const b = new MemoryChannel<T>(codec, capacity, maxMessageBytes);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
