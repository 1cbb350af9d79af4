import type { WaitOptions } from '@ipcx/core';
import { resolveUnixAddress, type UnixAddress } from './address.js';
import { connectSocket } from './internal/connect.js';
import { credentialsOf, remaining, sameUserOrRoot, vet, type Authorize, type PeerCredentials } from './peer.js';
import { ReconnectingChannel, type ReconnectOptions } from './reconnect.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options of `UnixSocket.connect`. */
export interface UnixConnectOptions<T = unknown> extends StreamChannelOptions<T>, WaitOptions {
  /** Redial when the connection drops (and retry the first connection): `true` for the defaults. */
  reconnect?: boolean | ReconnectOptions | undefined;
  /**
   * Checks the server's credentials (its pid, uid, gid at listen time) before the channel is handed out.
   * Default `sameUserOrRoot`: a server of another user is `PermissionError`.
   */
  authorize?: Authorize | undefined;
}

async function dial<T>(
  address: UnixAddress,
  options: StreamChannelOptions<T> & { authorize?: Authorize | undefined },
  wait: WaitOptions | undefined,
): Promise<StreamChannel<T, PeerCredentials>> {
  const resolved = resolveUnixAddress(address);
  const started = performance.now();
  const socket = await connectSocket(resolved.display, { path: resolved.target }, wait);
  try {
    const peer = credentialsOf(socket);
    await vet(peer, options.authorize ?? sameUserOrRoot, `client of ${resolved.display}`, remaining(wait, started));
    return new StreamChannel<T, PeerCredentials>(socket, options, peer);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/**
 * Connects to a `UnixServer` (or any program speaking the framing of the README) on a path or an abstract
 * name. `peer` holds the server's pid, uid and gid. `timeout`/`signal` bound the connect. A missing socket
 * file or a dead server is `NotFoundError`; a full backlog `FullError`; no permission `PermissionError`.
 *
 * @example
 * ```ts
 * await using channel = await UnixSocket.connect('/run/user/1000/app.sock', { timeout: 1000 });
 * await channel.send({ hello: 'world' });
 * console.log(await channel.receive({ timeout: 1000 }));
 * ```
 */
export class UnixSocket {
  private constructor() {}

  /** Connects to a Unix stream socket; with `reconnect`, the channel redials when the connection drops. */
  static connect<T = unknown>(
    address: UnixAddress,
    options: UnixConnectOptions<T> & { reconnect: true | ReconnectOptions },
  ): Promise<ReconnectingChannel<T, PeerCredentials>>;
  static connect<T = unknown>(
    address: UnixAddress,
    options?: UnixConnectOptions<T>,
  ): Promise<StreamChannel<T, PeerCredentials>>;
  static async connect<T = unknown>(
    address: UnixAddress,
    options: UnixConnectOptions<T> = {},
  ): Promise<StreamChannel<T, PeerCredentials> | ReconnectingChannel<T, PeerCredentials>> {
    resolveUnixAddress(address);
    streamChannelDefaults(options);
    const { reconnect, signal, timeout, ...channel } = options;
    const wait = { signal, timeout };
    if (!reconnect) return dial<T>(address, channel, wait);
    return ReconnectingChannel.connect<T, PeerCredentials>(
      (w) => dial<T>(address, channel, w),
      reconnect === true ? {} : reconnect,
      wait,
    );
  }
}
