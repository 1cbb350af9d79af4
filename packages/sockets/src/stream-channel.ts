import type { Socket } from 'node:net';
import {
  BadFrameError,
  ClosedError,
  DEFAULT_MAX_FRAME_BYTES,
  type FrameBudget,
  PeerGoneError,
  TooLargeError,
  UnsupportedError,
  isIpcError,
  type Codec,
  type IpcError,
  type ReceiveOptions,
  type SendOptions,
  type WaitOptions,
  copyBytes,
} from '@ipcx/core';
import {
  AbstractChannel,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  Inbox,
  MAX_FRAME_LENGTH,
  fromSystemError,
} from '@ipcx/core/transport';
import { SendQueue, checkInteger, lingerOption, spinOption, type WaitForNext } from '@ipcx/core/transport';
import { FrameWriter } from './internal/frame-writer.js';
import { SizeQueue } from './internal/size-queue.js';
import { codecOption, type ConnectedOptions } from './internal/options.js';
import { ConnectionEnd } from './internal/connection-end.js';
import { peerProcessDied } from './internal/peer-exit.js';
import { observeEnd } from './internal/observe-end.js';
import { StreamSpin } from './internal/spin-read.js';
import { readDirectly } from './internal/direct-read.js';

/** Options of every length-framed stream channel (Unix stream sockets, TCP, FIFOs, child pipes). */
export interface StreamChannelOptions<T = unknown> extends ConnectedOptions<T> {
  /**
   * Shared by several channels (a server gives one to all its clients, see `maxInProgressBytes`): the bytes of
   * frames in progress are taken from it as they arrive; a channel whose frame does not fit is closed with
   * `LimitError`. Default: none (one frame of at most `maxMessageBytes` per channel).
   */
  frameBudget?: FrameBudget | undefined;
  /**
   * Bytes accepted by `send` but not yet taken by the kernel above which `trySend` returns false and `send`
   * waits. Default 256 KiB.
   */
  sendBufferBytes?: number | undefined;
  /**
   * After `close` has handed everything to the kernel and sent FIN, how long the connection may stay half open
   * waiting for the peer's FIN (reading and dropping what still arrives) before it is torn down. Default 2000 ms.
   */
  lingerTimeout?: number | undefined;
}

/** Which ways a stream channel carries messages: a FIFO end carries one way only. */
export type StreamDirection = 'both' | 'send' | 'receive';

const DEFAULT_SEND_BUFFER_BYTES = 256 * 1024;
const DEFAULT_RECEIVE_BUFFER_BYTES = 64 * 1024;

/** Checks and fills in the options of a stream channel. */
export function streamChannelDefaults<T>(options: StreamChannelOptions<T> = {}): Required<{
  [K in Exclude<keyof StreamChannelOptions<T>, 'frameBudget'>]: NonNullable<StreamChannelOptions<T>[K]>;
}> {
  return {
    codec: codecOption(options.codec),
    maxMessageBytes: checkInteger('maxMessageBytes', options.maxMessageBytes, {
      default: DEFAULT_MAX_FRAME_BYTES,
      min: 0,
      max: MAX_FRAME_LENGTH,
    }),
    sendBufferBytes: checkInteger('sendBufferBytes', options.sendBufferBytes, {
      default: DEFAULT_SEND_BUFFER_BYTES,
      min: 1,
    }),
    receiveBufferBytes: checkInteger('receiveBufferBytes', options.receiveBufferBytes, {
      default: DEFAULT_RECEIVE_BUFFER_BYTES,
      min: 1,
    }),
    lingerTimeout: lingerOption(options.lingerTimeout),
    spinMicroseconds: spinOption(options.spinMicroseconds),
  };
}

