import {
  ClosedError,
  TooLargeError,
  copyBytes,
  type Codec,
  type IpcError,
  type ReceiveOptions,
  type WaitOptions,
} from '@ipcx/core';
import { Inbox, SpinPolicy, fromSystemError, iterate } from '@ipcx/core/transport';
import { SendQueue, checkInteger, checkMode, spinOption } from '@ipcx/core/transport';
import { FdWatcher, socket as sock, type SocketAddress } from '@ipcx/native';
import { resolveUnixAddress, type ResolvedAddress, type UnixAddress } from './address.js';
import { codecOption, type MessageOptions } from './internal/options.js';
import { Failed, datagramSendError, decodeDatagram, unwrap } from './internal/datagram.js';
import { claimFile, type FileClaim } from './internal/owned-files.js';
import { bindPacketSocket, nativeAddress } from './internal/packet-socket.js';

/**
 * Options of `UnixDatagram.bind` and `UnixDatagram.unbound`. `maxMessageBytes` (default 64 KiB; the kernel's
 * bound is the send buffer, about 208 KiB) bounds both ways: a larger incoming datagram is cut by the kernel,
 * and its `receive` rejects with `TooLargeError` (the next one is received normally).
 */
export interface UnixDatagramOptions<T = unknown> extends MessageOptions<T> {
  /** Permission bits of a bound socket file (sending to it needs write permission). Default 0o600. */
  mode?: number | undefined;
  /**
   * Microseconds a `receive` that finds no datagram polls the socket in a bounded spin before it waits for
   * libuv (as a connected channel's `spinMicroseconds`). Default 50; 0 never spins.
   */
  spinMicroseconds?: number | undefined;
}

/** Options of `UnixDatagram.send`. */
export interface DatagramSendOptions extends WaitOptions {
  /** Where to send; default the address given to `connect`. */
  to?: UnixAddress | undefined;
}

/** A received datagram: the decoded message, and the sender's address if the sender is bound. */
export interface Datagram<T = unknown> {
  readonly data: T;
  readonly from: UnixAddress | undefined;
}

interface PendingSend {
  readonly payload: Uint8Array;
  readonly to: ResolvedAddress | undefined;
}

/** What `close` returns, every time: closing a datagram socket is immediate. */
const CLOSED = Promise.resolve();

/** Longest pause between two send attempts to an unconnected destination whose queue is full. */
const MAX_RETRY_MS = 50;

/**
 * A Unix datagram socket: connectionless, message boundaries kept, each datagram sent to an address (a path or
 * an abstract name) and received as `{ data, from }`. Datagrams are reliable and ordered on one machine; a full
 * receiver makes the sender wait (or `trySend` return false), it never drops.
 *
 * Waiting for room: with a default destination set by `connect`, the socket is polled and the kernel wakes the
 * sender when the receiver reads. To an explicit `to`, Linux has no such wakeup (poll reports an unconnected
 * datagram socket writable even when the destination is full), so the send is retried after 1, 2, 4, … up to
 * 50 ms. Connect when you send to one peer at a time.
 *
 * @example
 * ```ts
 * await using server = await UnixDatagram.bind({ abstract: 'metrics' });
 * await using client = await UnixDatagram.bind({ abstract: 'metrics-client' });
 * await client.send({ cpu: 0.3 }, { to: { abstract: 'metrics' } });
 * const { data, from } = await server.receive({ timeout: 1000 });
 * await server.send({ ok: true }, { to: from });
 * ```
 */
export class UnixDatagram<T = unknown> implements AsyncIterable<Datagram<T>>, AsyncDisposable {
  /** The address this socket is bound to, if any. */
  readonly address: ResolvedAddress | undefined;
  readonly #fd: number;
  readonly #watcher: FdWatcher;
  readonly #codec: Codec<T>;
  readonly #maxMessageBytes: number;
  readonly #buffer: Buffer;
  readonly #inbox = new Inbox<Datagram<T> | Failed>();
  readonly #pending = new SendQueue<PendingSend>(() => this.#schedule());
  readonly #claim: FileClaim | undefined;
  #connected: ResolvedAddress | undefined;
  #blocked = false;
  #retry: NodeJS.Timeout | undefined;
  #retryDelay = 1;
  #closed = false;
  #watching = { readable: false, writable: false };
  /** The bounded spin of a receive that finds nothing (undefined: never spins). */
  readonly #spin: SpinPolicy | undefined;

