import type { Server, Socket } from 'node:net';
import {
  ClosedError,
  DEFAULT_FRAME_BUDGET_BYTES,
  FrameBudget,
  type ChannelServer,
  type Codec,
  type IpcError,
  type WaitOptions,
} from '@ipcx/core';
import { Clients, type AdmissionOptions } from './internal/clients.js';
import { checkInteger } from '@ipcx/core/transport';
import { ownSocket } from './internal/direct-read.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options of the stream servers (`UnixServer`, `TcpServer`); channel options apply to every client. */
export interface StreamServerOptions<T = unknown>
  extends StreamChannelOptions<T>,
    Omit<AdmissionOptions<never>, 'onClientError'> {
  /**
   * Bytes of frames in progress (announced by a length prefix, not all arrived) that all clients together may
   * hold: a client whose frame does not fit is disconnected with `LimitError`. Memory is taken as bytes arrive.
   * Default 64 MiB (`DEFAULT_FRAME_BUDGET_BYTES`).
   */
  maxInProgressBytes?: number | undefined;
}

/** Options of a server that hands out channels it can watch end: `onClientError` (see `AdmissionOptions`). */
export type ClientErrorOption<C> = Pick<AdmissionOptions<C>, 'onClientError'>;

/** What a server decides about a new connection: what is known about the peer, or a refusal (throw). */
export type Admit<P> = (socket: Socket) => P | Promise<P>;

/**
 * The part of a stream server shared by `UnixServer` and `TcpServer`: one listening socket multiplexing many
 * clients, each a `StreamChannel`; `for await` or `accept` hands them out, `clients` lists them,
 * `broadcast` sends one message to all of them, `close` closes them all.
 */
export abstract class StreamServer<T = unknown, P = undefined> implements ChannelServer<T> {
  readonly #server: Server;
  readonly #clients: Clients<StreamChannel<T, P>>;
  readonly #channelOptions: StreamChannelOptions<T>;
  readonly #codec: Codec<T>;
  readonly #maxMessageBytes: number;
  readonly #admit: Admit<P>;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Takes over a `net.Server` that is about to listen; `admit` vets each connection. */
  protected constructor(
    server: Server,
    options: StreamServerOptions<T> & ClientErrorOption<StreamChannel<T, P>>,
    admit: Admit<P>,
  ) {
    const channel = streamChannelDefaults(options);
    const budget = checkInteger('maxInProgressBytes', options.maxInProgressBytes, {
      default: DEFAULT_FRAME_BUDGET_BYTES,
      min: 0,
    });
    this.#channelOptions = { ...channel, frameBudget: new FrameBudget(budget) };
    this.#codec = channel.codec;
    this.#maxMessageBytes = channel.maxMessageBytes;
    this.#clients = new Clients(options);
    this.#admit = admit;
    this.#server = server;
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
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
    return this.#clients.broadcast(this.#codec, this.#maxMessageBytes, message, options);
  }

  /** Stops listening and closes every client gracefully (see `StreamChannel.close`); idempotent. */
  close(): Promise<void> {
    if (this.#closed) return this.#closing ?? Promise.resolve();
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Stops listening and destroys every client at once (`error`, default `ClosedError`, for their waits); idempotent. */
  destroy(error?: IpcError): void {
    if (this.#closed) return;
    this.#closing = Promise.resolve();
    this.#stopListening();
    this.#clients.destroyAll(error);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs once the listening socket is closed: remove a socket file, unregister exit handlers. */
  protected abstract onListenerClosed(): void;

  async #shutdown(): Promise<void> {
    this.#stopListening();
    await this.#clients.closeAll();
  }

  #stopListening(): void {
    this.#closed = true;
    // close() shuts the listening descriptor at once; its callback would wait for every connection to end.
    this.#server.close();
    this.onListenerClosed();
  }

  #onConnection(socket: Socket): void {
    // An error before the channel owns the socket must not become an uncaught 'error' event.
    const early = (): void => {};
    socket.on('error', early);
    void this.#clients.admit({
      vet: async () => {
        const peer = await this.#admit(socket);
        if (socket.destroyed) throw new ClosedError('connection (it closed while being admitted)');
        return peer;
      },
      drop: () => socket.destroy(),
      make: (peer) => {
        socket.off('error', early);
        const channel = new StreamChannel<T, P>(ownSocket(socket), this.#channelOptions, peer);
        // The channel may have moved the connection onto a socket of its own (see readDirectly).
        channel.socket.once('close', () => this.#clients.remove(channel));
        return channel;
      },
    });
  }
}
