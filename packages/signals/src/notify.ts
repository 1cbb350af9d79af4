/**
 * systemd's notify protocol (sd_notify(3)), natively: newline-separated `KEY=VALUE` assignments in one
 * datagram to the Unix socket named by `NOTIFY_SOCKET` (a path, or an abstract name written `@name`).
 * systemd learns the sender from the socket credentials the kernel attaches, so nothing else is needed.
 * Without `NOTIFY_SOCKET` (not started by systemd, or not `Type=notify`) every call is a no-op.
 */
import { InvalidNameError, UnsupportedError } from '@ipcx/core';
import { fromSystemError, intervalOption } from '@ipcx/core/transport';
import { socket, type SocketAddress } from '@ipcx/native';

/** What to tell the service manager; each set field becomes one assignment. */
export interface NotifyState {
  /** READY=1: start-up finished (Type=notify units are "active" only after it). */
  ready?: boolean;
  /** STOPPING=1: shutting down. */
  stopping?: boolean;
  /** RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload asks): reloading the configuration; send `ready` when done. */
  reloading?: boolean;
  /** STATUS=...: one line shown by `systemctl status`. */
  status?: string;
  /** WATCHDOG=1: alive (see {@link startWatchdog}). */
  watchdog?: boolean;
  /** MAINPID=...: the main process is another one. */
  mainPid?: number;
  /** ERRNO=...: the errno of a failure. */
  errno?: number;
  /** Further raw assignments, `KEY=VALUE` each. */
  extra?: readonly string[];
}

/** Options of the notify calls: the environment to read (default `process.env`). */
export interface NotifyOptions {
  env?: NodeJS.ProcessEnv;
}

/** The address `NOTIFY_SOCKET` names, or undefined when it is not set. */
export function notifySocket(options: NotifyOptions = {}): SocketAddress | undefined {
  const value = (options.env ?? process.env).NOTIFY_SOCKET;
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('@')) return { abstract: value.slice(1) };
  if (value.startsWith('/')) return value;
  if (value.startsWith('vsock:'))
    throw new UnsupportedError(`NOTIFY_SOCKET=${value} (an AF_VSOCK address, used for virtual machines)`);
  throw new InvalidNameError(
    value,
    'NOTIFY_SOCKET must be an absolute socket path or an abstract name starting with @',
  );
}

/**
 * Sends raw assignments (`'READY=1'`, `'STATUS=warming up\nREADY=1'`) to the service manager.
 * Returns false, sending nothing, when `NOTIFY_SOCKET` is not set.
 * @throws NotFoundError / PeerGoneError when the socket is gone, UnsupportedError for a vsock address.
 */
export function sdNotify(state: string, options: NotifyOptions = {}): boolean {
  if (typeof state !== 'string' || state === '')
    throw new TypeError('state must be a non-empty string of KEY=VALUE lines');
  const address = notifySocket(options);
  if (address === undefined) return false;
  const fd = socket('dgram');
  try {
    socket.send(fd, Buffer.from(state), address);
  } catch (error) {
    throw fromSystemError(`notifying the service manager at ${describe(address)}`, error);
  } finally {
    socket.close(fd);
  }
  return true;
}

/**
 * Tells the service manager about this service's state.
 * @example
 * notify({ ready: true, status: 'listening on :8080' });
 * @returns false when `NOTIFY_SOCKET` is not set (nothing was sent).
 */
export function notify(state: NotifyState, options: NotifyOptions = {}): boolean {
  const lines: string[] = [];
  if (state.status !== undefined) {
    if (typeof state.status !== 'string' || state.status.includes('\n'))
      throw new TypeError('status must be a string of one line');
    lines.push(`STATUS=${state.status}`);
  }
  if (state.reloading) lines.push('RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
  if (state.stopping) lines.push('STOPPING=1');
  if (state.ready) lines.push('READY=1');
  if (state.watchdog) lines.push('WATCHDOG=1');
  if (state.mainPid !== undefined) {
    if (!Number.isInteger(state.mainPid) || state.mainPid < 1)
      throw new RangeError(`mainPid must be a pid, got ${String(state.mainPid)}`);
    lines.push(`MAINPID=${state.mainPid}`);
  }
  if (state.errno !== undefined) {
    if (!Number.isInteger(state.errno) || state.errno < 0)
      throw new RangeError(`errno must be a non-negative integer, got ${String(state.errno)}`);
    lines.push(`ERRNO=${state.errno}`);
  }
  for (const line of state.extra ?? []) {
    if (typeof line !== 'string' || !/^[A-Z_][A-Z0-9_]*=[^\n]*$/.test(line))
      throw new TypeError(`extra assignments are KEY=VALUE lines, got ${JSON.stringify(line)}`);
    lines.push(line);
  }
  if (lines.length === 0) throw new TypeError('notify needs at least one field to send');
  return sdNotify(lines.join('\n'), options);
}

/**
 * The watchdog interval systemd expects pings within, in ms (from `WATCHDOG_USEC`), or undefined when the
 * unit has no watchdog or `WATCHDOG_PID` names another process.
 */
export function watchdogInterval(options: NotifyOptions = {}): number | undefined {
  const env = options.env ?? process.env;
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return usec / 1000;
}

/** Options of {@link startWatchdog}. */
export interface WatchdogOptions extends NotifyOptions {
  /** Ping every this many ms (default: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises). */
  heartbeatInterval?: number;
  /** Asked before each ping; a false (or a throw, or a rejection) skips it, so systemd restarts a stuck service. */
  healthy?: () => boolean | Promise<boolean>;
}

/** A running watchdog pinger; `close()` (or `destroy()`, or disposal) ends it. */
export interface Watchdog extends Disposable, AsyncDisposable {
  /** The ping interval in ms; 0 when nothing pings (no watchdog configured). */
  readonly heartbeatInterval: number;
  /** True once `close` or `destroy` was called. */
  readonly closed: boolean;
  /** Stops pinging. Idempotent. */
  close(): Promise<void>;
  /** The same as `close`. Idempotent. */
  destroy(error?: Error): void;
}

/**
 * Sends `WATCHDOG=1` at half the interval systemd asked for (`WATCHDOG_USEC`), while `healthy()` says
 * so. The timer does not keep the process alive. A no-op when no watchdog is configured.
 */
export function startWatchdog(options: WatchdogOptions = {}): Watchdog {
  const configured = watchdogInterval(options);
  if (options.healthy !== undefined && typeof options.healthy !== 'function')
    throw new TypeError('healthy must be a function');
  const interval =
    options.heartbeatInterval !== undefined
      ? intervalOption('heartbeatInterval', options.heartbeatInterval, 0)
      : configured === undefined
        ? 0
        : configured / 2;
  const timer =
    interval === 0 || notifySocket(options) === undefined ? undefined : setInterval(() => void ping(), interval);
  let busy = false;
  const ping = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      if (options.healthy && !(await options.healthy())) return;
      notify({ watchdog: true }, options);
    } catch {
      // an unhealthy check or a failed ping is a missed ping: systemd acts on it
    } finally {
      busy = false;
    }
  };
  let closed = false;
  const destroy = (): void => {
    closed = true;
    clearInterval(timer);
  };
  const close = async (): Promise<void> => destroy();
  if (timer !== undefined) {
    timer.unref();
    void ping();
  }
  return {
    heartbeatInterval: timer === undefined ? 0 : interval,
    get closed() {
      return closed;
    },
    close,
    destroy,
    [Symbol.dispose]: destroy,
    [Symbol.asyncDispose]: close,
  };
}

function describe(address: SocketAddress): string {
  return typeof address === 'string' ? address : `@${address.abstract}`;
}
