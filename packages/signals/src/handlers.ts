/**
 * Typed signal handlers: several per signal, removed by a disposer or an AbortSignal, and the three
 * dispositions of a signal (default action, handler, ignore).
 *
 * Standard signals go through Node's own handling (`process.on`): libuv's one C handler per signal,
 * shared with every other listener in the process, so a logging library's `process.on('SIGTERM')` keeps
 * working beside ours. Node cannot catch realtime signals at all; those go through `@ipcx/native`'s
 * signal receiver, whose C handler only writes the siginfo (value, sender pid and uid) to a pipe the
 * event loop polls. Either way handlers run as ordinary events, never inside a signal handler.
 */
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

import {
  AlreadyExistsError,
  LimitError,
  NotFoundError,
  PermissionError,
  UnsupportedError,
  type WaitOptions,
} from '@ipcx/core';
import { fromSystemError, waitFor } from '@ipcx/core/transport';
import { signals as nativeSignals, sigqueue, type SignalReceiver } from '@ipcx/native';

import { catchableSignal, resolveSignal, type ResolvedSignal, type SignalName } from './names.js';

/** What a handler receives. */
export interface SignalEvent {
  /** The canonical name: 'SIGTERM', 'SIGRTMIN+2'. */
  signal: SignalName;
  /** Realtime signals only: the value the sender queued (0 when sent by `kill`). */
  value?: number;
  /** Realtime signals only: the sender's pid (in this process's PID namespace; 0 from the kernel or an outer namespace). */
  pid?: number;
  /** Realtime signals only: the sender's real uid. */
  uid?: number;
}

/** Handles a signal; runs on the event loop. A throw is reported as an uncaught exception, after the other handlers ran. */
export type SignalHandler = (event: SignalEvent) => void;

/** What this process does with a signal now. */
export type SignalDisposition = 'default' | 'handler' | 'ignore';

/**
 * Removes what installed it when called; idempotent. Also a resource like any other (`close()`, `destroy()`,
 * `closed`, `using` and `await using`).
 */
export interface Disposer extends Disposable, AsyncDisposable {
  (): void;
  /** True once it ran. */
  readonly closed: boolean;
  /** Removes what installed it. Idempotent. */
  close(): Promise<void>;
  /** The same as `close`. Idempotent. */
  destroy(error?: Error): void;
}

/** Options of {@link onSignal}. */
export interface OnSignalOptions {
  /** Removes the handler when aborted. */
  signal?: AbortSignal;
  /** Removes the handler after its first call. */
  once?: boolean;
}

interface Slot {
  readonly resolved: ResolvedSignal;
  readonly handlers: Set<SignalHandler>;
  ignores: number;
  detach(): void;
}

const slots = new Map<number, Slot>();

