/**
 * One graceful shutdown for a process and its children.
 *
 * On the first of the configured signals (or `shutdown()`), the coordinator runs three phases over the
 * registered resources (stop accepting, drain, close), each in order (highest `priority` first, then
 * newest registration first), forwarding the signal to the children once every resource has stopped
 * accepting (so a supervisor does not restart workers that are shutting down), waits for them, unlinks
 * every kernel object in `@ipcx/core`'s registry and exits 0. All of it runs under one deadline; the
 * deadline or a second signal ends it at once with a non-zero code, names what did not close, SIGKILLs
 * the children still running and still unlinks the kernel objects (synchronously).
 *
 * PID 1: the kernel drops signals to a namespace's init that have no handler, and Node's own handler for
 * SIGTERM/SIGINT re-raises the signal with the default action, which PID 1 therefore ignores. The
 * coordinator installs real handlers and ends with `process.exit`, so it behaves the same as PID 1.
 */
import type { ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import { constants as osConstants } from 'node:os';
import { isatty } from 'node:tty';

import { ClosedError, unlinkOwnedKernelObjects, unlinkOwnedKernelObjectsSync, type UnlinkResult } from '@ipcx/core';
import { MAX_TIMEOUT_MS } from '@ipcx/core/transport';

import { childGone, childPids, procStat, watchChild, type ChildExit } from './children.js';
import { disposer, onSignal, type Disposer } from './handlers.js';
import { ImmediateResource } from './internal/resource.js';
import { catchableSignal, type SignalName } from './names.js';
import { notify } from './notify.js';

/** Something to close at shutdown. */
export interface ShutdownResource {
  /** Named in logs and in what did not close. */
  name: string;
  /**
   * Closes it; may return a promise. A function that declares a parameter gets a Node-style callback
   * instead (`close: (done) => server.close(done)`).
   */
  close: ((done: (error?: Error | null) => void) => void) | (() => unknown);
  /** Phase 1: stop taking new work (stop listening, unsubscribe). */
  stopAccepting?: () => unknown;
  /** Phase 2: finish the work in flight. */
  drain?: () => unknown;
  /** Higher closes earlier (default 0); equal priorities close newest registration first. */
  priority?: number;
}

/** Options of the {@link ShutdownCoordinator}. */
export interface ShutdownOptions {
  /** Signals that start the shutdown (default SIGTERM and SIGINT); a second one forces the exit. */
  signals?: readonly SignalName[];
  /** The deadline for the whole shutdown, children included, in ms (default 10 000). */
  timeout?: number;
  /** Exit the process when done (default true): 0 when everything closed, non-zero otherwise. */
  exit?: boolean;
  /**
   * Forward the signal to the children and wait for them (default true): registered ones (`addChild`),
   * node:cluster workers, and every other child /proc shows. Children killed at a forced exit.
   */
  children?: boolean;
  /** Unlink every kernel object in `@ipcx/core`'s registry after the resources closed (default true). */
  unlinkKernelObjects?: boolean;
  /** Tell systemd STOPPING=1 when the shutdown starts (default true; a no-op outside systemd). */
  notify?: boolean;
  /** Called when a second signal forces the exit, before it happens. */
  onSecondSignal?: (signal: SignalName) => void;
  /** Called when the deadline forces the exit, before it happens, with the names of what did not close. */
  onTimeout?: (pending: readonly string[]) => void;
  /** Where progress and failures are written (default: one line each on stderr); false for silence. */
  log?: ((message: string) => void) | false;
}

/** What a shutdown did. */
export interface ShutdownReport {
  /** The signal name, or the reason given to `shutdown()`. */
  reason: string;
  /** The exit code: 0, 1 (a close failed or a child failed), 124 (deadline), 128 + n (second signal n). */
  code: number;
  /** True when the deadline or a second signal cut it short. */
  forced: boolean;
  /** Resources closed, in the order they closed. */
  closed: string[];
  /** Resources whose stopAccepting, drain or close threw. */
  failed: { name: string; error: unknown }[];
  /** Resources (and children, as `child <pid>`) that had not closed when it was cut short. */
  pending: string[];
  /** How each child ended (`code`/`signal` null when it was not ours to reap). */
  children: ChildExit[];
  /** What `unlinkOwnedKernelObjects` did. */
  kernelObjects: UnlinkResult[];
}

interface Entry extends ShutdownResource {
  readonly order: number;
  state: 'open' | 'closing' | 'closed' | 'failed';
}

/** The exit code for a shutdown cut short by the deadline (as timeout(1)). */
export const EXIT_TIMEOUT = 124;

let sequence = 0;

/**
 * Closes registered resources, children and kernel objects on SIGTERM/SIGINT, once, under a deadline.
 * @example
 * const shutdown = new ShutdownCoordinator({ timeout: 10_000 });
 * shutdown.register({ name: 'http', close: (done) => server.close(done) });
 * shutdown.register({ name: 'jobs', close: () => queue.close() });
 * // SIGTERM: close jobs, then http; wait for children; unlink kernel objects; exit 0.
 */
export class ShutdownCoordinator extends ImmediateResource implements Disposable {
  readonly #options: Required<
    Pick<ShutdownOptions, 'timeout' | 'exit' | 'children' | 'unlinkKernelObjects' | 'notify'>
  > &
    ShutdownOptions;
  readonly #entries = new Set<Entry>();
  readonly #children = new Set<ChildProcess | number>();
  readonly #offs: Disposer[] = [];
  readonly #log: (message: string) => void;
  #running: Promise<ShutdownReport> | undefined;
  #finish: ((forced: { code: number; why: string } | undefined) => void) | undefined;

  constructor(options: ShutdownOptions = {}) {
    super();
    const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);
    if (!Array.isArray(signals) || signals.length === 0)
      throw new TypeError('signals must be a non-empty array of signal names');
    const resolved = signals.map((s) => catchableSignal(s, 'shutting down on'));
    const timeout = options.timeout ?? 10_000;
    if (!(typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMEOUT_MS)) {
      throw new RangeError(
        `timeout must be a number of ms above 0 and at most ${MAX_TIMEOUT_MS}, got ${String(timeout)}`,
      );
    }
    for (const key of ['exit', 'children', 'unlinkKernelObjects', 'notify'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'boolean')
        throw new TypeError(`${key} must be a boolean`);
    }
    for (const key of ['onSecondSignal', 'onTimeout'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'function')
        throw new TypeError(`${key} must be a function`);
    }
    if (options.log !== undefined && options.log !== false && typeof options.log !== 'function')
      throw new TypeError('log must be a function or false');
    this.#options = {
      ...options,
      timeout,
      exit: options.exit ?? true,
      children: options.children ?? true,
      unlinkKernelObjects: options.unlinkKernelObjects ?? true,
      notify: options.notify ?? true,
    };
    this.#log = options.log === false ? () => {} : (options.log ?? ((message) => process.stderr.write(`${message}\n`)));
    for (const { name } of resolved) this.#offs.push(onSignal(name, () => this.#onSignal(name)));
  }

  /** True from the start of the shutdown. */
  get shuttingDown(): boolean {
    return this.#running !== undefined;
  }

  /**
   * Adds a resource to close at shutdown; returns a disposer that removes it (when it closed by itself).
   * @throws ClosedError once the shutdown has started.
   */
  register(resource: ShutdownResource): Disposer {
    if (typeof resource !== 'object' || resource === null)
      throw new TypeError('register takes { name, close, priority? }');
    const { name, close, stopAccepting, drain, priority = 0 } = resource;
    if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
    if (typeof close !== 'function') throw new TypeError(`close of ${name} must be a function`);
    if (stopAccepting !== undefined && typeof stopAccepting !== 'function')
      throw new TypeError(`stopAccepting of ${name} must be a function`);
    if (drain !== undefined && typeof drain !== 'function') throw new TypeError(`drain of ${name} must be a function`);
    if (typeof priority !== 'number' || !Number.isFinite(priority))
      throw new TypeError(`priority of ${name} must be a finite number`);
    if (this.#running) throw new ClosedError('shutdown coordinator (shutting down)');
    const entry: Entry = { name, close, stopAccepting, drain, priority, order: sequence++, state: 'open' };
    this.#entries.add(entry);
    return disposer(() => {
      if (entry.state === 'open') this.#entries.delete(entry);
    });
  }

  /** Adds a child (a ChildProcess or a pid) to forward the signal to and wait for; found in /proc anyway with `children: true`. */
  addChild(child: ChildProcess | number): this {
    if (typeof child === 'number') {
      if (!Number.isInteger(child) || child < 1) throw new RangeError(`pid must be a positive integer, got ${child}`);
    } else if (typeof child !== 'object' || child === null || typeof child.kill !== 'function') {
      throw new TypeError('child must be a ChildProcess or a pid');
    }
    this.#children.add(child);
    return this;
  }

  /**
   * Starts the shutdown (or returns the one under way). With `exit: true` the process exits when it
   * ends; the promise resolves either way (with `exit: false`, to the caller).
   */
  shutdown(reason: string | Error = 'shutdown()'): Promise<ShutdownReport> {
    this.#running ??= this.#run(reason instanceof Error ? reason.message : String(reason), undefined);
    return this.#running;
  }

  /** Stops listening for the signals (`close`, `destroy`; a shutdown under way goes on, and calls it when it ends). */
  protected release(): void {
    for (const off of this.#offs) off();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #onSignal(signal: SignalName): void {
    if (this.#running === undefined) {
      this.#running = this.#run(signal, signal);
      return;
    }
    this.#log(`shutdown: second ${signal}, exiting now`);
    try {
      this.#options.onSecondSignal?.(signal);
    } finally {
      const n = (osConstants.signals as Record<string, number | undefined>)[signal] ?? 0;
      this.#finish?.({ code: 128 + n, why: `second signal ${signal}` });
    }
  }

  async #run(reason: string, signal: SignalName | undefined): Promise<ShutdownReport> {
    const options = this.#options;
    const started = Date.now();
    this.#log(`shutdown: ${reason}, closing within ${options.timeout} ms`);
    if (options.notify) {
      try {
        notify({ stopping: true, status: `shutting down (${reason})` });
      } catch (error) {
        this.#log(`shutdown: could not notify systemd: ${(error as Error).message}`);
      }
    }
    const report: ShutdownReport = {
      reason,
      code: 0,
      forced: false,
      closed: [],
      failed: [],
      pending: [],
      children: [],
      kernelObjects: [],
    };
    // Children are told after the first phase: a supervisor that stops accepting first does not take its
    // workers' exits for crashes and restart them while the tree shuts down.
    let children: ChildWait[] | undefined;
    const forward = () => (children ??= this.#forward(signal ?? 'SIGTERM'));

    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<{ code: number; why: string } | undefined>((resolve) => {
      this.#finish = resolve;
      timer = setTimeout(
        () => resolve({ code: EXIT_TIMEOUT, why: `deadline of ${options.timeout} ms passed` }),
        options.timeout,
      );
    });
    const orderly = (async () => {
      const ordered = [...this.#entries].sort((a, b) => b.priority! - a.priority! || b.order - a.order);
      for (const phase of ['stopAccepting', 'drain', 'close'] as const) {
        for (const entry of ordered) {
          if (entry.state === 'failed') continue;
          const fn = entry[phase];
          if (fn === undefined) continue;
          entry.state = 'closing';
          try {
            await call(fn, phase === 'close');
            if (phase === 'close') {
              entry.state = 'closed';
              report.closed.push(entry.name);
            } else {
              entry.state = 'open';
            }
          } catch (error) {
            entry.state = 'failed';
            report.failed.push({ name: entry.name, error });
            this.#log(`shutdown: ${phase} of ${entry.name} failed: ${(error as Error)?.message ?? String(error)}`);
          }
        }
        if (phase === 'stopAccepting') forward();
      }
      report.children = await Promise.all(forward().map((c) => c.exited));
      if (options.unlinkKernelObjects) report.kernelObjects = await unlinkOwnedKernelObjects();
      return undefined;
    })();

    const cut = await Promise.race([orderly, forced]);
    clearTimeout(timer);
    this.#finish = undefined;
    if (cut !== undefined) {
      report.forced = true;
      report.code = cut.code;
      for (const entry of [...this.#entries].sort((a, b) => b.priority! - a.priority! || b.order - a.order)) {
        if (entry.state === 'open' || entry.state === 'closing') report.pending.push(entry.name);
      }
      for (const child of forward()) {
        if (!child.done) {
          report.pending.push(`child ${child.pid}`);
          child.kill();
        }
      }
      if (options.unlinkKernelObjects) report.kernelObjects = unlinkOwnedKernelObjectsSync();
      this.#log(`shutdown: ${cut.why}; did not close: ${report.pending.join(', ') || '(nothing)'}`);
      if (cut.code === EXIT_TIMEOUT) {
        try {
          options.onTimeout?.(report.pending);
        } catch (error) {
          this.#log(`shutdown: onTimeout threw: ${(error as Error)?.message ?? String(error)}`);
        }
      }
    } else {
      const unlinkFailed = report.kernelObjects.filter((r) => r.error !== undefined);
      for (const r of unlinkFailed)
        this.#log(
          `shutdown: unlinking ${r.object.kind} ${r.object.name} failed: ${(r.error as Error)?.message ?? String(r.error)}`,
        );
      const childFailed = report.children.some(
        (c) =>
          (c.code !== null && c.code !== 0) || (c.signal !== null && c.signal !== signal && c.signal !== 'SIGTERM'),
      );
      report.code = report.failed.length > 0 || unlinkFailed.length > 0 || childFailed ? 1 : 0;
      this.#log(`shutdown: done in ${Date.now() - started} ms, exit ${report.code}`);
    }
    this.destroy();
    if (options.exit) process.exit(report.code);
    return report;
  }

  /** Sends `signal` to every child and returns a waiter per child. */
  #forward(signal: SignalName): ChildWait[] {
    const known = new Map<number, ChildProcess | undefined>();
    const add = (child: ChildProcess | number): void => {
      if (typeof child === 'number') {
        if (!known.has(child)) known.set(child, undefined);
      } else if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        known.set(child.pid, child);
      }
    };
    for (const child of this.#children) add(child);
    if (this.#options.children) {
      if (cluster.isPrimary) for (const worker of Object.values(cluster.workers ?? {})) if (worker) add(worker.process);
      for (const pid of childPids()) add(pid);
    }
    if (known.size === 0) return [];
    // Under a terminal, Ctrl-C sends SIGINT to the whole foreground process group: children in ours have it already.
    let skipGroup = -1;
    if (signal === 'SIGINT' && isatty(0)) skipGroup = procStat(process.pid)?.pgid ?? -1;
    const waits = [...known].map(([pid, child]) => childWait(pid, child));
    for (const wait of waits) {
      if (skipGroup !== -1 && procStat(wait.pid)?.pgid === skipGroup) continue;
      try {
        process.kill(wait.pid, signal);
      } catch {
        // gone already
      }
    }
    this.#log(
      `shutdown: sent ${signal} to ${waits.length} child${waits.length === 1 ? '' : 'ren'} (${waits.map((w) => w.pid).join(', ')})`,
    );
    return waits;
  }
}

