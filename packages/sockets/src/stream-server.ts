import type { Server, Socket } from 'node:net';
import {
  ClosedError,
  DEFAULT_FRAME_BUDGET_BYTES,
  FrameBudget,
  PermissionError,
  TooLargeError,
  fromSystemError,
  type ChannelServer,
  type Codec,
  type IpcError,
  type WaitOptions,
  copyBytes,
} from '@ipcx/core';
import { Clients } from './internal/clients.js';
import { checkInteger } from './internal/options.js';
import { observeEnd } from './internal/observe-end.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options shared by the servers (`UnixServer`, `TcpServer`, `SeqPacketServer`); channel options apply to every client. */
export interface StreamServerOptions<T = unknown> extends StreamChannelOptions<T> {
  /** Connections held at once (accepted or waiting for `accept`); more are closed at once. Default 1024. */
  maxClients?: number | undefined;
  /** The kernel's queue of connections not yet accepted (listen(2) backlog). Default 511. */
  backlog?: number | undefined;
  /** Told about every connection the server refused (not authorized, over `maxClients`, failed handshake). */
  onRefuse?: ((error: IpcError) => void) | undefined;
  /**
   * Bytes of frames in progress (announced by a length prefix, not all arrived) that all clients together may
   * hold: a client whose frame does not fit is disconnected with `LimitError`. Memory is taken as bytes arrive.
   * Default 64 MiB (`DEFAULT_FRAME_BUDGET_BYTES`). Stream servers only.
   */
  maxInProgressBytes?: number | undefined;
}

/** Options of a server that hands out channels it can watch end (stream servers). */
export interface ClientErrorOption<C> {
  /**
   * Told once for each client whose connection ended with an error rather than a clean close: it went away
   * (`PeerGoneError`: reset, killed), sent bytes that are not frames (`BadFrameError`), announced too large a
   * frame (`FrameTooLargeError`) or overran the server's budget (`LimitError`). Such a client costs its own
   * connection and this one event; `for await` over it ends quietly. An observer that throws is ignored.
   */
  onClientError?: ((error: IpcError, client: C) => void) | undefined;
}

/** What a server decides about a new connection: what is known about the peer, or a refusal (throw). */
export type Admit<P> = (socket: Socket) => P | Promise<P>;

/** Checks `maxClients` and `backlog`. */
export function serverLimits(options: StreamServerOptions<unknown>): { maxClients: number; backlog: number } {
  return {
    maxClients: checkInteger('maxClients', options.maxClients, 1024, 1),
    backlog: checkInteger('backlog', options.backlog, 511, 0, 0x7fffffff),
  };
}

/** Calls an `onRefuse` observer; an observer that throws must not take the server down. */
export function tellRefused(onRefuse: ((error: IpcError) => void) | undefined, error: IpcError): void {
  try {
    onRefuse?.(error);
  } catch {
    // ignored on purpose
  }
}

/**
 * The part of a stream server shared by `UnixServer` and `TcpServer`: one listening socket multiplexing many
 * clients, each a `StreamChannel`; `for await` or `accept` hands them out, `clients` lists them,
 * `broadcast` sends one message to all of them, `close` closes them all.
 */
