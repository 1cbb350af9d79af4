import type { Server, Socket } from 'node:net';
import {
  ClosedError,
  Inbox,
  PermissionError,
  TooLargeError,
  fromSystemError,
  iterate,
  msgpackCodec,
  type ChannelServer,
  type Codec,
  type IpcError,
  type WaitOptions,
} from '@ipcx/core';
import { checkInteger } from './internal/options.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options shared by the stream servers (`UnixServer`, `TcpServer`); channel options apply to every client. */
export interface StreamServerOptions<T = unknown> extends StreamChannelOptions<T> {
  /** Connections held at once (accepted or waiting for `accept`); more are closed at once. Default 1024. */
  maxClients?: number | undefined;
  /** The kernel's queue of connections not yet accepted (listen(2) backlog). Default 511. */
  backlog?: number | undefined;
  /** Told about every connection the server refused (not authorized, over `maxClients`, failed handshake). */
  onRefuse?: ((error: IpcError) => void) | undefined;
}

/** What a server decides about a new connection: what is known about the peer, or a refusal (throw). */
export type Admit<P> = (socket: Socket) => P | Promise<P>;

/**
 * The part of a stream server shared by `UnixServer` and `TcpServer`: one listening socket multiplexing many
 * clients, each a `StreamChannel`; `for await` or `accept` hands them out, `clients` lists them,
 * `broadcast` sends one message to all of them, `close` closes them all.
 */
export abstract class StreamServer<T = unknown, P = undefined> implements ChannelServer<T> {
  readonly #server: Server;
  readonly #clients = new Set<StreamChannel<T, P>>();
  readonly #accepted = new Inbox<StreamChannel<T, P>>();
  readonly #channelOptions: StreamChannelOptions<T>;
  readonly #codec: Codec<T>;
  readonly #maxFrameBytes: number;
  readonly #maxClients: number;
  readonly #onRefuse: ((error: IpcError) => void) | undefined;
  readonly #admit: Admit<P>;
  #admitting = 0;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** Takes over a listening (or about to listen) `net.Server`; `admit` vets each connection. */
  protected constructor(server: Server, options: StreamServerOptions<T>, admit: Admit<P>) {
    const channel = streamChannelDefaults(options);
    this.#channelOptions = channel;
    this.#codec = channel.codec ?? (msgpackCodec as Codec<T>);
    this.#maxFrameBytes = channel.maxFrameBytes;
    this.#maxClients = checkInteger('maxClients', options.maxClients, 1024, 1);
    this.#onRefuse = options.onRefuse;
    this.#admit = admit;
    this.#server = server;
    server.on('connection', (socket: Socket) => void this.#onConnection(socket));
  }

  /** Checks the options every stream server takes; call before listening. */
  protected static backlogOf(options: StreamServerOptions<unknown>): number {
    return checkInteger('backlog', options.backlog, 511, 0, 0x7fffffff);
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The connected clients, accepted or still waiting for `accept`, in the order they connected. */
  get clients(): readonly StreamChannel<T, P>[] {
    return [...this.#clients];
  }

  /** The node:net server underneath (for `address()`, `ref`/`unref`); do not listen or close it directly. */
  protected get server(): Server {
    return this.#server;
  }

  /** Waits for the next client. Rejects with `ClosedError` once the server is closed. */
  accept(options?: WaitOptions): Promise<StreamChannel<T, P>> {
    if (this.#closed) return Promise.reject(new ClosedError('server'));
    return this.#accepted.receive('accept', options);
  }

  /** Yields each client as it connects; ends when the server closes. */
  [Symbol.asyncIterator](): AsyncIterator<StreamChannel<T, P>> {
    return iterate(() => this.accept());
  }

  /**
   * Sends one message to every connected client (encoded once). Each client gets it as by `send`: a client whose
   * buffers are full is waited for (up to `timeout`), while the others already have it. Resolves to the number
   * of clients that accepted the message; a client that is gone, closed or timed out is skipped, not an error.
   * @throws TooLargeError when the message is larger than `maxFrameBytes`.
   */
  async broadcast(message: T, options?: WaitOptions): Promise<number> {
    if (this.#closed) throw new ClosedError('server');
    const payload = this.#codec.encode(message).slice();
    if (payload.length > this.#maxFrameBytes) throw new TooLargeError('message', payload.length, this.#maxFrameBytes);
    const results = await Promise.allSettled([...this.#clients].map((client) => client.sendEncoded(payload, options)));
    return results.filter((r) => r.status === 'fulfilled').length;
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
    this.#accepted.fail(new ClosedError('server'));
    // close() shuts the listening descriptor at once; its callback would wait for every connection to end.
    this.#server.close();
    this.onListenerClosed();
    await Promise.all([...this.#clients].map((client) => client.close()));
    this.#clients.clear();
  }

  async #onConnection(socket: Socket): Promise<void> {
    // An error before the channel owns the socket must not become an uncaught 'error' event.
    const early = (): void => {};
    socket.on('error', early);
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#clients.size + this.#admitting >= this.#maxClients) {
      this.#refuse(socket, new PermissionError(`connection refused: the server holds its maximum of ${this.#maxClients} clients`));
      return;
    }
    this.#admitting++;
    let peer: P;
    try {
      peer = await this.#admit(socket);
    } catch (error) {
      this.#refuse(socket, fromSystemError('admitting a connection', error));
      return;
    } finally {
      this.#admitting--;
    }
    if (this.#closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.off('error', early);
    const channel = new StreamChannel<T, P>(socket, this.#channelOptions, peer);
    this.#clients.add(channel);
    socket.once('close', () => this.#clients.delete(channel));
    this.#accepted.push(channel);
  }

  #refuse(socket: Socket, error: IpcError): void {
    socket.destroy();
    try {
      this.#onRefuse?.(error);
    } catch {
      // A throwing observer must not take the server down.
    }
  }
}
