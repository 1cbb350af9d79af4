import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import {
  ClosedError,
  NotFoundError,
  TooLargeError,
  type Codec,
  type IpcError,
  type ReceiveOptions,
  type WaitOptions,
} from '@ipcx/core';
import { Inbox, fromSystemError, iterate, waitFor } from '@ipcx/core/transport';
import { Failed, datagramSendError, decodeDatagram, unwrap } from './internal/datagram.js';
import { codecOption, type MessageOptions } from './internal/options.js';
import { checkInteger } from '@ipcx/core/transport';

/** A UDP address: an IPv4 or IPv6 literal and a port. */
export interface UdpAddress {
  readonly address: string;
  readonly port: number;
  /** Set on addresses this package hands out (a receive's `from`, `socket.address`). */
  readonly family?: 'IPv4' | 'IPv6';
}

/**
 * Options of `UdpSocket.bind` and `UdpSocket.unbound`. `maxMessageBytes`: default and maximum 65507 over IPv4,
 * 65527 over IPv6 (what fits in one UDP datagram); the path MTU (1500 on Ethernet, 65536 on loopback) decides
 * what travels without IP fragmentation. A larger incoming datagram rejects its own `receive`.
 */
export interface UdpSocketOptions<T = unknown> extends MessageOptions<T> {
  /**
   * Datagrams kept for `receive` when nobody is receiving. UDP has no backpressure: the kernel delivers what
   * arrives, so an unbounded buffer would grow without limit. Beyond this bound new datagrams are dropped and
   * counted in `dropped`, as the kernel drops them when its own buffer is full. Default 1024.
   */
  receiveBufferMessages?: number | undefined;
}

/** Options of `UdpSocket.unbound`. */
export interface UdpUnboundOptions<T = unknown> extends UdpSocketOptions<T> {
  /** 'IPv4' (default) or 'IPv6'. */
  family?: 'IPv4' | 'IPv6' | undefined;
}

/** Options of `UdpSocket.send`. */
export interface UdpSendOptions extends WaitOptions {
  /** Where to send; default the address given to `connect`. */
  to?: UdpAddress | undefined;
}

/** A received datagram: the decoded message and the sender's address. */
export interface UdpDatagram<T = unknown> {
  readonly data: T;
  readonly from: UdpAddress;
}

const MAX_UDP = { IPv4: 65507, IPv6: 65527 } as const;

function familyOf(host: string): 'IPv4' | 'IPv6' {
  if (isIPv4(host)) return 'IPv4';
  if (isIPv6(host)) return 'IPv6';
  throw new TypeError(
    `a UDP address is an IPv4 or IPv6 literal, got ${JSON.stringify(host)} (resolve names with dns.lookup first)`,
  );
}

function checkAddress(a: UdpAddress | undefined, what: string): UdpAddress {
  if (a === null || typeof a !== 'object') throw new TypeError(`${what} must be { address, port }`);
  familyOf(a.address);
  checkInteger(`${what}.port`, a.port, { default: 0, min: 1, max: 65535 });
  return a;
}

/**
 * A UDP socket over IPv4 or IPv6, on Node's `dgram`, with the shape of `UnixDatagram`: send a message to an
 * address (or to the one `connect` set), receive `{ data, from }`, `for await`, typed errors. Unlike Unix
 * datagrams, UDP is unreliable and unordered across a network and has no backpressure: a datagram the receiver
 * has no room for is dropped, silently, by the kernel or by this socket (`dropped` counts the latter).
 *
 * @example
 * ```ts
 * await using server = await UdpSocket.bind({ address: '127.0.0.1', port: 0 });
 * await using client = await UdpSocket.bind({ address: '127.0.0.1', port: 0 });
 * await client.send({ ping: 1 }, { to: server.address });
 * const { data, from } = await server.receive({ timeout: 1000 });
 * await server.send({ pong: data }, { to: from });
 * ```
 */