/**
 * A `Channel` over a connected byte stream (a `net.Socket`: Unix stream socket, TCP, a pipe or a FIFO), one
 * length-prefixed frame per message (4-byte big-endian length + the codec's payload; see the README).
 *
 * - `send` encodes straight into a batch that is written once per tick; it resolves once the message is
 *   accepted (queued below `sendBufferBytes`), and waits, delivering nothing if it times out, while the kernel
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
  readonly #pending = new SendQueue<Uint8Array>();
  readonly #sendBufferBytes: number;
  readonly #receiveBufferBytes: number;
  readonly #lingerTimeout: number;
  readonly #direction: StreamDirection;
  readonly #end = new ConnectionEnd(this.#inbox);
  #closing: Promise<void> | undefined;
  /** Why sends can no longer go out (the peer left or the connection failed); undefined while it is up. */
  #sendError: IpcError | undefined;
  /** The bounded spin of a receive that finds nothing buffered (undefined: never spins). */
  readonly #spin: StreamSpin | undefined;

  /**
   * Wraps a connected socket; the channel owns it from now on. `direction` limits a one-way stream (FIFO).
   */
  constructor(socket: Socket, options: StreamChannelOptions<T> = {}, peer?: P, direction: StreamDirection = 'both') {
    super();
    const o = streamChannelDefaults(options);
    this.#codec = o.codec;
    this.#sendBufferBytes = o.sendBufferBytes;
    this.#receiveBufferBytes = o.receiveBufferBytes;
    this.#lingerTimeout = o.lingerTimeout;
    this.#direction = direction;
    this.peer = peer as P;
    this.#decoder = new FrameDecoder({ maxFrameBytes: o.maxMessageBytes, budget: options.frameBudget });
    const direct = direction === 'send' ? undefined : readDirectly(socket, this.#onRead);
    if (direct !== undefined) socket = direct;
    this.#socket = socket;
    this.#writer = new FrameWriter(socket, o.maxMessageBytes, () => this.#pump());
    if (o.spinMicroseconds > 0 && direction !== 'send') {
      const caughtUp =
        direct !== undefined
          ? () => !this.#paused
          : () => socket.readableFlowing === true && socket.readableLength === 0;
      this.#spin = new StreamSpin(
        socket,
        o.spinMicroseconds,
        this.#onTransient,
        (error) => {
          this.#onError(error);
          socket.destroy();
        },
        caughtUp,
      );
    }
    if (direct === undefined) socket.on('data', this.#onData);
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
    this.#end.observe(observer);
  }

  /**
   * True once `close`/`destroy` was called, or the connection ended (the peer closed or died) and every
   * message that arrived before has been received.
   */
  get closed(): boolean {
    return this.#end.closed;
  }

  /** Bytes accepted by `send` and not yet taken by the kernel. */
  get writableLength(): number {
    return this.#writer.queued;
  }

  /**
   * The underlying socket, for options such as `setKeepAlive`; reading and writing it breaks the framing. On a
   * connection ipcx made itself (connected, accepted, opened), this is a socket the channel made over a
   * duplicate of the original's descriptor, to read it without node:net's Readable (see the README).
   */
  get socket(): Socket {
    return this.#socket;
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    this.#checkSend();
    if (this.#pending.size === 0 && this.#writer.queued < this.#sendBufferBytes) {
      this.#writer.appendMessage(this.#codec, message);
      return;
    }
    // The codec may reuse its buffer: keep a copy of the payload while waiting for room.
    const payload = copyBytes(this.#codec.encode(message));
    return this.#enqueue(payload, options);
  }

  trySend(message: T): boolean {
    this.#checkSend();
    if (this.#pending.size > 0 || this.#writer.queued >= this.#sendBufferBytes) return false;
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
      if (this.#pending.size === 0 && this.#writer.queued < this.#sendBufferBytes) {
        this.#writer.appendFrame(payload);
        return Promise.resolve();
      }
      return this.#enqueue(payload, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#end.local) return Promise.reject(new ClosedError());
    if (this.#inbox.size > 0 || this.#spinRead()) return Promise.resolve(this.#taken(this.#inbox.shift() as T));
    return this.#inbox.receive('receive', options);
  }

  /** `for await` once `tryReceive` found nothing: `receive`, settling the iterator's result from the inbox. */
  protected override waitForNext(...[received, end]: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>> {
    if (this.#end.local) throw new ClosedError();
    if (this.#inbox.size > 0 || this.#spinRead())
      return Promise.resolve(received(this.#taken(this.#inbox.shift() as T)));
    return this.#inbox.receive('receive', undefined, received, end);
  }

  /**
   * Spins on the socket (see `spinMicroseconds`) when nobody waits already; true once a message is buffered.
   * What `send` batched for the end of the tick goes out first: it is usually what the peer answers.
   */
  #spinRead(): boolean {
    if (this.#spin === undefined || this.#inbox.waiting > 0 || this.#end.ended) return false;
    this.#writer.flush();
    return this.#spin.run(this.#arrived) && this.#inbox.size > 0;
  }

  readonly #arrived = (): boolean => this.#inbox.size > 0 || this.#end.ended;

  tryReceive(): T | undefined {
    if (this.#end.local) throw new ClosedError();
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
    this.#end.local = true;
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
    if (!this.#end.local) {
      this.#end.local = true;
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
    if (this.#paused) {
      this.#paused = false; // a directly read socket stops again at the next read while this says paused
      socket.resume();
    }
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
    if (this.#end.local) throw new ClosedError();
    if (this.#direction === 'receive') throw new UnsupportedError('sending on the receiving end of a one-way stream');
    if (this.#sendError !== undefined) throw this.#sendError;
  }

  #enqueue(payload: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    const max = this.#decoder.maxFrameBytes;
    if (payload.length > max) return Promise.reject(new TooLargeError('message', payload.length, max));
    return this.#pending.enqueue(payload, options);
  }

  /** Moves waiting sends into the batch, oldest first, while there is room. */
  #pump(): void {
    this.#pending.flush((payload) => {
      if (this.#writer.queued >= this.#sendBufferBytes) return false;
      this.#writer.appendFrame(payload);
      return true;
    });
  }

  #rejectPending(error: IpcError): void {
    this.#pending.rejectAll(error);
  }

  #taken(message: T): T {
    if (this.#sizes.shift()) {
      if (this.#paused && this.#sizes.bytes <= this.#receiveBufferBytes / 2 && !this.#end.local) {
        this.#paused = false;
        this.#socket.resume();
      }
    }
    return message;
  }

  readonly #onFrame = (frame: Uint8Array): void => {
    this.#deliver(frame, this.#codec.decode(frame, false));
  };

  readonly #onTransientFrame = (frame: Uint8Array): void => {
    this.#deliver(frame, this.#codec.decode(frame, true));
  };

  #deliver(frame: Uint8Array, message: T): void {
    if (this.#inbox.waiting === 0) this.#sizes.push(frame.length + FRAME_HEADER_BYTES);
    this.#inbox.push(message);
  }

  /** Bytes from node:net's 'data' event: a Buffer of their own, which decoded messages may point into. */
  readonly #onData = (chunk: Buffer): void => {
    this.#received(chunk, this.#onFrame);
  };

  /** Bytes read into a buffer that the next read reuses (node:net's `onread`, the spin's scratch). */
  readonly #onTransient = (chunk: Buffer): void => {
    this.#received(chunk, this.#onTransientFrame);
  };

  /** node:net's `onread` callback of a directly read socket (see `readDirectly`); false stops reading. */
  readonly #onRead = (length: number, buffer: Buffer): boolean => {
    this.#received(buffer.subarray(0, length), this.#onTransientFrame);
    return !this.#paused;
  };

  #received(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    if (this.#end.local) return; // closing: drop what still arrives
    if (this.#inbox.waiting > 0) this.#spin?.policy.woke();
    try {
      this.#decoder.push(chunk, onFrame);
    } catch (error) {
      this.#fail(
        isIpcError(error) ? error : new BadFrameError('the codec could not decode a payload', { cause: error }),
      );
      return;
    }
    if (!this.#paused && this.#sizes.bytes >= this.#receiveBufferBytes) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

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
    this.#end.ended = true;
    this.#inbox.end(error);
    this.#stopSending(
      error.code === 'IPCX_ERR_PEER_GONE'
        ? error
        : new PeerGoneError('peer (it closed the connection)', { cause: error }),
    );
    this.#end.report(error);
  };

  readonly #onError = (error: Error): void => {
    const typed = fromSystemError('socket', error);
    this.#end.ended = true;
    this.#inbox.end(typed);
    this.#stopSending(typed);
    this.#end.report(typed);
  };

  readonly #onClose = (): void => {
    this.#end.ended = true;
    this.#decoder.release();
    const gone = new PeerGoneError('peer (the connection closed)');
    this.#inbox.end(gone);
    this.#stopSending(gone);
    this.#end.report(gone);
  };

  /** Bad bytes from the peer: keep what arrived before for `receive`, then fail; drop the connection. */
  #fail(error: IpcError): void {
    this.#end.ended = true;
    this.#inbox.end(error);
    this.#stopSending(error);
    this.#decoder.release();
    this.#end.report(error);
    this.#socket.destroy();
  }

  #stopSending(error: IpcError): void {
    this.#sendError ??= error;
    this.#writer.discard();
    this.#rejectPending(this.#sendError);
  }
}
