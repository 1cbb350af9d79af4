/**
 * Child exits as SIGCHLD tells a C parent: one event `{ pid, code, signal }` per child, whether it exited
 * or was killed by a signal (Node's `exit` event says the latter with `code === null`, and a listener added
 * after the child died hears nothing at all).
 */
import type { ChildProcess } from 'node:child_process';
import cluster from 'node:cluster';
import diagnostics from 'node:diagnostics_channel';
import { readFileSync, readdirSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';

import { ClosedError, type WaitOptions } from '@ipcx/core';
import { Inbox, fromSystemError, iterate, waitFor } from '@ipcx/core/transport';

import { ImmediateResource } from './internal/resource.js';

/** How a child ended: exactly one of `code` (it exited) and `signal` (a signal killed it) is set. */
export interface ChildExit {
  pid: number;
  /** The exit status, or null when a signal killed it. */
  code: number | null;
  /** The signal that killed it, or null when it exited. */
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): ChildExit | undefined {
  // A child that failed to start has no pid and a negative errno as its exitCode.
  if (child.pid === undefined || (child.exitCode === null && child.signalCode === null)) return undefined;
  return { pid: child.pid ?? 0, code: child.exitCode, signal: child.signalCode as NodeJS.Signals | null };
}

function checkChild(child: unknown): asserts child is ChildProcess {
  const c = child as ChildProcess | null;
  if (typeof c !== 'object' || c === null || typeof c.once !== 'function' || !('exitCode' in c)) {
    throw new TypeError('child must be a ChildProcess (from node:child_process, or a cluster worker.process)');
  }
}

/**
 * Resolves with how `child` ended, also when it had already ended before the call.
 * @example
 * const { code, signal } = await watchChild(spawn('make'));
 * @throws the spawn error (as an IpcError) when the child never started; TimeoutError/AbortedError.
 */
export function watchChild(child: ChildProcess, options?: WaitOptions): Promise<ChildExit> {
  checkChild(child);
  return waitFor<ChildExit>(`waiting for child ${child.pid ?? '(not started)'} to exit`, options, (settle) => {
    const ended = exitOf(child);
    if (ended) {
      settle.resolve(ended);
      return () => {};
    }
    if (child.pid === undefined && typeof child.exitCode === 'number' && child.exitCode < 0) {
      // Its spawn error was emitted already.
      const errno = child.exitCode;
      const cause = Object.assign(new Error(`spawn ${child.spawnfile} ${getSystemErrorName(errno)}`), {
        errno,
        code: getSystemErrorName(errno),
        syscall: 'spawn',
      });
      settle.reject(fromSystemError(`spawning ${child.spawnfile}`, cause));
      return () => {};
    }
    const onExit = (): void => {
      off();
      settle.resolve(exitOf(child)!);
    };
    // Only a child that never got a pid is waited for on 'error' (its spawn error): listening to 'error'
    // on a running child would swallow the errors of failed kill() and send() calls.
    const onError = (error: Error): void => {
      off();
      settle.reject(fromSystemError(`spawning ${child.spawnfile}`, error));
    };
    const off = (): void => {
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('exit', onExit);
    if (child.pid === undefined) child.once('error', onError);
    return off;
  });
}

/** Options of {@link childExits}. */
export interface ChildExitsOptions {
  /** Children to follow from the start (more with `add`). */
  children?: Iterable<ChildProcess>;
  /** Also follow every node:cluster worker, those forked now and later (in a cluster primary). */
  cluster?: boolean;
  /**
   * Also follow every child this process spawns from now on through node:child_process (its
   * `child_process` diagnostics channel; cluster workers included). Default: true when no `children` are given.
   */
  spawned?: boolean;
}

/** A stream of child exits: `for await (const { pid, code, signal } of exits)`. */
export class ChildExits extends ImmediateResource implements AsyncIterable<ChildExit> {
  readonly #inbox = new Inbox<ChildExit>();
  readonly #watched = new Map<ChildProcess, () => void>();
  #offCluster: (() => void) | undefined;
  #offSpawned: (() => void) | undefined;

  constructor(options: ChildExitsOptions = {}) {
    super();
    if (options.spawned !== undefined && typeof options.spawned !== 'boolean')
      throw new TypeError('spawned must be a boolean');
    for (const child of options.children ?? []) checkChild(child);
    for (const child of options.children ?? []) this.add(child);
    if (options.cluster) {
      if (!cluster.isPrimary) throw new TypeError('cluster: true is for a node:cluster primary');
      for (const worker of Object.values(cluster.workers ?? {})) if (worker) this.add(worker.process);
      const onFork = (worker: { process: ChildProcess }): void => void this.add(worker.process);
      cluster.on('fork', onFork);
      this.#offCluster = () => void cluster.off('fork', onFork);
    }
    if (options.spawned ?? options.children === undefined) {
      // Published by the ChildProcess constructor, just before spawn() runs in the same synchronous call:
      // a microtask later the child has its pid (or failed to start), and it cannot have exited yet.
      const onSpawn = (message: unknown): void => {
        const child = (message as { process?: ChildProcess } | undefined)?.process;
        if (child) queueMicrotask(() => !this.closed && this.add(child));
      };
      diagnostics.subscribe('child_process', onSpawn);
      this.#offSpawned = () => void diagnostics.unsubscribe('child_process', onSpawn);
    }
  }

  /** Children followed and not yet exited. */
  get size(): number {
    return this.#watched.size;
  }

  /**
   * Follows `child`; a child that has already ended is reported at once, one that never started (no pid)
   * is not followed. Adding one twice is a no-op.
   */
  add(child: ChildProcess): this {
    checkChild(child);
    if (this.closed) throw new ClosedError('child exit stream');
    if (this.#watched.has(child)) return this;
    const ended = exitOf(child);
    if (ended) {
      this.#inbox.push(ended);
      return this;
    }
    // A child that never started (no pid) has no exit to report.
    if (child.pid === undefined) return this;
    const onExit = (): void => {
      child.off('exit', onExit);
      this.#watched.delete(child);
      this.#inbox.push(exitOf(child)!);
    };
    child.on('exit', onExit);
    this.#watched.set(child, () => child.off('exit', onExit));
    return this;
  }

  /** The next exit, in the order they happened. */
  next(options?: WaitOptions): Promise<ChildExit> {
    return this.#inbox.receive('waiting for a child exit', options);
  }

  /** Stops following (`close`, `destroy`): a pending `next` and every later one reject with `ClosedError`, iteration ends. */
  protected release(): void {
    this.#offCluster?.();
    this.#offSpawned?.();
    for (const off of this.#watched.values()) off();
    this.#watched.clear();
    this.#inbox.fail(new ClosedError('child exit stream'));
  }

  [Symbol.asyncIterator](): AsyncIterator<ChildExit> {
    return iterate(() => this.next());
  }
}

/**
 * A stream of `{ pid, code, signal }`: for every child spawned from now on (by default), or for the
 * children given (and added later), and with `{ cluster: true }` for every node:cluster worker.
 * @example
 * const exits = childExits();
 * for await (const { pid, code, signal } of exits) if (signal) console.log(`${pid} killed by ${signal}`);
 */
export function childExits(options: ChildExitsOptions = {}): ChildExits {
  return new ChildExits(options);
}

/**
 * The pids of this process's children, as /proc shows them (every thread's children), whoever spawned
 * them: node:child_process, node:cluster, a native addon. Empty where /proc is not this PID namespace's.
 */
export function childPids(): number[] {
  const pids = new Set<number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      for (const pid of readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ')) {
        if (pid.trim() !== '') pids.add(Number(pid));
      }
    }
    return [...pids];
  } catch {
    // no CONFIG_PROC_CHILDREN: scan every process's parent
  }
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat?.ppid === process.pid) pids.add(Number(entry));
    }
  } catch {
    // /proc is not mounted
  }
  return [...pids];
}

/** State letter and parent pid of a process from /proc/<pid>/stat, or undefined when it is gone. */
export function procStat(pid: number): { state: string; ppid: number; pgid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name in parentheses may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]) };
}

/** True when child `pid` of this process has exited (gone, or a zombie nobody reaped yet). */
export function childGone(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z' || stat.state === 'X' || stat.ppid !== process.pid;
}