function attach(resolved: ResolvedSignal): Slot {
  const existing = slots.get(resolved.number);
  if (existing) return existing;
  if (!resolved.realtime && !isMainThread) {
    // process.on('SIGTERM') in a worker is accepted by Node and never called.
    throw new UnsupportedError(
      `handling ${resolved.name} in a worker thread (Node delivers standard signals to the main thread only; realtime signals work)`,
    );
  }
  const handlers = new Set<SignalHandler>();
  const deliver = (event: SignalEvent): void => {
    for (const handler of [...handlers]) {
      // A handler removed by an earlier one in this same delivery is not called.
      if (!handlers.has(handler)) continue;
      try {
        handler(event);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    }
  };
  let detach: () => void;
  if (resolved.realtime) {
    let receiver: SignalReceiver;
    try {
      receiver = nativeSignals.listen(resolved.number, (info) =>
        deliver({ signal: resolved.name, value: info.value, pid: info.pid, uid: info.uid }),
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'EBUSY') {
        throw new AlreadyExistsError(
          `a receiver of ${resolved.name} in another thread of this process (a disposition is process-wide)`,
          { cause: error },
        );
      }
      throw fromSystemError(`listening to ${resolved.name}`, error);
    }
    // Like process.on('SIGTERM'): a handler does not keep the process alive.
    receiver.unref();
    detach = () => receiver.close();
  } else {
    const name = resolved.name as NodeJS.Signals;
    const listener = (): void => deliver({ signal: resolved.name });
    process.on(name, listener);
    detach = () => void process.off(name, listener);
  }
  const slot: Slot = { resolved, handlers, ignores: 0, detach };
  slots.set(resolved.number, slot);
  return slot;
}

function release(slot: Slot): void {
  if (slot.handlers.size === 0 && slot.ignores === 0 && slots.get(slot.resolved.number) === slot) {
    slots.delete(slot.resolved.number);
    slot.detach();
  }
}

/** A `Disposer` that runs `remove` once. */
export function disposer(remove: () => void): Disposer {
  let done = false;
  const dispose = (): void => {
    if (done) return;
    done = true;
    remove();
  };
  return Object.defineProperties(dispose, {
    closed: { get: () => done },
    close: { value: async (): Promise<void> => dispose() },
    destroy: { value: (_error?: Error): void => dispose() },
    [Symbol.dispose]: { value: dispose },
    [Symbol.asyncDispose]: { value: async (): Promise<void> => dispose() },
  }) as Disposer;
}

function checkAbortSignal(signal: AbortSignal | undefined): void {
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError('options.signal must be an AbortSignal');
}

/**
 * Calls `handler` for each delivery of `signal` to this process, until the returned disposer runs or
 * `options.signal` aborts. Several handlers per signal run in the order they were added. While a
 * signal has a handler its default action (terminate, for most) does not happen. Handlers do not keep
 * the process alive.
 *
 * Realtime signals carry `{ value, pid, uid }` from the sender, in the order sent, none merged.
 * @example
 * const off = onSignal('SIGHUP', () => reloadConfig());
 * onSignal('SIGRTMIN+2', ({ value, pid }) => console.log(`${pid} sent ${value}`), { signal: ac.signal });
 * off();
 * @throws UnsupportedError for SIGKILL, SIGSTOP and the signals Node reserves (the message says why).
 * @throws InvalidNameError for a name that is not a signal.
 */
export function onSignal(signal: SignalName | number, handler: SignalHandler, options: OnSignalOptions = {}): Disposer {
  const resolved = catchableSignal(signal);
  if (typeof handler !== 'function') throw new TypeError(`handler must be a function, got ${typeof handler}`);
  checkAbortSignal(options.signal);
  const abort = options.signal;
  if (abort?.aborted) return disposer(() => {});
  const slot = attach(resolved);
  // A distinct function per call: the same handler added twice is called twice and removed independently.
  const entry: SignalHandler = options.once
    ? (event) => {
        off();
        handler(event);
      }
    : (event) => handler(event);
  slot.handlers.add(entry);
  const onAbort = (): void => off();
  const off = disposer(() => {
    abort?.removeEventListener('abort', onAbort);
    slot.handlers.delete(entry);
    release(slot);
  });
  abort?.addEventListener('abort', onAbort, { once: true });
  return off;
}

/**
 * Ignores `signal` until the returned disposer runs (or `options.signal` aborts): its default action
 * (terminate, for most signals) no longer happens. Handlers added with {@link onSignal} still run: a
 * handler is a stronger disposition than ignore. Node itself decides on the C level (libuv keeps one
 * handler per signal), so the signal is caught and discarded rather than set to `SIG_IGN`; children
 * spawned meanwhile start with the default action.
 * @throws UnsupportedError as {@link onSignal}.
 */
export function ignoreSignal(signal: SignalName | number, options: { signal?: AbortSignal } = {}): Disposer {
  const resolved = catchableSignal(signal, 'ignoring');
  checkAbortSignal(options.signal);
  const abort = options.signal;
  if (abort?.aborted) return disposer(() => {});
  const slot = attach(resolved);
  slot.ignores++;
  const onAbort = (): void => off();
  const off = disposer(() => {
    abort?.removeEventListener('abort', onAbort);
    slot.ignores--;
    release(slot);
  });
  abort?.addEventListener('abort', onAbort, { once: true });
  return off;
}

/**
 * What this process does now when `signal` arrives: 'handler' (ours or any `process.on` listener),
 * 'ignore' (an {@link ignoreSignal} is in force, no handler), or 'default' (the kernel's default action;
 * what every signal returns to once its handlers and ignores are disposed).
 */
export function signalDisposition(signal: SignalName | number): SignalDisposition {
  const resolved = resolveSignal(signal);
  const slot = slots.get(resolved.number);
  if (slot && slot.handlers.size > 0) return 'handler';
  if (!resolved.realtime) {
    const ours = slot ? 1 : 0;
    if (process.listenerCount(resolved.name as NodeJS.Signals) > ours) return 'handler';
  }
  if (resolved.name === 'SIGPIPE' || resolved.name === 'SIGXFSZ') return 'ignore'; // Node sets SIG_IGN at startup
  return slot && slot.ignores > 0 ? 'ignore' : 'default';
}

/** Options of {@link waitForSignal}. */
export interface WaitForSignalOptions extends WaitOptions {}

/**
 * Resolves with the next delivery of `signal` (or of any of several). While waiting, the process stays
 * alive and the signal's default action does not happen.
 * @example
 * const { signal } = await waitForSignal(['SIGTERM', 'SIGINT'], { timeout: 60_000 });
 * @throws TimeoutError after `timeout` ms, AbortedError when `signal` aborts.
 */
export function waitForSignal(
  signal: SignalName | number | readonly (SignalName | number)[],
  options: WaitForSignalOptions = {},
): Promise<SignalEvent> {
  const list = Array.isArray(signal) ? signal : [signal as SignalName | number];
  if (list.length === 0) throw new TypeError('waitForSignal needs at least one signal');
  for (const s of list) catchableSignal(s);
  checkAbortSignal(options.signal);
  const names = list.map((s) => resolveSignal(s).name).join(' or ');
  return waitFor<SignalEvent>(`waiting for ${names}`, options, (settle) => {
    const offs = list.map((s) =>
      onSignal(s, (event) => {
        stop();
        settle.resolve(event);
      }),
    );
    // A pending wait is something the program waits for: keep the event loop alive meanwhile.
    const keepAlive = setInterval(() => {}, 0x7fffffff);
    const stop = (): void => {
      clearInterval(keepAlive);
      for (const off of offs) off();
    };
    return stop;
  });
}

/** Options of {@link sendSignal}. */
export interface SendSignalOptions {
  /** An int32 the receiver gets as `value` (sigqueue(3)); meant for realtime signals. */
  value?: number;
}

/**
 * Sends `signal` to process `pid`; with `value`, queues it with that value (sigqueue(3)), so a
 * realtime signal arrives with `{ value, pid, uid }` of this process. Any signal may be sent, SIGKILL
 * included.
 * @example
 * sendSignal(worker.pid, 'SIGRTMIN+2', { value: 42 });
 * @throws NotFoundError when no process has that pid, PermissionError when it belongs to another user,
 * LimitError when the receiver's queue of pending signals is full (RLIMIT_SIGPENDING).
 */
export function sendSignal(pid: number, signal: SignalName | number, options: SendSignalOptions = {}): void {
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff)
    throw new RangeError(`pid must be a positive integer, got ${String(pid)}`);
  const resolved = resolveSignal(signal);
  const value = options.value;
  if (value !== undefined && !(Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff)) {
    throw new RangeError(`value must be an int32 (-2147483648 to 2147483647), got ${String(value)}`);
  }
  const what = `sending ${resolved.name} to process ${pid}`;
  try {
    if (value === undefined && !resolved.realtime) process.kill(pid, resolved.number);
    else sigqueue(pid, resolved.number, value ?? 0);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ESRCH') throw new NotFoundError(`process ${pid} (${what})`, { cause: error });
    if (code === 'EPERM') throw new PermissionError(what, { cause: error });
    if (code === 'EAGAIN') throw pendingLimitError(pid, what, error);
    throw fromSystemError(what, error);
  }
}

/** Sends `signal` to this process (see {@link sendSignal}). */
export function raise(signal: SignalName | number, options: SendSignalOptions = {}): void {
  sendSignal(process.pid, signal, options);
}

function pendingLimitError(pid: number, what: string, cause: unknown): LimitError {
  let limit = 'unknown';
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max pending signals'));
    limit = line?.split(/\s{2,}/)[1] ?? limit;
  } catch {
    // the limits of another user's process are not readable; the message says so
  }
  return new LimitError(
    'RLIMIT_SIGPENDING',
    `${what}: the kernel's queue of pending signals is full (RLIMIT_SIGPENDING of process ${pid} is ${limit}, ` +
      'counted over all processes of its user). The receiver must take the signals it has, or raise the limit: ' +
      '`ulimit -i` in its shell, `prlimit --sigpending=N --pid PID`, or LimitSIGPENDING= in its systemd unit.',
    { cause },
  );
}
