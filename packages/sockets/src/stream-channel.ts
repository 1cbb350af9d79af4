import type { Socket } from 'node:net';
import {
  AbstractChannel,
  BadFrameError,
  ClosedError,
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  Inbox,
  type FrameBudget,
  MAX_FRAME_LENGTH,
  PeerGoneError,
  TooLargeError,
  UnsupportedError,
  fromSystemError,
  isIpcError,
  msgpackCodec,
  waitFor,
  type Codec,
  type IpcError,
  type ReceiveOptions,
  type SendOptions,
  type Settle,
  type WaitOptions,
  MAX_TIMEOUT_MS,
  copyBytes,
} from '@ipcx/core';
import { FrameWriter } from './internal/frame-writer.js';
import { SizeQueue } from './internal/size-queue.js';
import { checkInteger } from './internal/options.js';
import { peerProcessDied } from './internal/peer-exit.js';
import { observeEnd } from './internal/observe-end.js';
import { StreamSpin, spinMicroseconds } from './internal/spin-read.js';

/** Options of every length-framed stream channel (Unix stream sockets, TCP, FIFOs, child pipes). */
export interface StreamChannelOptions<T = unknown> {
  /** Turns messages into frame payloads and back. Default `msgpackCodec`. */
  codec?: Codec<T> | undefined;
  /**
   * The largest payload sent or received. A larger send is `TooLargeError`; a peer announcing a larger frame
   * gets its connection closed with `FrameTooLargeError`. Default 1 MiB. A frame in progress is held in memory
   * that grows as its bytes arrive.
   */
  maxFrameBytes?: number | undefined;
  /**
   * Shared by several channels (a server gives one to all its clients, see `maxInProgressBytes`): the bytes of
   * frames in progress are taken from it as they arrive; a channel whose frame does not fit is closed with
   * `LimitError`. Default: none (one frame of at most `maxFrameBytes` per channel).
   */
  frameBudget?: FrameBudget | undefined;
  /**
   * Bytes accepted by `send` but not yet taken by the kernel above which `trySend` returns false and `send`
   * waits. Default 256 KiB.
   */
  highWaterMark?: number | undefined;
  /**
   * Bytes of received messages, not yet taken by `receive`, at which the channel stops reading from the socket;
   * the kernel buffer then fills and the peer's `send` waits. Default 64 KiB.
   */
  receiveBufferBytes?: number | undefined;
  /**
   * After `close` has handed everything to the kernel and sent FIN, how long the connection may stay half open
   * waiting for the peer's FIN (reading and dropping what still arrives) before it is torn down. Default 2000 ms.
   */
  lingerTimeout?: number | undefined;
  /**
   * Microseconds a `receive` that finds nothing buffered reads the socket in a bounded spin before it waits
   * for libuv: a peer that answers within it is read without the tens of microseconds a sleeping process takes
   * to wake. Adaptive: spins that keep finding nothing are skipped (an idle channel costs no CPU). Default 50;
   * 0 never spins. FIFOs and pipes never spin.
   */
  spinMicroseconds?: number | undefined;
}

/** Which ways a stream channel carries messages: a FIFO end carries one way only. */
export type StreamDirection = 'both' | 'send' | 'receive';

interface PendingSend {
  readonly payload: Uint8Array;
  readonly settle: Settle<void>;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
const DEFAULT_RECEIVE_BUFFER_BYTES = 64 * 1024;
const DEFAULT_LINGER_TIMEOUT = 2000;

/** Checks and fills in the options of a stream channel. */
export function streamChannelDefaults<T>(options: StreamChannelOptions<T> = {}): Required<{
  [K in Exclude<keyof StreamChannelOptions<T>, 'frameBudget'>]: NonNullable<StreamChannelOptions<T>[K]>;
}> {
  const codec = options.codec ?? (msgpackCodec as Codec<T>);
  if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function' || typeof codec.encodeInto !== 'function') {
    throw new TypeError('codec must be a Codec (name, encode, encodeInto, decode)');
  }
  return {
    codec,
    maxFrameBytes: checkInteger('maxFrameBytes', options.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 0, MAX_FRAME_LENGTH),
    highWaterMark: checkInteger('highWaterMark', options.highWaterMark, DEFAULT_HIGH_WATER_MARK, 1),
    receiveBufferBytes: checkInteger('receiveBufferBytes', options.receiveBufferBytes, DEFAULT_RECEIVE_BUFFER_BYTES, 1),
    lingerTimeout: checkInteger('lingerTimeout', options.lingerTimeout, DEFAULT_LINGER_TIMEOUT, 0, MAX_TIMEOUT_MS),
    spinMicroseconds: spinMicroseconds(options.spinMicroseconds),
  };
}