export abstract class StreamServer<T = unknown, P = undefined> implements ChannelServer<T> {
  // `any`: a parameter of type P would make StreamServer<T, P> invariant in P (servers are handed around as StreamServer<T, unknown>).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #onClientError: ((error: IpcError, client: StreamChannel<T, any>) => void) | undefined;
  readonly #server: Server;
  readonly #clients: Clients<StreamChannel<T, P>>;
  readonly #channelOptions: StreamChannelOptions<T>;
  readonly #codec: Codec<T>;
  readonly #maxMessageBytes: number;
  readonly #onRefuse: ((error: IpcError) => void) | undefined;
  readonly #admit: Admit<P>;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Takes over a `net.Server` that is about to listen; `admit` vets each connection. */
  protected constructor(server: Server, options: StreamServerOptions<T> & ClientErrorOption<StreamChannel<T, P>>, admit: Admit<P>) {
    const channel = streamChannelDefaults(options);
    const budget = checkInteger('maxInProgressBytes', options.maxInProgressBytes, DEFAULT_FRAME_BUDGET_BYTES, 0);
    if (options.onClientError !== undefined && typeof options.onClientError !== 'function') throw new TypeError('onClientError must be a function');
    this.#onClientError = options.onClientError;
    this.#channelOptions = { ...channel, frameBudget: new FrameBudget(budget) };
    this.#codec = channel.codec;
    this.#maxMessageBytes = channel.maxMessageBytes;
    this.#clients = new Clients(serverLimits(options).maxClients);
    this.#onRefuse = options.onRefuse;
    this.#admit = admit;
    this.#server = server;
    server.on('connection', (socket: Socket) => void this.#onConnection(socket));
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The connected clients, accepted or still waiting for `accept`, in the order they connected. */
  get clients(): readonly StreamChannel<T, P>[] {
    return this.#clients.list;
  }

  /** The node:net server underneath. */
  /** Lets the process exit while the server listens (`net.Server.unref`). */
  unref(): this {
    this.server.unref();
    return this;
  }

  /** Undoes `unref`. */
  ref(): this {
    this.server.ref();
    return this;
  }

  protected get server(): Server {
    return this.#server;
  }

  /** Waits for the next client. Rejects with `ClosedError` once the server is closed. */
  accept(options?: WaitOptions): Promise<StreamChannel<T, P>> {
    return this.#clients.accept(options);
  }

  /** Yields each client as it connects; ends when the server closes. */
  [Symbol.asyncIterator](): AsyncIterator<StreamChannel<T, P>> {
    return this.#clients.iterate();
  }

  /**
   * Sends one message to every connected client (encoded once). Each client gets it as by `send`: a client whose
   * buffers are full is waited for (up to `timeout`), while the others already have it. Resolves to the number
   * of clients that accepted the message; a client that is gone, closed or timed out is skipped, not an error.
   * @throws TooLargeError when the message is larger than `maxMessageBytes`.
   */
  async broadcast(message: T, options?: WaitOptions): Promise<number> {
    if (this.#closed) throw new ClosedError('server');
    const payload = copyBytes(this.#codec.encode(message));
    if (payload.length > this.#maxMessageBytes) throw new TooLargeError('message', payload.length, this.#maxMessageBytes);
    return this.#clients.broadcast(payload, options);
  }

  /** Stops listening and closes every client gracefully (see `StreamChannel.close`); idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs once the listening socket is closed: remove a socket file, unregister exit handlers. */
  protected abstract onListenerClosed(): void;

  async #shutdown(): Promise<void> {
    this.#closed = true;
    // close() shuts the listening descriptor at once; its callback would wait for every connection to end.
    this.#server.close();
    this.onListenerClosed();
    await this.#clients.closeAll();
  }

  async #onConnection(socket: Socket): Promise<void> {
    // An error before the channel owns the socket must not become an uncaught 'error' event.
    const early = (): void => {};
    socket.on('error', early);
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#clients.full) {
      socket.destroy();
      tellRefused(this.#onRefuse, new PermissionError(`connection refused: the server holds its maximum of ${this.#clients.max} clients`));
      return;
    }
    this.#clients.admitting();
    let peer: P;
    try {
      peer = await this.#admit(socket);
      if (this.#closed || socket.destroyed) throw new ClosedError('server');
    } catch (error) {
      this.#clients.dropped();
      socket.destroy();
      if (!this.#closed) tellRefused(this.#onRefuse, fromSystemError('admitting a connection', error));
      return;
    }
    socket.off('error', early);
    const channel = new StreamChannel<T, P>(socket, this.#channelOptions, peer);
    const onClientError = this.#onClientError;
    if (onClientError !== undefined) channel[observeEnd]((error) => onClientError(error, channel));
    this.#clients.admitted(channel);
    socket.once('close', () => this.#clients.remove(channel));
  }
}