export class UdpSocket<T = unknown> implements AsyncIterable<UdpDatagram<T>>, AsyncDisposable {
  /** 'IPv4' or 'IPv6'. */
  readonly family: 'IPv4' | 'IPv6';
  /** The largest datagram this socket sends or receives. */
  readonly maxMessageBytes: number;
  readonly #socket: Socket;
  readonly #codec: Codec<T>;
  readonly #maxQueued: number;
  readonly #inbox = new Inbox<UdpDatagram<T> | Failed>();
  #connected: UdpAddress | undefined;
  #dropped = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(socket: Socket, family: 'IPv4' | 'IPv6', options: UdpSocketOptions<T>) {
    const o = udpDefaults(options, family);
    this.family = family;
    this.#socket = socket;
    this.#codec = o.codec;
    this.maxMessageBytes = o.maxMessageBytes;
    this.#maxQueued = o.receiveBufferMessages;
    socket.on('message', (message, rinfo) => this.#onMessage(message, rinfo));
    socket.on('error', (error) => this.#inbox.push(new Failed(udpError(this.#connected, error))));
  }

  /**
   * A socket bound to `address` (an IPv4 or IPv6 literal; port 0 picks a free port, see `address`). A port in
   * use is `AlreadyExistsError`; an address this host does not have is `NotFoundError` (e.g. `::1` where IPv6
   * is off).
   */
  static async bind<T = unknown>(
    address: { address: string; port?: number },
    options: UdpSocketOptions<T> = {},
  ): Promise<UdpSocket<T>> {
    if (address === null || typeof address !== 'object') throw new TypeError('bind takes { address, port }');
    const family = familyOf(address.address);
    const port = checkInteger('port', address.port, { default: 0, min: 0, max: 65535 });
    udpDefaults(options, family);
    const socket = createSocket({ type: family === 'IPv4' ? 'udp4' : 'udp6', ipv6Only: family === 'IPv6' });
    const failed = once(socket, 'error').then(([error]) => error as Error);
    const bound = new Promise<void>((resolve) => socket.bind(port, address.address, resolve));
    const outcome = await Promise.race([bound.then(() => undefined), failed]);
    if (outcome !== undefined) {
      socket.close();
      const code = (outcome as NodeJS.ErrnoException).code;
      if (code === 'EADDRNOTAVAIL')
        throw new NotFoundError(`address ${address.address} on this host`, { cause: outcome });
      throw fromSystemError(`bind UDP socket to ${address.address}:${port}`, outcome);
    }
    socket.removeAllListeners('error');
    return new UdpSocket<T>(socket, family, options);
  }

  /** An unbound socket: the kernel binds it to a free port on its first send. */
  static async unbound<T = unknown>(options: UdpUnboundOptions<T> = {}): Promise<UdpSocket<T>> {
    const family = options.family ?? 'IPv4';
    if (family !== 'IPv4' && family !== 'IPv6')
      throw new TypeError(`family must be 'IPv4' or 'IPv6', got ${String(family)}`);
    udpDefaults(options, family);
    return new UdpSocket<T>(
      createSocket({ type: family === 'IPv4' ? 'udp4' : 'udp6', ipv6Only: family === 'IPv6' }),
      family,
      options,
    );
  }

  /** The local address (after bind, or after the first send of an unbound socket). */
  get address(): UdpAddress {
    this.#check();
    const a = this.#socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  /** Datagrams dropped because `receiveBufferMessages` were waiting unreceived. */
  get dropped(): number {
    return this.#dropped;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sets the default destination, and receives only from it. When nobody listens there, a later send or
   * receive may fail with `NotFoundError` (the kernel learns it from an ICMP port-unreachable).
   */
  async connect(address: UdpAddress): Promise<void> {
    this.#check();
    const to = checkAddress(address, 'address');
    if (familyOf(to.address) !== this.family)
      throw new TypeError(`an ${this.family} socket cannot connect to ${to.address}`);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void =>
        reject(fromSystemError(`connect UDP socket to ${to.address}:${to.port}`, error));
      this.#socket.once('error', onError);
      this.#socket.connect(to.port, to.address, () => {
        this.#socket.off('error', onError);
        resolve();
      });
    });
    this.#connected = { address: to.address, port: to.port, family: this.family };
  }

  /**
   * Sends one datagram to `to` (or the connected destination). Resolves when the kernel took it, which says
   * nothing about its arrival. Over `maxMessageBytes`: `TooLargeError`.
   */
  send(message: T, options: UdpSendOptions = {}): Promise<void> {
    let payload: Uint8Array;
    let to: UdpAddress | undefined;
    try {
      to = this.#destination(options.to);
      payload = this.#encode(message);
    } catch (error) {
      return Promise.reject(error);
    }
    // The codec may reuse its buffer, and dgram sends after this call returns: hand it a copy.
    const copy = Buffer.from(payload);
    return waitFor<void>('send', options, (settle) => {
      const done = (error: Error | null): void =>
        error ? settle.reject(udpError(to ?? this.#connected, error, copy.length)) : settle.resolve();
      if (to === undefined) this.#socket.send(copy, done);
      else this.#socket.send(copy, to.port, to.address, done);
      return () => {};
    });
  }

  /** Hands a datagram to the kernel without waiting: UDP never makes a sender wait, so this returns true (errors are lost, as datagrams are). */
  trySend(message: T, to?: UdpAddress): boolean {
    const destination = this.#destination(to);
    const copy = Buffer.from(this.#encode(message));
    const ignore = (): void => {};
    if (destination === undefined) this.#socket.send(copy, ignore);
    else this.#socket.send(copy, destination.port, destination.address, ignore);
    return true;
  }

  /** The next datagram, waiting for one. A datagram that was too large or undecodable rejects its receive. */
  receive(options?: ReceiveOptions): Promise<UdpDatagram<T>> {
    if (this.#closed) return Promise.reject(new ClosedError('UDP socket'));
    return this.#inbox.receive('receive', options).then(unwrap);
  }

  /** The next datagram if one is waiting. */
  tryReceive(): UdpDatagram<T> | undefined {
    if (this.#closed) throw new ClosedError('UDP socket');
    if (this.#inbox.waiting > 0) return undefined;
    const item = this.#inbox.shift();
    return item === undefined ? undefined : unwrap(item);
  }

  /** Yields datagrams until the socket closes. */
  [Symbol.asyncIterator](): AsyncIterator<UdpDatagram<T>> {
    return iterate(() => this.receive());
  }

  /** Closes the socket; pending receives reject with `ClosedError`. Idempotent: the same promise each time. */
  close(): Promise<void> {
    this.destroy();
    return this.#closing!;
  }

  /** Closes the socket; pending receives reject with `error` (default `ClosedError`). Idempotent. */
  destroy(error?: IpcError): void {
    if (this.#closing !== undefined) return;
    this.#closed = true;
    this.#inbox.fail(error ?? new ClosedError('UDP socket'));
    this.#closing = new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('UDP socket');
  }

  #destination(to: UdpAddress | undefined): UdpAddress | undefined {
    this.#check();
    if (to === undefined) {
      if (this.#connected === undefined) throw new TypeError('send needs `to` when the socket is not connected');
      return undefined;
    }
    if (this.#connected !== undefined)
      throw new TypeError('a connected UDP socket sends only to its connected address (leave out `to`)');
    checkAddress(to, 'to');
    if (familyOf(to.address) !== this.family)
      throw new TypeError(`an ${this.family} socket cannot send to ${to.address}`);
    return to;
  }

  #encode(message: T): Uint8Array {
    const payload = this.#codec.encode(message);
    if (payload.length > this.maxMessageBytes)
      throw new TooLargeError('datagram', payload.length, this.maxMessageBytes);
    return payload;
  }

  #onMessage(message: Buffer, rinfo: { address: string; port: number; family: string }): void {
    if (this.#inbox.waiting === 0 && this.#inbox.size >= this.#maxQueued) {
      this.#dropped++;
      return;
    }
    const from: UdpAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const data = decodeDatagram(
      this.#codec,
      message,
      message.length,
      this.maxMessageBytes,
      false,
      ` from ${rinfo.address}:${rinfo.port}`,
    );
    this.#inbox.push(data instanceof Failed ? data : { data, from });
  }
}

function udpDefaults<T>(
  options: UdpSocketOptions<T>,
  family: 'IPv4' | 'IPv6',
): { codec: Codec<T>; maxMessageBytes: number; receiveBufferMessages: number } {
  return {
    codec: codecOption(options.codec),
    maxMessageBytes: checkInteger('maxMessageBytes', options.maxMessageBytes, {
      default: MAX_UDP[family],
      min: 0,
      max: MAX_UDP[family],
    }),
    receiveBufferMessages: checkInteger('receiveBufferMessages', options.receiveBufferMessages, {
      default: 1024,
      min: 1,
      max: 1 << 20,
    }),
  };
}

function udpError(to: UdpAddress | undefined, error: unknown, size?: number): IpcError {
  return datagramSendError(to ? `${to.address}:${to.port}` : 'the connected peer', error, size);
}