/**
 * A `Channel` over a connected byte stream (a `net.Socket`: Unix stream socket, TCP, a pipe or a FIFO), one
 * length-prefixed frame per message (4-byte big-endian length + the codec's payload; see the README).
 *
 * - `send` encodes straight into a batch that is written once per tick; it resolves once the message is
 *   accepted (queued below `highWaterMark`), and waits, delivering nothing if it times out, while the kernel
 *   buffer and the queue are full. `trySend` returns false instead of waiting.
 * - Receiving reads ahead up to `receiveBufferBytes` of unreceived messages, then stops reading, so a slow
 *   receiver pushes back on the sender through the kernel.
 * - The peer closing (EOF at a frame boundary) ends `receive` with `ClosedError` after the buffered messages;
 *   EOF inside a frame is `BadFrameError`, a reset or broken pipe `PeerGoneError`, an oversized length prefix
 *   `FrameTooLargeError` and undecodable bytes `BadFrameError`; in each case the connection is closed, and
 *   `send` then fails with `PeerGoneError` (or that error).
 *
 * `P` is what is known about the peer (`peer`): Unix credentials, a TCP address, a child process.
 *
 * @example
 * ```ts
 * const channel = new StreamChannel(socket, { codec: jsonCodec });
 * await channel.send({ hello: 'world' });
 * console.log(await channel.receive({ timeout: 1000 }));
 * ```
 */
export class StreamChannel<T = unknown, P = undefined> extends AbstractChannel<T> {
  /** What is known about the other end. */
  readonly peer: P;
  readonly #socket: Socket;
  readonly #codec: Codec<T>;
  readonly #writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #inbox = new Inbox<T>();
  /** Sizes of the messages in the inbox, to know when to pause and resume reading. */
  readonly #sizes = new SizeQueue();
  #paused = false;
  readonly #pending = new Set<PendingSend>();
  readonly #highWaterMark: number;
  readonly #receiveBufferBytes: number;
  readonly #lingerTimeout: number;
  readonly #direction: StreamDirection;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Why sends can no longer go out (the peer left or the connection failed); undefined while it is up. */
  #sendError: IpcError | undefined;
  #ended = false;
  /** Told once how the connection ended when it was not a clean close by either side. */
  #endObserver: ((error: IpcError) => void) | undefined;
  #endReported = false;
  /** The bounded spin of a receive that finds nothing buffered (undefined: never spins). */
  readonly #spin: StreamSpin | undefined;

