import type { WaitOptions } from '@ipcx/core';
import { checkWaitOptions, deadline } from '@ipcx/core/transport';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { fromNatsError } from './errors.js';

/** How an ipcx object reaches NATS: a connection of the caller's, or servers to open a connection of its own to. */
export interface NatsConnectOptions extends WaitOptions {
  /**
   * An open connection to use. The object never closes it (the caller does); without it, the object opens a
   * connection of its own to `servers` and closes it on `close()`.
   */
  connection?: NatsConnection | undefined;
  /** Server URL(s) when no `connection` is given. Default `nats://127.0.0.1:4222`. */
  servers?: string | string[] | undefined;
  /**
   * Further options of `@nats-io/transport-node`'s `connect` (credentials, TLS, reconnect policy) when no
   * `connection` is given. ipcx's default: reconnect for ever, 250 ms apart.
   */
  connectOptions?: Omit<NodeConnectionOptions, 'servers'> | undefined;
}

/** A connection and whether the ipcx object that opened it must close it. */
export interface HeldConnection {
  readonly nc: NatsConnection;
  readonly owned: boolean;
}

/** Checks the connection options before anything is opened. */
export function checkConnectOptions(options: NatsConnectOptions | undefined): void {
  checkWaitOptions(options);
  const servers = options?.servers;
  if (options?.connection !== undefined && servers !== undefined) {
    throw new TypeError('give either connection or servers, not both');
  }
  if (
    servers !== undefined &&
    !(typeof servers === 'string' || (Array.isArray(servers) && servers.every((s) => typeof s === 'string')))
  ) {
    throw new TypeError('servers must be a URL string or an array of them');
  }
  const nc = options?.connection;
  if (nc !== undefined && (typeof nc !== 'object' || nc === null || typeof nc.publish !== 'function')) {
    throw new TypeError('connection must be a NatsConnection');
  }
  if (nc?.isClosed()) throw new TypeError('connection is closed');
}

/** The caller's connection, or a new one (bounded by the options' timeout and signal). */
export async function holdConnection(what: string, options: NatsConnectOptions | undefined): Promise<HeldConnection> {
  if (options?.connection) return { nc: options.connection, owned: false };
  const limit = deadline(`${what}: connect to NATS`, options);
  if (limit?.signal.aborted) {
    limit.release();
    throw limit.error();
  }
  const opening = connect({
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...options?.connectOptions,
    servers: options?.servers ?? 'nats://127.0.0.1:4222',
    ...(options?.timeout !== undefined ? { timeout: Math.max(1, Math.ceil(options.timeout)) } : {}),
  });
  if (limit === undefined) {
    try {
      return { nc: await opening, owned: true };
    } catch (error) {
      throw fromNatsError(`${what}: connect to NATS`, error);
    }
  }
  try {
    return { nc: await limit.race(opening), owned: true };
  } catch (error) {
    // A connection that opens after the caller gave up is closed, not leaked.
    opening.then(
      (nc) => nc.close(),
      () => {},
    );
    throw fromNatsError(`${what}: connect to NATS`, error);
  } finally {
    limit.release();
  }
}

/** Closes a connection the object opened itself; leaves the caller's alone. */
export async function releaseConnection(held: HeldConnection | undefined): Promise<void> {
  if (held?.owned && !held.nc.isClosed()) await held.nc.close().catch(() => {});
}

const closeWatchers = new WeakMap<NatsConnection, Set<() => void>>();

/**
 * Calls `onClosed` once the connection closes for good; returns the function that stops watching. One handler
 * per connection, so that objects that come and go on a long-lived connection are not kept alive by it.
 */
export function onConnectionClosed(nc: NatsConnection, onClosed: () => void): () => void {
  let watchers = closeWatchers.get(nc);
  if (!watchers) {
    const set = new Set<() => void>();
    watchers = set;
    closeWatchers.set(nc, set);
    const fire = (): void => {
      for (const watcher of [...set]) watcher();
      set.clear();
    };
    nc.closed().then(fire, fire);
  }
  watchers.add(onClosed);
  const set = watchers;
  return () => set.delete(onClosed);
}
