import { chmodSync } from 'node:fs';
import net from 'node:net';
import { fromSystemError } from '@ipcx/core/transport';
import { resolveUnixAddress, type ResolvedAddress, type UnixAddress } from './address.js';
import { bindReplacingStale, listenOnce, probeStream } from './internal/connect.js';
import { checkMode } from '@ipcx/core/transport';
import { claimFile, type FileClaim } from './internal/owned-files.js';
import { credentialsOf, sameUser, vet, type Authorize, type PeerCredentials } from './peer.js';
import type { StreamChannel } from './stream-channel.js';
import { serverLimits } from './internal/clients.js';
import { StreamServer, type ClientErrorOption, type StreamServerOptions } from './stream-server.js';

/** Options of `UnixServer.listen`. */
export interface UnixServerOptions<T = unknown> extends StreamServerOptions<T>, ClientErrorOption<UnixChannel<T>> {
  /** Permission bits of the socket file (connecting needs write permission). Default 0o600. Ignored for abstract names. */
  mode?: number | undefined;
  /**
   * Decides who may connect, from the peer's pid, uid and gid; default `sameUser` (only this process's uid).
   * A refused peer is disconnected before any of its bytes are read, and `onRefuse` is told.
   */
  authorize?: Authorize | undefined;
}

/** A client of a `UnixServer`: a channel that knows the pid, uid and gid of the process at the other end. */
export type UnixChannel<T = unknown> = StreamChannel<T, PeerCredentials>;

/**
 * A Unix stream socket server: one socket file (or abstract name) multiplexing many clients, each a
 * length-framed `Channel` carrying the peer's credentials. Only this process's user may connect unless
 * `authorize` says otherwise. A socket file left by a dead server is replaced; a live server's is
 * `AlreadyExistsError`. The file is removed on `close` and on exit, and is registered in core's registry of
 * kernel objects (no signal handler is installed; see the README).
 *
 * @example
 * ```ts
 * await using server = await UnixServer.listen('/run/user/1000/app.sock');
 * for await (const client of server) {
 *   console.log('connected:', client.peer.pid);
 *   void (async () => { for await (const m of client) await client.send({ echo: m }); })();
 * }
 * ```
 */
export class UnixServer<T = unknown> extends StreamServer<T, PeerCredentials> {
  /** Where the server listens. */
  readonly address: ResolvedAddress;
  #claim: FileClaim | undefined;

  private constructor(
    server: net.Server,
    address: ResolvedAddress,
    options: UnixServerOptions<T>,
    authorize: Authorize,
  ) {
    super(server, options, (socket) => vet(credentialsOf(socket), authorize, `server ${address.display}`));
    this.address = address;
  }

  /** Listens on a path or an abstract name (`{ abstract: 'name' }`). */
  static async listen<T = unknown>(address: UnixAddress, options: UnixServerOptions<T> = {}): Promise<UnixServer<T>> {
    const resolved = resolveUnixAddress(address);
    const mode = checkMode('mode', options.mode, 0o600);
    const authorize = options.authorize ?? sameUser;
    if (typeof authorize !== 'function') throw new TypeError('authorize must be a function');
    const { backlog } = serverLimits(options);
    const server = net.createServer({ pauseOnConnect: true });
    const self = new UnixServer<T>(server, resolved, options, authorize);
    try {
      await bind(server, resolved, backlog, mode);
    } catch (error) {
      server.close();
      throw error;
    }
    if (resolved.kind === 'path') {
      try {
        self.#claim = claimFile(resolved.name);
      } catch (error) {
        await self.close();
        throw fromSystemError(`socket ${resolved.display} vanished after bind`, error);
      }
    }
    return self;
  }

  protected onListenerClosed(): void {
    this.#claim?.release();
    this.#claim = undefined;
  }
}

function bind(server: net.Server, address: ResolvedAddress, backlog: number, mode: number): Promise<void> {
  const chmod = address.kind === 'path' ? () => chmodSync(address.name, mode) : undefined;
  return bindReplacingStale(
    address,
    'listen on',
    () => listenOnce(server, { path: address.target, backlog }, chmod),
    probeStream,
  );
}