  /**
   * Wraps a connected socket; the channel owns it from now on. `direction` limits a one-way stream (FIFO).
   */
  constructor(socket: Socket, options: StreamChannelOptions<T> = {}, peer?: P, direction: StreamDirection = 'both') {
    super();
    const o = streamChannelDefaults(options);
    this.#socket = socket;
    this.#codec = o.codec;
    this.#highWaterMark = o.highWaterMark;
    this.#receiveBufferBytes = o.receiveBufferBytes;
    this.#lingerTimeout = o.lingerTimeout;
    this.#direction = direction;
    this.peer = peer as P;
    this.#decoder = new FrameDecoder({ maxFrameBytes: o.maxFrameBytes, budget: options.frameBudget });
    this.#writer = new FrameWriter(socket, o.maxFrameBytes, () => this.#pump());
    if (o.spinMicroseconds > 0 && direction !== 'send') {
      this.#spin = new StreamSpin(socket, o.spinMicroseconds, this.#onData, (error) => {
        this.#onError(error);
        socket.destroy();
      });
    }
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    if (direction === 'send') this.#inbox.end(new UnsupportedError('receiving on the sending end of a one-way stream'));
    if (socket.destroyed) this.#onClose(); // handed over already dead: its 'close' will not come again
    // A server accepts with pauseOnConnect, so that nothing is read before the peer is authorized.
    if (direction !== 'send' && socket.isPaused()) socket.resume();
  }

  /** Internal: sets the observer told once how the connection ended, when it ended with an error. */
  [observeEnd](observer: (error: IpcError) => void): void {
    this.#endObserver = observer;
  }

  /** True once `close` was called or the connection ended (messages that arrived before may still be received). */
  get closed(): boolean {
    return this.#closed || this.#ended;
  }

  /** Bytes accepted by `send` and not yet taken by the kernel. */
  get writableLength(): number {
    return this.#writer.queued;
  }

  /** The underlying socket, for options such as `setKeepAlive`; reading and writing it breaks the framing. */
  get socket(): Socket {
    return this.#socket;
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    this.#checkSend();
    if (this.#pending.size === 0 && this.#writer.queued < this.#highWaterMark) {
      this.#writer.appendMessage(this.#codec, message);
      return;
    }
    // The codec may reuse its buffer: keep a copy of the payload while waiting for room.
    const payload = copyBytes(this.#codec.encode(message));
    return this.#enqueue(payload, options);
  }

  trySend(message: T): boolean {
    this.#checkSend();
    if (this.#pending.size > 0 || this.#writer.queued >= this.#highWaterMark) return false;
    this.#writer.appendMessage(this.#codec, message);
    return true;
  }

  /**
   * Sends a payload that is already encoded with this channel's codec (used by `broadcast`, which encodes
   * once for every client). Same waiting, limits and errors as `send`.
   */
  sendEncoded(payload: Uint8Array, options?: WaitOptions): Promise<void> {
    try {
      this.#checkSend();
      if (this.#pending.size === 0 && this.#writer.queued < this.#highWaterMark) {
        this.#writer.appendFrame(payload);
        return Promise.resolve();
      }
      return this.#enqueue(payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (this.#inbox.size > 0 || this.#spinRead()) return Promise.resolve(this.#taken(this.#inbox.shift() as T));
    return this.#inbox.receive('receive', options);
  }

  /**
   * Spins on the socket (see `spinMicroseconds`) when nobody waits already; true once a message is buffered.
   * What `send` batched for the end of the tick goes out first: it is usually what the peer answers.
   */
  #spinRead(): boolean {
    if (this.#spin === undefined || this.#inbox.waiting > 0 || this.#ended) return false;
    this.#writer.flush();
    return this.#spin.run(this.#arrived) && this.#inbox.size > 0;
  }

  readonly #arrived = (): boolean => this.#inbox.size > 0 || this.#ended;

  tryReceive(): T | undefined {
    if (this.#closed) throw new ClosedError();
    if (this.#inbox.size === 0) {
      this.#inbox.shift(); // throws the end error once the connection ended and everything was received
      return undefined;
    }
    return this.#taken(this.#inbox.shift() as T);
  }

  /**
   * Closes this end gracefully: what `send` accepted is handed to the kernel and followed by FIN; resolves once
   * that is done (or `lingerTimeout` passed because the peer stopped reading). Pending receives and waiting
   * sends reject with `ClosedError`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const closed = new ClosedError();
    this.#inbox.fail(closed);
    this.#sizes.clear();
    this.#rejectPending(closed);
    this.#decoder.release();
    this.#closing = this.#shutdown();
    return this.#closing;
  }

  /** Tears the connection down at once, dropping what was not yet written. */
  destroy(error?: IpcError): void {
    if (!this.#closed) {
      this.#closed = true;
      const closed = error ?? new ClosedError();
      this.#inbox.fail(closed);
      this.#rejectPending(closed);
      this.#closing ??= Promise.resolve();
    }
    this.#writer.discard();
    this.#decoder.release();
    this.#socket.destroy();
  }

  async #shutdown(): Promise<void> {
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (this.#sendError !== undefined || this.#direction === 'receive' || socket.writableEnded) {
      // Nothing can or need go out: the peer left, the connection failed, or this end only reads.
      this.#writer.discard();
      socket.destroy();
      return;
    }
    this.#writer.flush();
    // Keep reading (and dropping) so that a peer still sending is not left blocked against a full buffer.
    if (this.#paused) socket.resume();
    socket.end();
    // Usually the kernel took everything synchronously and there is nothing to wait for; otherwise wait until
    // it has (or the peer stopped reading for lingerTimeout), so that a process may exit right after close.
    if (socket.writableLength > 0) await this.#finished(socket);
    if (socket.destroyed) return;
    if (socket.readableEnded) {
      socket.destroy();
      return;
    }
    // Half open: our FIN is out; the socket is destroyed when the peer's FIN arrives (allowHalfOpen is off),
    // or after the linger time. Destroying at once could turn a TCP close into a reset that loses data in flight.
    const timer = setTimeout(() => socket.destroy(), this.#lingerTimeout);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  #finished(socket: Socket): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('finish', done);
        socket.off('close', done);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        socket.destroy();
        done();
      }, this.#lingerTimeout);
      socket.once('finish', done);
      socket.once('close', done);
    });
  }

  #checkSend(): void {
    if (this.#closed) throw new ClosedError();
    if (this.#direction === 'receive') throw new UnsupportedError('sending on the receiving end of a one-way stream');
    if (this.#sendError !== undefined) throw this.#sendError;
  }

  #enqueue(payload: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    const max = this.#decoder.maxFrameBytes;
    if (payload.length > max) return Promise.reject(new TooLargeError('message', payload.length, max));
    return waitFor<void>('send', options, (settle) => {
      const entry: PendingSend = { payload, settle };
      this.#pending.add(entry);
      return () => this.#pending.delete(entry);
    });
  }

  /** Moves waiting sends into the batch, oldest first, while there is room. */
  #pump(): void {
    for (const entry of this.#pending) {
      if (this.#writer.queued >= this.#highWaterMark) return;
      this.#pending.delete(entry);
      try {
        this.#writer.appendFrame(entry.payload);
        entry.settle.resolve();
      } catch (error) {
        entry.settle.reject(error);
      }
    }
  }

  #rejectPending(error: IpcError): void {
    for (const entry of this.#pending) entry.settle.reject(error);
    this.#pending.clear();
  }

  #taken(message: T): T {
    if (this.#sizes.shift()) {
      if (this.#paused && this.#sizes.bytes <= this.#receiveBufferBytes / 2 && !this.#closed) {
        this.#paused = false;
        this.#socket.resume();
      }
    }
    return message;
  }

  readonly #onFrame = (frame: Uint8Array): void => {
    const message = this.#codec.decode(frame, false);
    if (this.#inbox.waiting === 0) this.#sizes.push(frame.length + FRAME_HEADER_BYTES);
    this.#inbox.push(message);
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closed) return; // closing: drop what still arrives
    if (this.#inbox.waiting > 0) this.#spin?.policy.woke();
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (error) {
      this.#fail(isIpcError(error) ? error : new BadFrameError('the codec could not decode a payload', { cause: error }));
      return;
    }
    if (!this.#paused && this.#sizes.bytes >= this.#receiveBufferBytes) {
      this.#paused = true;
      this.#socket.pause();
    }
  };

  readonly #onEnd = (): void => {
    let error: IpcError = new ClosedError('channel (closed by the peer)');
    try {
      this.#decoder.end();
      // EOF is all a socket says, whether the peer closed or its process was killed (the kernel closes a
      // dead process's sockets). Over a Unix socket the peer's pid tells them apart: a peer that died is
      // PeerGoneError, as the Channel contract promises.
      if (peerProcessDied(this.peer)) error = new PeerGoneError('peer (its process died)');
    } catch (e) {
      error = e as IpcError;
    }
    this.#ended = true;
    this.#inbox.end(error);
    this.#stopSending(error.code === 'IPCX_ERR_PEER_GONE' ? error : new PeerGoneError('peer (it closed the connection)', { cause: error }));
    this.#report(error);
  };

  readonly #onError = (error: Error): void => {
    const typed = fromSystemError('socket', error);
    this.#ended = true;
    this.#inbox.end(typed);
    this.#stopSending(typed);
    this.#report(typed);
  };

  readonly #onClose = (): void => {
    this.#ended = true;
    this.#decoder.release();
    const gone = new PeerGoneError('peer (the connection closed)');
    this.#inbox.end(gone);
    this.#stopSending(gone);
    this.#report(gone);
  };

  /** Bad bytes from the peer: keep what arrived before for `receive`, then fail; drop the connection. */
  #fail(error: IpcError): void {
    this.#ended = true;
    this.#inbox.end(error);
    this.#stopSending(error);
    this.#decoder.release();
    this.#report(error);
    this.#socket.destroy();
  }

  /** Tells the observer, once, how a connection that this end did not close ended (not a clean close). */
  #report(error: IpcError): void {
    if (this.#endReported || this.#closed) return;
    this.#endReported = true;
    if (error.code === 'IPCX_ERR_CLOSED') return;
    try {
      this.#endObserver?.(error);
    } catch {
      // an observer must not break the channel
    }
  }

  #stopSending(error: IpcError): void {
    this.#sendError ??= error;
    this.#writer.discard();
    this.#rejectPending(this.#sendError);
  }
}
