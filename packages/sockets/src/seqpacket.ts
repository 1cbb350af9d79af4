import { AbortedError, type ChannelServer, type IpcError, type WaitOptions } from '@ipcx/core';
import { checkWaitOptions, fromSystemError } from '@ipcx/core/transport';
import { FdWatcher, peerCredentials, socket as sock } from '@ipcx/native';
import { resolveUnixAddress, type ResolvedAddress, type UnixAddress } from './address.js';
import { Clients, serverLimits, type AdmissionOptions } from './internal/clients.js';
import { checkMode } from '@ipcx/core/transport';
import { claimFile, type FileClaim } from './internal/owned-files.js';
import { bindPacketSocket, connectPacketSocket } from './internal/packet-socket.js';
import { sameUser, sameUserOrRoot, vet, type Authorize, type PeerCredentials } from './peer.js';
import { SeqPacketChannel, seqPacketDefaults, type SeqPacketChannelOptions } from './seqpacket-channel.js';

/** Options of `SeqPacketServer.listen`. */
export interface SeqPacketServerOptions<T = unknown>
  extends SeqPacketChannelOptions<T>,
    AdmissionOptions<SeqPacketClient<T>> {
  /** Permission bits of the socket file. Default 0o600. */
  mode?: number | undefined;
  /** Who may connect; default `sameUser`. A refused peer is closed before anything it sent is read. */
  authorize?: Authorize | undefined;
}

/** Options of `SeqPacketSocket.connect`. */
export interface SeqPacketConnectOptions<T = unknown> extends SeqPacketChannelOptions<T>, WaitOptions {
  /** Checks the server's credentials before the channel is handed out; default `sameUserOrRoot`. */
  authorize?: Authorize | undefined;
}

/** A client of a `SeqPacketServer`, knowing the peer's pid, uid and gid. */
export type SeqPacketClient<T = unknown> = SeqPacketChannel<T, PeerCredentials>;

/**
 * A Unix seqpacket server: connection-oriented like a stream server, but the kernel keeps message boundaries,
 * so each message is one packet with no length prefix. Same shape as `UnixServer`: `for await` / `accept`,
 * `clients`, `broadcast`, `close`, peer credentials, `authorize` (same uid by default), socket file 0600,
 * stale files replaced and the file removed on close and exit (and registered in core's registry).
 *
 * @example
 * ```ts
 * await using server = await SeqPacketServer.listen({ abstract: 'app' });
 * for await (const client of server) void client.send({ hello: client.peer.pid });
 * ```
 */
