import net, { type Socket } from 'node:net';
import { PermissionError, type WaitOptions } from '@ipcx/core';
import { fromSystemError } from '@ipcx/core/transport';
import { connectSocket, listenOnce } from './internal/connect.js';
import { checkInteger } from '@ipcx/core/transport';
import { ReconnectingChannel, type ReconnectOptions } from './reconnect.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';
import { serverLimits } from './internal/clients.js';
import { StreamServer, type ClientErrorOption, type StreamServerOptions } from './stream-server.js';

/** The remote end of a TCP connection. */
export interface TcpPeer {
  readonly address: string;
  readonly port: number;
  readonly family: string;
}

/** A client of a `TcpServer`, or a `TcpSocket.connect` channel: `peer` is the remote address. */
export type TcpChannel<T = unknown> = StreamChannel<T, TcpPeer>;

/** Where a TCP server listens, or what a client connects to. */
export interface TcpAddress {
  /** Default '127.0.0.1': listening where other machines reach it is opt-in. */
  host?: string | undefined;
  /** To listen: 0 (the default) picks a free port, see `server.port`. To connect: required. */
  port?: number | undefined;
}

/** Options of `TcpServer.listen`. */
export interface TcpServerOptions<T = unknown> extends StreamServerOptions<T>, ClientErrorOption<TcpChannel<T>> {
  /** Decides who may connect by remote address; default everyone who reaches `host`. */
  authorize?: ((peer: TcpPeer) => boolean | Promise<boolean>) | undefined;
}

/** Options of `TcpSocket.connect`. */
export interface TcpConnectOptions<T = unknown> extends StreamChannelOptions<T>, WaitOptions {
  /** Redial when the connection drops (and retry the first connection): `true` for the defaults. */
  reconnect?: boolean | ReconnectOptions | undefined;
}

/** Checks a TCP address; `port` falls back to `defaultPort` (none: the port is required). */
function tcpAddress(address: TcpAddress, defaultPort: number | undefined): { host: string; port: number } {
  if (address === null || typeof address !== 'object') throw new TypeError('a TCP address is { host, port }');
  const host = address.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('host must be a non-empty string');
  if (defaultPort === undefined && address.port === undefined) throw new TypeError('port is required');
  const port = checkInteger('port', address.port, {
    default: defaultPort ?? 0,
    min: defaultPort === undefined ? 1 : 0,
    max: 65535,
  });
  return { host, port };
}

function peerOf(socket: Socket): TcpPeer {
  return { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, family: socket.remoteFamily ?? '' };
}

/** Nagle's algorithm would hold back our small, already batched writes: every batch goes out at once. */
function tune(socket: Socket): void {
  socket.setNoDelay(true);
}

/**
 * A TCP server with the same framing and API as `UnixServer`, for peers on other machines. There are no
 * credentials over TCP: `authorize` sees the remote address only, so put anything that must be private
 * behind TLS or a private network.
 *
 * @example
 * ```ts
 * await using server = await TcpServer.listen({ port: 0 });
 * const client = await TcpSocket.connect({ port: server.port }, { timeout: 1000 });
 * await client.send('hi');
 * const peer = await server.accept();
 * console.log(await peer.receive()); // 'hi'
 * ```
 */
export class TcpServer<T = unknown> extends StreamServer<T, TcpPeer> {
  private constructor(server: net.Server, options: TcpServerOptions<T>) {
    const authorize = options.authorize;
    super(server, options, async (socket) => {
      tune(socket);
      const peer = peerOf(socket);
      if (authorize && !(await authorize(peer))) {
        throw new PermissionError(`TCP server refused ${peer.address}:${peer.port}`);
      }
      return peer;
    });
  }

  /** Listens on `host:port` (default 127.0.0.1, a free port). */
  static async listen<T = unknown>(address: TcpAddress = {}, options: TcpServerOptions<T> = {}): Promise<TcpServer<T>> {
    const { host, port } = tcpAddress(address, 0);
    if (options.authorize !== undefined && typeof options.authorize !== 'function')
      throw new TypeError('authorize must be a function');
    const { backlog } = serverLimits(options);
    const server = net.createServer({ pauseOnConnect: true, noDelay: true });
    const self = new TcpServer<T>(server, options);
    try {
      await listenOnce(server, { host, port, backlog });
    } catch (error) {
      server.close();
      throw fromSystemError(`listen on ${host}:${port}`, error);
    }
    return self;
  }

  /** The port the server listens on (the one picked when `port` was 0). */
  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The address the server listens on. */
  get host(): string {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.address : '';
  }

  protected onListenerClosed(): void {}
}

async function dial<T>(
  host: string,
  port: number,
  options: StreamChannelOptions<T>,
  wait: WaitOptions | undefined,
): Promise<TcpChannel<T>> {
  const socket = await connectSocket(`${host}:${port}`, { host, port, noDelay: true }, wait);
  tune(socket);
  return new StreamChannel<T, TcpPeer>(socket, options, peerOf(socket));
}

/**
 * Connects to a `TcpServer` (or any peer speaking the framing of the README). A closed port is
 * `NotFoundError`; `timeout`/`signal` bound the connect.
 *
 * @example
 * ```ts
 * await using channel = await TcpSocket.connect({ host: '10.0.0.2', port: 7000 }, { reconnect: true });
 * await channel.send({ hello: 'world' });
 * ```
 */
export class TcpSocket {
  private constructor() {}

  /** Connects; with `reconnect`, the channel redials when the connection drops. */
  static connect<T = unknown>(
    address: TcpAddress,
    options: TcpConnectOptions<T> & { reconnect: true | ReconnectOptions },
  ): Promise<ReconnectingChannel<T, TcpPeer>>;
  static connect<T = unknown>(address: TcpAddress, options?: TcpConnectOptions<T>): Promise<TcpChannel<T>>;
  static async connect<T = unknown>(
    address: TcpAddress,
    options: TcpConnectOptions<T> = {},
  ): Promise<TcpChannel<T> | ReconnectingChannel<T, TcpPeer>> {
    const { host, port } = tcpAddress(address, undefined);
    const { reconnect, signal, timeout, ...channel } = options;
    streamChannelDefaults(channel);
    const wait = { signal, timeout };
    if (!reconnect) return dial<T>(host, port, channel, wait);
    return ReconnectingChannel.connect<T, TcpPeer>(
      (w) => dial<T>(host, port, channel, w),
      reconnect === true ? {} : reconnect,
      wait,
    );
  }
}