interface ChildWait {
  readonly pid: number;
  readonly exited: Promise<ChildExit>;
  readonly done: boolean;
  kill(): void;
}

/**
 * Waits for one child: through its ChildProcess when we have one (exit code and signal known), else by
 * its /proc entry, checked again on every SIGCHLD (which libuv shares among its listeners).
 */
function childWait(pid: number, child: ChildProcess | undefined): ChildWait {
  let done = false;
  let exited: Promise<ChildExit>;
  if (child) {
    exited = watchChild(child);
  } else {
    exited = new Promise<ChildExit>((resolve) => {
      const check = (): void => {
        if (!childGone(pid)) return;
        process.off('SIGCHLD', check);
        resolve({ pid, code: null, signal: null });
      };
      process.on('SIGCHLD', check);
      check();
    });
  }
  exited = exited.then(
    (exit) => {
      done = true;
      return exit;
    },
    () => {
      done = true;
      return { pid, code: null, signal: null };
    },
  );
  return {
    pid,
    exited,
    get done() {
      return done;
    },
    kill() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    },
  };
}

async function call(fn: (...args: never[]) => unknown, withCallback: boolean): Promise<void> {
  try {
    if (withCallback && fn.length >= 1) {
      await new Promise<void>((resolve, reject) => {
        (fn as (done: (error?: Error | null) => void) => void)((error) => (error ? reject(error) : resolve()));
      });
      return;
    }
    await (fn as () => unknown)();
  } catch (error) {
    // A server something else closed first (node:cluster closes a worker's servers when its primary
    // disconnects it, which a supervisor does at shutdown) is closed: what this phase wanted.
    if ((error as NodeJS.ErrnoException)?.code === 'ERR_SERVER_NOT_RUNNING') return;
    throw error;
  }
}