export class SeqPacketServer<T = unknown> implements ChannelServer<T> {
  /** Where the server listens. */
  readonly address: ResolvedAddress;
  readonly #fd: number;
  readonly #watcher: FdWatcher;
  readonly #clients: Clients<SeqPacketClient<T>>;
  readonly #options: SeqPacketServerOptions<T>;
  readonly #authorize: Authorize;
  readonly #claim: FileClaim | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  private constructor(fd: number, address: ResolvedAddress, options: SeqPacketServerOptions<T>, authorize: Authorize) {
    this.#fd = fd;
    this.address = address;
    this.#options = options;
    this.#authorize = authorize;
    this.#clients = new Clients(options);
    this.#claim = address.kind === 'path' ? claimFile(address.name) : undefined;
    this.#watcher = new FdWatcher(fd, (events) => {
      if (!events.error) this.#acceptAll();
    });
    this.#watcher.start({ readable: true });
  }

  /** Listens on a path or an abstract name. */
  static async listen<T = unknown>(
    address: UnixAddress,
    options: SeqPacketServerOptions<T> = {},
  ): Promise<SeqPacketServer<T>> {
    const resolved = resolveUnixAddress(address);
    seqPacketDefaults(options);
    const mode = checkMode('mode', options.mode, 0o600);
    const authorize = options.authorize ?? sameUser;
    if (typeof authorize !== 'function') throw new TypeError('authorize must be a function');
    const { backlog } = serverLimits(options);
    const fd = await bindPacketSocket('seqpacket', resolved, mode);
    try {
      sock.listen(fd, backlog);
      return new SeqPacketServer<T>(fd, resolved, options, authorize);
    } catch (error) {
      sock.close(fd);
      throw fromSystemError(`listen on ${resolved.display}`, error);
    }
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The connected clients, oldest first. */
  get clients(): readonly SeqPacketClient<T>[] {
    return this.#clients.list;
  }

  /** Waits for the next client; `ClosedError` once the server is closed. */
  accept(options?: WaitOptions): Promise<SeqPacketClient<T>> {
    return this.#clients.accept(options);
  }

  [Symbol.asyncIterator](): AsyncIterator<SeqPacketClient<T>> {
    return this.#clients.iterate();
  }

  /** Sends one message to every client (encoded once); resolves to how many accepted it (see `UnixServer.broadcast`). */
  async broadcast(message: T, options?: WaitOptions): Promise<number> {
    const { codec, maxMessageBytes } = seqPacketDefaults(this.#options);
    return this.#clients.broadcast(codec, maxMessageBytes, message, options);
  }

  /** Stops listening, removes the socket file and closes every client; idempotent. */
  close(): Promise<void> {
    if (this.#closed) return this.#closing ?? Promise.resolve();
    this.#stopListening();
    this.#closing = this.#clients.closeAll();
    return this.#closing;
  }

  /** Stops listening, removes the socket file and destroys every client at once; idempotent. */
  destroy(error?: IpcError): void {
    if (this.#closed) return;
    this.#stopListening();
    this.#closing = Promise.resolve();
    this.#clients.destroyAll(error);
  }

  #stopListening(): void {
    this.#closed = true;
    this.#watcher.close();
    sock.close(this.#fd);
    this.#claim?.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #acceptAll(): void {
    while (!this.#closed) {
      let fd: number;
      try {
        fd = sock.accept(this.#fd);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') this.#clients.refused(fromSystemError('accept', error));
        return;
      }
      void this.#clients.admit({
        vet: () => vet(peerCredentials(fd), this.#authorize, `server ${this.address.display}`),
        drop: () => sock.close(fd),
        make: (peer) => {
          const channel: SeqPacketClient<T> = new SeqPacketChannel<T, PeerCredentials>(fd, this.#options, peer, () =>
            this.#clients.remove(channel),
          );
          return channel;
        },
      });
    }
  }
}

/**
 * Connects to a `SeqPacketServer` (or any Unix seqpacket listener). Unix connects complete at once: a missing
 * or dead server is `NotFoundError`, a full backlog `FullError`, a stream server at that path `SystemError`
 * (EPROTOTYPE).
 *
 * @example
 * ```ts
 * await using channel = await SeqPacketSocket.connect({ abstract: 'app' });
 * console.log(await channel.receive({ timeout: 1000 }), channel.peer.pid);
 * ```
 */
export class SeqPacketSocket {
  private constructor() {}

  /** Connects; `signal` is checked before connecting (the connect itself never waits). */
  static async connect<T = unknown>(
    address: UnixAddress,
    options: SeqPacketConnectOptions<T> = {},
  ): Promise<SeqPacketClient<T>> {
    const resolved = resolveUnixAddress(address);
    // The connect itself never waits; the timeout is checked like every other wait's.
    checkWaitOptions(options);
    const { signal, timeout: _timeout, authorize, ...channel } = options;
    seqPacketDefaults(channel);
    if (signal?.aborted) throw new AbortedError(`connect to ${resolved.display}`, { cause: signal.reason });
    const fd = connectPacketSocket('seqpacket', resolved);
    let peer: PeerCredentials;
    try {
      peer = peerCredentials(fd);
      await vet(peer, authorize ?? sameUserOrRoot, `client of ${resolved.display}`, options);
    } catch (error) {
      sock.close(fd);
      throw fromSystemError(`connect to ${resolved.display}`, error);
    }
    return new SeqPacketChannel<T, PeerCredentials>(fd, channel, peer);
  }
}