  private constructor(fd: number, address: ResolvedAddress | undefined, options: UnixDatagramOptions<T>) {
    const o = datagramDefaults(options);
    this.#fd = fd;
    this.address = address;
    this.#codec = o.codec;
    this.#maxMessageBytes = o.maxMessageBytes;
    this.#buffer = Buffer.allocUnsafeSlow(o.maxMessageBytes + 1);
    this.#claim = address?.kind === 'path' ? claimFile(address.name) : undefined;
    if (o.spinMicroseconds > 0) this.#spin = new SpinPolicy(o.spinMicroseconds);
    this.#watcher = new FdWatcher(fd, (events) => {
      if (events.error) {
        this.#inbox.end(fromSystemError('poll datagram socket', events.error));
        return;
      }
      if (events.readable) {
        if (this.#inbox.waiting > 0) this.#spin?.woke();
        this.#read();
      }
      if (events.writable) {
        this.#blocked = false;
        this.#pump();
      }
      this.#watch();
    });
    this.#watch();
  }

  /**
   * A socket bound to a path or abstract name, to receive datagrams (and send them, with `from` set). A socket
   * file left by a dead process is replaced; a live one is `AlreadyExistsError`. The file is removed on close
   * and exit, and registered in core's registry of kernel objects.
   */
  static async bind<T = unknown>(address: UnixAddress, options: UnixDatagramOptions<T> = {}): Promise<UnixDatagram<T>> {
    const resolved = resolveUnixAddress(address);
    datagramDefaults(options);
    const fd = await bindPacketSocket('dgram', resolved, checkMode('mode', options.mode, 0o600));
    return new UnixDatagram<T>(fd, resolved, options);
  }

  /** An unbound socket: it sends, but nobody can address a reply to it (`from` is undefined at the receiver). */
  static async unbound<T = unknown>(options: UnixDatagramOptions<T> = {}): Promise<UnixDatagram<T>> {
    datagramDefaults(options);
    return new UnixDatagram<T>(sock('dgram'), undefined, options);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sets the default destination (and receives only from it). Sends without `to` then wait for room by polling.
   * A destination nobody is bound to is `NotFoundError`.
   */
  connect(address: UnixAddress): void {
    this.#check();
    const resolved = resolveUnixAddress(address);
    try {
      sock.connect(this.#fd, nativeAddress(resolved));
    } catch (error) {
      throw sendError(resolved, error);
    }
    this.#connected = resolved;
  }

  /**
   * Sends one datagram to `to` (or the connected destination), waiting while the destination's queue is full.
   * A destination nobody is bound to is `NotFoundError`; a message over `maxMessageBytes` is `TooLargeError`.
   */
  async send(message: T, options: DatagramSendOptions = {}): Promise<void> {
    const to = this.#destination(options.to);
    const payload = this.#encode(message);
    if (this.#pending.size === 0 && !this.#blockedFor(to) && this.#sendNow(payload, to)) return;
    const copy = copyBytes(payload); // the codec may reuse its buffer (Buffer#slice would be a view)
    const waiting = this.#pending.enqueue({ payload: copy, to }, options);
    this.#schedule();
    return waiting;
  }

  /** Sends if the destination has room now; false when it is full. */
  trySend(message: T, to?: UnixAddress): boolean {
    const destination = this.#destination(to);
    const payload = this.#encode(message);
    if (this.#pending.size > 0 || this.#blockedFor(destination)) return false;
    return this.#sendNow(payload, destination);
  }

  /**
   * The next datagram, waiting for one. A datagram that was too large or undecodable rejects its receive.
   * Datagrams are read from the kernel only when asked for, so the kernel queue is the only buffer and a
   * receiver that does not read makes its senders wait.
   */
  receive(options?: ReceiveOptions): Promise<Datagram<T>> {
    if (this.#closed) return Promise.reject(new ClosedError('datagram socket'));
    if (this.#inbox.waiting === 0) {
      // One call reads what waits, or spins (see `spinMicroseconds`) and reads what comes.
      const item = this.#spin === undefined ? this.#readOne() : this.#spin.read((us) => this.#readOne(us));
      if (item !== undefined) return item instanceof Failed ? Promise.reject(item.error) : Promise.resolve(item);
    }
    const waiting = this.#inbox.receive('receive', options).then(unwrap);
    this.#watch();
    return waiting;
  }

  /** The next datagram if one is waiting. */
  tryReceive(): Datagram<T> | undefined {
    if (this.#closed) throw new ClosedError('datagram socket');
    if (this.#inbox.waiting > 0) return undefined; // earlier receives come first
    const item = this.#readOne();
    return item === undefined ? undefined : unwrap(item);
  }

  /** Yields datagrams until the socket closes. */
  [Symbol.asyncIterator](): AsyncIterator<Datagram<T>> {
    return iterate(() => this.receive());
  }

  /**
   * Closes the socket and removes its file; sends still waiting and pending receives reject with `ClosedError`
   * (a datagram is the kernel's once its `send` resolved: there is nothing of ours to flush). Idempotent.
   */
  close(): Promise<void> {
    this.destroy();
    return CLOSED;
  }

  /** The same as `close`, with `error` (default `ClosedError`) for the sends and receives still waiting. */
  destroy(error?: IpcError): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    const closed = error ?? new ClosedError('datagram socket');
    this.#inbox.fail(closed);
    this.#pending.rejectAll(closed);
    this.#watcher.close();
    sock.close(this.#fd);
    this.#claim?.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('datagram socket');
  }

  #destination(to: UnixAddress | undefined): ResolvedAddress | undefined {
    this.#check();
    if (to === undefined) {
      if (this.#connected === undefined) throw new TypeError('send needs `to` when the socket is not connected');
      return undefined;
    }
    return resolveUnixAddress(to);
  }

  #encode(message: T): Uint8Array {
    const payload = this.#codec.encode(message);
    if (payload.length > this.#maxMessageBytes)
      throw new TooLargeError('datagram', payload.length, this.#maxMessageBytes);
    return payload;
  }

  /** After EAGAIN on the connected destination, wait for poll before trying again. */
  #blockedFor(to: ResolvedAddress | undefined): boolean {
    return to === undefined && this.#blocked;
  }

  /** One send syscall: true if sent, false when the destination is full; throws typed errors. */
  #sendNow(payload: Uint8Array, to: ResolvedAddress | undefined): boolean {
    try {
      if (to === undefined) sock.send(this.#fd, payload);
      else sock.send(this.#fd, payload, nativeAddress(to));
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        if (to === undefined) this.#blocked = true;
        return false;
      }
      throw sendError(to ?? this.#connected, error, payload.length);
    }
  }

  #pump(): void {
    const sent = this.#pending.flush((entry) => !this.#blockedFor(entry.to) && this.#sendNow(entry.payload, entry.to));
    if (sent > 0) this.#retryDelay = 1;
    this.#schedule();
  }

  /** Arranges the next attempt for the oldest waiting send: poll for the connected peer, a timer otherwise. */
  #schedule(): void {
    this.#watch();
    const first = this.#pending.oldest();
    if (first === undefined || first.to === undefined || this.#retry !== undefined || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#pump();
    }, this.#retryDelay);
    this.#retryDelay = Math.min(MAX_RETRY_MS, this.#retryDelay * 2);
  }

  /** Reads for the receivers waiting, one datagram each. */
  #read(): void {
    while (!this.#closed && this.#inbox.waiting > 0) {
      const item = this.#readOne();
      if (item === undefined) return;
      this.#inbox.push(item);
    }
  }

  /** One datagram from the kernel, or undefined when none is queued (within `spinMicroseconds`). */
  #readOne(spinMicroseconds = 0): Datagram<T> | Failed | undefined {
    let got;
    try {
      // undefined when the queue is empty: no Error built for the EAGAIN
      got = sock.tryReceive(this.#fd, this.#buffer, spinMicroseconds);
    } catch (error) {
      return new Failed(fromSystemError('receive on a datagram socket', error));
    }
    if (got === undefined) return undefined;
    // The buffer has one byte more than the limit: a datagram that fills it (or was cut) is over the limit.
    const size = got.truncated ? this.#maxMessageBytes + 1 : got.length;
    // The buffer is reused for the next datagram: the codec must copy what it keeps (transient).
    const data = decodeDatagram(
      this.#codec,
      this.#buffer.subarray(0, got.length),
      size,
      this.#maxMessageBytes,
      true,
      '',
    );
    return data instanceof Failed ? data : { data, from: got.from as SocketAddress | undefined };
  }

  #watch(): void {
    if (this.#closed) return;
    const readable = this.#inbox.waiting > 0;
    const writable = this.#blocked;
    if (readable === this.#watching.readable && writable === this.#watching.writable) return;
    this.#watching = { readable, writable };
    this.#watcher.start({ readable, writable });
  }
}

function datagramDefaults<T>(options: UnixDatagramOptions<T>): {
  codec: Codec<T>;
  maxMessageBytes: number;
  spinMicroseconds: number;
} {
  return {
    codec: codecOption(options.codec),
    maxMessageBytes: checkInteger('maxMessageBytes', options.maxMessageBytes, {
      default: 64 * 1024,
      min: 0,
      max: 64 * 1024 * 1024,
    }),
    spinMicroseconds: spinOption(options.spinMicroseconds),
  };
}

function sendError(to: ResolvedAddress | undefined, error: unknown, size?: number): IpcError {
  return datagramSendError(to?.display ?? 'the connected peer', error, size);
}
