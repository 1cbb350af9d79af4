import {
  BadFrameError,
  ClosedError,
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
import { AbstractChannel, Inbox, SpinPolicy, fromSystemError } from '@ipcx/core/transport';
import { SendQueue, checkInteger, errnoError, spinOption, type WaitForNext } from '@ipcx/core/transport';
import {
  FdWatcher,
  peerCredentials,
  socket as sock,
  socketPair,
  sendFds,
  tryReceiveFds,
  type FdsReceived,
  type PeerCredentials,
} from '@ipcx/native';
import { codecOption, type ConnectedOptions } from './internal/options.js';
import { ConnectionEnd } from './internal/connection-end.js';
import { observeEnd } from './internal/observe-end.js';
import { peerProcessDied } from './internal/peer-exit.js';
import { SizeQueue } from './internal/size-queue.js';

/** Options of seqpacket channels (`SeqPacketServer`, `SeqPacketSocket`, `SeqPacketChannel.pair`). */
export interface SeqPacketChannelOptions<T = unknown> extends ConnectedOptions<T> {
  /**
   * Received, unreceived messages at which the channel stops reading, whatever their size. The kernel charges
   * each packet about 768 bytes or more against the sender's buffer, so a small read-ahead in messages keeps
   * the backpressure a slow receiver should exert. Default 32.
   */
  receiveBufferMessages?: number | undefined;
}

/** A message and the descriptors that came with it (`receiveWithFds`). The receiver owns the descriptors. */
export interface WithFds<T> {
  readonly message: T;
  readonly fds: number[];
}

/** Descriptors attached to a message in the inbox (a class of our own, so it can never be a user's message). */
class Attached<T> {
  constructor(
    readonly message: T,
    readonly fds: number[],
  ) {}
}

/** The message of what `receive` or `tryReceive` took: descriptors that came with it, not asked for, are closed. */
function messageOf<T>(item: T | Attached<T>): T {
  if (!(item instanceof Attached)) return item;
  closeFds(item.fds);
  return item.message;
}

interface PendingSend {
  readonly payload: Uint8Array;
  readonly fds: readonly number[] | undefined;
}

function closeFds(fds: readonly number[]): void {
  for (const fd of fds) sock.close(fd);
}

/** Checks and fills in seqpacket options. */
export function seqPacketDefaults<T>(options: SeqPacketChannelOptions<T> = {}): {
  codec: Codec<T>;
  maxMessageBytes: number;
  receiveBufferBytes: number;
  receiveBufferMessages: number;
  spinMicroseconds: number;
} {
  return {
    codec: codecOption(options.codec),
    maxMessageBytes: checkInteger('maxMessageBytes', options.maxMessageBytes, {
      default: 64 * 1024,
      min: 1,
      max: 64 * 1024 * 1024,
    }),
    receiveBufferBytes: checkInteger('receiveBufferBytes', options.receiveBufferBytes, { default: 64 * 1024, min: 1 }),
    receiveBufferMessages: checkInteger('receiveBufferMessages', options.receiveBufferMessages, {
      default: 32,
      min: 1,
    }),
    spinMicroseconds: spinOption(options.spinMicroseconds),
  };
}

/**
 * A `Channel` over a connected Unix seqpacket socket: the kernel keeps message boundaries, so there is no length
 * prefix — one message is one packet, sent and received by one syscall each (no batching is possible). The
 * descriptor is non-blocking and polled by libuv (`FdWatcher`): no thread, no busy loop.
 *
 * It also carries file descriptors (SCM_RIGHTS): `sendWithFds` attaches any open descriptors — a file, a
 * socket, a POSIX message queue, an eventfd — to a message, and `receiveWithFds` hands them out, already
 * close-on-exec, to the receiver, who owns them. `receive` closes descriptors that came with a message, so
 * that none leak.
 *
 * A zero-length read is how the kernel says the peer closed, so an empty message cannot be sent
 * (`UnsupportedError`); codecs other than `rawCodec` never produce one.
 *
 * @example
 * ```ts
 * const channel = await SeqPacketSocket.connect('/run/app.seqpacket');
 * const file = openSync('/etc/hostname', 'r');
 * await channel.sendWithFds({ kind: 'hostname' }, [file]);
 * closeSync(file); // the peer has its own copy now
 * ```
 */
export class SeqPacketChannel<T = unknown, P = undefined> extends AbstractChannel<T> {
  /** What is known about the other end (Unix credentials for a server's client). */
  readonly peer: P;
  readonly #fd: number;
  readonly #watcher: FdWatcher;
  readonly #codec: Codec<T>;
  readonly #maxMessageBytes: number;
  readonly #receiveBufferBytes: number;
  readonly #receiveBufferMessages: number;
  readonly #buffer: Buffer;
  readonly #inbox = new Inbox<T | Attached<T>>();
  readonly #pending = new SendQueue<PendingSend>(() => this.#watch());
  readonly #onGone: (() => void) | undefined;
  readonly #sizes = new SizeQueue();
  readonly #end = new ConnectionEnd(this.#inbox);
  #closing: Promise<void> | undefined;
  #sendError: IpcError | undefined;
  #watching = { readable: false, writable: false };
  #released = false;
  /**
   * A send found the socket buffer full (EAGAIN): until poll says writable again, further sends queue instead of
   * trying. The kernel reports a Unix socket writable only once its buffer is down to a quarter, so a receiver
   * that reads a little does not let one more message through at a time.
   */
  #blocked = false;
  /** The bounded spin of a receive that finds nothing buffered (with spinMicroseconds 0, one look). */
  readonly #spin: SpinPolicy;

  /** Adopts a connected seqpacket descriptor (the channel closes it). `onGone` runs once when the connection ends. */
  constructor(fd: number, options: SeqPacketChannelOptions<T> = {}, peer?: P, onGone?: () => void) {
    super();
    const o = seqPacketDefaults(options);
    this.#fd = fd;
    this.#codec = o.codec;
    this.#maxMessageBytes = o.maxMessageBytes;
    this.#receiveBufferBytes = o.receiveBufferBytes;
    this.#receiveBufferMessages = o.receiveBufferMessages;
    this.#buffer = Buffer.allocUnsafeSlow(o.maxMessageBytes + 1);
    this.peer = peer as P;
    this.#onGone = onGone;
    this.#spin = new SpinPolicy(o.spinMicroseconds);
    this.#watcher = new FdWatcher(fd, (events) => {
      if (events.error) this.#fail(fromSystemError('poll seqpacket socket', events.error));
      else {
        if (events.readable) {
          if (this.#inbox.waiting > 0) this.#spin.woke();
          this.#read();
        }
        if (events.writable) {
          this.#blocked = false;
          this.#pump();
        }
        this.#watch();
      }
    });
    this.#watch();
  }

  /**
   * Two connected seqpacket channels (socketpair(2)): within a process, or hand one end's `fd` to a child in
   * `spawn`'s `stdio` (then close that end here, and the child calls `SeqPacketChannel.fromFd(3)`) for a
   * private channel to the child that can carry descriptors.
   */
  static pair<T = unknown>(options: SeqPacketChannelOptions<T> = {}): [SeqPacketChannel<T>, SeqPacketChannel<T>] {
    seqPacketDefaults(options);
    const [a, b] = socketPair('seqpacket');
    return [new SeqPacketChannel<T>(a, options), new SeqPacketChannel<T>(b, options)];
  }

  /**
   * Adopts a connected seqpacket descriptor this process already holds, e.g. one end of `pair()` handed to a
   * child process through `spawn`'s `stdio` (it arrives as fd 3 and up). The channel owns and closes it.
   *
   * Not `from(handle)`: `from` rebuilds an object from the handle its `transfer()` or `handle()` returned,
   * which carries what the object needs to check it; a descriptor number is a bare, process-local integer
   * that the kernel handed this process (inherited, received with `receiveWithFds`), so the name says that.
   */
  static fromFd<T = unknown>(
    fd: number,
    options: SeqPacketChannelOptions<T> = {},
  ): SeqPacketChannel<T, PeerCredentials> {
    let peer: PeerCredentials;
    try {
      peer = peerCredentials(fd);
    } catch (error) {
      throw fromSystemError(`adopt descriptor ${fd} as a seqpacket socket`, error);
    }
    return new SeqPacketChannel<T, PeerCredentials>(fd, options, peer);
  }

  /** Internal: sets the observer told once how the connection ended, when it ended with an error. */
  [observeEnd](observer: (error: IpcError) => void): void {
    this.#end.observe(observer);
  }

  /** The socket's descriptor, e.g. to hand it to a child process in `spawn`'s `stdio`. */
  get fd(): number {
    return this.#fd;
  }

  /**
   * True once `close`/`destroy` was called, or the connection ended (the peer closed or died) and every
   * message that arrived before has been received.
   */
  get closed(): boolean {
    return this.#end.closed;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    return this.#send(message, undefined, options);
  }

  /**
   * Sends a message with open descriptors attached. The kernel gives the peer its own copies when the message
   * is sent; keep yours open until this resolves, then close them if you no longer need them. At most 253.
   */
  sendWithFds(message: T, fds: readonly number[], options?: WaitOptions): Promise<void> {
    if (
      !Array.isArray(fds) ||
      fds.length === 0 ||
      fds.length > 253 ||
      !fds.every((fd) => Number.isInteger(fd) && fd >= 0)
    ) {
      return Promise.reject(new TypeError('fds must be an array of 1 to 253 open descriptors'));
    }
    return this.#send(message, fds, options);
  }

  /** Sends a payload already encoded with this channel's codec (used by `broadcast`, which encodes once). */
  sendEncoded(payload: Uint8Array, options?: WaitOptions): Promise<void> {
    try {
      this.#checkPayload(payload);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendPayload(payload, undefined, options);
  }

  trySend(message: T): boolean {
    const payload = this.#encode(message);
    if (this.#pending.size > 0 || this.#blocked) return false;
    return this.#sendNow(payload, undefined);
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#end.local) return Promise.reject(new ClosedError());
    if (this.#inbox.size > 0 || this.#spinRead()) return Promise.resolve(messageOf(this.#taken(this.#inbox.shift()!)));
    return this.#inbox.receive('receive', options, messageOf);
  }

  /** `for await` once `tryReceive` found nothing: `receive`, settling the iterator's result from the inbox. */
  protected override waitForNext(...[received, end]: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>> {
    if (this.#end.local) throw new ClosedError();
    if (this.#inbox.size > 0 || this.#spinRead())
      return Promise.resolve(received(messageOf(this.#taken(this.#inbox.shift()!))));
    return this.#inbox.receive('receive', undefined, (item) => received(messageOf(item)), end);
  }

  /** Receives the next message and the descriptors that came with it (none: an empty array). */
  async receiveWithFds(options?: ReceiveOptions): Promise<WithFds<T>> {
    const item = await this.#receive(options);
    return item instanceof Attached ? { message: item.message, fds: item.fds } : { message: item, fds: [] };
  }

  tryReceive(): T | undefined {
    if (this.#end.local) throw new ClosedError();
    if (this.#inbox.size === 0) {
      this.#inbox.shift(); // throws the end error once the connection ended and everything was received
      return undefined;
    }
    return messageOf(this.#taken(this.#inbox.shift()!));
  }

  /**
   * Closes the socket. Messages already sent are in the peer's queue and will be read; sends still waiting for
   * room reject with `ClosedError`, as do pending receives. Descriptors received and not taken are closed.
   */
  close(): Promise<void> {
    this.destroy();
    return this.#closing!;
  }

  /**
   * Closes the socket at once. The same as `close` (a packet is the kernel's once `send` resolved, so there
   * is nothing of ours to flush) except that waiting sends and pending receives reject with `error`.
   */
  destroy(error?: IpcError): void {
    if (this.#end.local) return;
    this.#end.local = true;
    this.#closing = Promise.resolve();
    const closed = error ?? new ClosedError();
    this.#drainFds();
    this.#inbox.fail(closed);
    this.#rejectPending(closed);
    this.#release();
  }

  #receive(options: ReceiveOptions | undefined): Promise<T | Attached<T>> {
    if (this.#end.local) return Promise.reject(new ClosedError());
    if (this.#inbox.size > 0 || this.#spinRead()) return Promise.resolve(this.#taken(this.#inbox.shift()!));
    return this.#inbox.receive('receive', options);
  }

  /**
   * Spins on the socket (see `spinMicroseconds`) when nobody waits already, reading the packet that comes in
   * the same call; true once a message is buffered.
   */
  #spinRead(): boolean {
    if (this.#inbox.waiting > 0 || this.#end.ended || this.#released || !this.#roomToRead()) return false;
    let got: FdsReceived | undefined;
    try {
      got = this.#spin.read((spinMicroseconds) => tryReceiveFds(this.#fd, this.#buffer, spinMicroseconds));
    } catch (error) {
      this.#fail(fromSystemError('receive on a seqpacket socket', error));
      return false;
    }
    if (got === undefined) return false;
    this.#accept(got);
    return this.#inbox.size > 0;
  }

  #encode(message: T): Uint8Array {
    if (this.#end.local) throw new ClosedError();
    if (this.#sendError !== undefined) throw this.#sendError;
    const payload = this.#codec.encode(message);
    this.#checkPayload(payload);
    return payload;
  }

  #checkPayload(payload: Uint8Array): void {
    if (this.#end.local) throw new ClosedError();
    if (this.#sendError !== undefined) throw this.#sendError;
    if (payload.length > this.#maxMessageBytes)
      throw new TooLargeError('message', payload.length, this.#maxMessageBytes);
    if (payload.length === 0)
      throw new UnsupportedError('an empty message on a seqpacket socket (a zero-length read means the peer closed)');
  }

  async #send(message: T, fds: readonly number[] | undefined, options: WaitOptions | undefined): Promise<void> {
    return this.#sendPayload(this.#encode(message), fds, options);
  }

  async #sendPayload(
    payload: Uint8Array,
    fds: readonly number[] | undefined,
    options: WaitOptions | undefined,
  ): Promise<void> {
    if (this.#pending.size === 0 && !this.#blocked && this.#sendNow(payload, fds)) return;
    // The codec may reuse its buffer: keep a copy while waiting for room.
    const copy = copyBytes(payload);
    const waiting = this.#pending.enqueue({ payload: copy, fds }, options);
    this.#watch();
    return waiting;
  }

  /** One send syscall: true if sent, false if the socket buffer is full (EAGAIN); throws typed errors. */
  #sendNow(payload: Uint8Array, fds: readonly number[] | undefined): boolean {
    try {
      if (fds === undefined) sock.send(this.#fd, payload);
      else sendFds(this.#fd, payload, fds);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        this.#blocked = true;
        this.#watch();
        return false;
      }
      const typed = errnoError(error, 'send on a seqpacket socket', { stage: 'connected', size: payload.length });
      if (typed.code === 'IPCX_ERR_PEER_GONE') this.#stopSending(typed);
      throw typed;
    }
  }

  /** Sends waiting messages, oldest first, until the socket is full again. */
  #pump(): void {
    this.#pending.flush((entry) => this.#sendNow(entry.payload, entry.fds));
  }

  #read(): void {
    while (!this.#end.local && !this.#end.ended && this.#roomToRead()) {
      let got: FdsReceived | undefined;
      try {
        // undefined when the queue is empty: no Error built for the EAGAIN that ends every drain
        got = tryReceiveFds(this.#fd, this.#buffer);
      } catch (error) {
        this.#fail(fromSystemError('receive on a seqpacket socket', error));
        return;
      }
      if (got === undefined || !this.#accept(got)) return;
    }
  }

  /** Decodes a packet read into the buffer and queues it for `receive`; false when it ended the channel. */
  #accept(got: FdsReceived): boolean {
    if (got.length === 0 && got.fds.length === 0) {
      // A zero-length read is all the kernel says, whether the peer closed or its process was killed: the
      // peer's pid tells them apart (see StreamChannel), and a peer that died is PeerGoneError.
      this.#fail(
        peerProcessDied(this.peer)
          ? new PeerGoneError('peer (its process died)')
          : new ClosedError('channel (closed by the peer)'),
        'it closed the connection',
      );
      return false;
    }
    // The buffer has one byte more than the limit: a packet that fills it is over the limit.
    if (got.truncated || got.length > this.#maxMessageBytes) {
      closeFds(got.fds);
      const size = got.length > this.#maxMessageBytes ? `more than ${this.#maxMessageBytes}` : String(got.length);
      this.#fail(
        new TooLargeError(
          `incoming message (${size} bytes, or descriptors beyond the limit)`,
          undefined,
          this.#maxMessageBytes,
        ),
      );
      return false;
    }
    let message: T;
    try {
      // The buffer is reused for the next packet: the codec must copy what it keeps.
      message = this.#codec.decode(this.#buffer.subarray(0, got.length), true);
    } catch (error) {
      closeFds(got.fds);
      this.#fail(
        isIpcError(error) ? error : new BadFrameError('the codec could not decode a packet', { cause: error }),
      );
      return false;
    }
    if (this.#inbox.waiting === 0) this.#sizes.push(got.length);
    this.#inbox.push(got.fds.length > 0 ? new Attached(message, got.fds) : message);
    return true;
  }

  #roomToRead(): boolean {
    return this.#sizes.bytes < this.#receiveBufferBytes && this.#sizes.length < this.#receiveBufferMessages;
  }

  #taken(item: T | Attached<T>): T | Attached<T> {
    if (this.#sizes.shift()) this.#watch();
    return item;
  }

  /** Polls for what is wanted now: readable while there is room to buffer, writable while sends wait. */
  #watch(): void {
    if (this.#end.local || this.#released) return;
    const readable = !this.#end.ended && this.#roomToRead();
    const writable = (this.#pending.size > 0 || this.#blocked) && this.#sendError === undefined;
    if (readable === this.#watching.readable && writable === this.#watching.writable) return;
    this.#watching = { readable, writable };
    this.#watcher.start({ readable, writable });
  }

  /**
   * The connection ended (the peer closed, or `why`: a broken connection, bad bytes): keep what arrived before
   * for `receive`, then `error`; sends fail with `PeerGoneError` from now on.
   */
  #fail(error: IpcError, why = 'the connection failed'): void {
    this.#end.ended = true;
    this.#inbox.end(error);
    this.#stopSending(
      error.code === 'IPCX_ERR_PEER_GONE' ? error : new PeerGoneError(`peer (${why})`, { cause: error }),
    );
    this.#release();
    this.#end.report(error);
  }

  #stopSending(error: IpcError): void {
    this.#sendError ??= error;
    this.#rejectPending(this.#sendError);
  }

  #rejectPending(error: IpcError): void {
    this.#pending.rejectAll(error);
  }

  /** Descriptors that arrived and were never taken must not leak. */
  #drainFds(): void {
    for (;;) {
      let item;
      try {
        item = this.#inbox.shift();
      } catch {
        return;
      }
      if (item === undefined) return;
      if (item instanceof Attached) closeFds(item.fds);
    }
  }

  /** Stops polling and closes the descriptor, once (libuv: the watcher goes before its descriptor). */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#watcher.close();
    sock.close(this.#fd);
    this.#onGone?.();
  }
}
