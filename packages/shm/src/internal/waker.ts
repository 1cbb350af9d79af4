import { createRequire } from 'node:module';
import { UnsupportedError } from '@ipcx/core';

/** What a futex-style wait returned. */
export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/**
 * How one side sleeps on a word of shared memory and how the other wakes it. Both sides of an object
 * must use the same waker: V8's `Atomics.notify` does not wake a native futex wait, and neither crosses
 * a process boundary except the futex.
 */
export interface Waker {
  readonly kind: 'atomics' | 'futex';
  /** Blocks the thread (workers only). `timeout` in ms, Infinity for none. */
  wait(i32: Int32Array, index: number, value: number, timeout: number): WaitResult;
  /**
   * Waits without blocking the event loop. `cancel` aborting ends the wait as a wake-up ('ok'): the way to
   * end a wait for an abort or a close, which change no word. A notify alone would not do: a native wait
   * on a waiter thread may not be queued in the kernel yet when this returns, and would sleep through it.
   */
  waitAsync(i32: Int32Array, index: number, value: number, timeout: number, cancel?: AbortSignal): Promise<WaitResult>;
  /** Wakes up to `count` waiters; returns how many woke. */
  notify(i32: Int32Array, index: number, count?: number): number;
}

// A pending Atomics.waitAsync does not keep Node's event loop alive: a thread whose only work is to
// wait for a message would exit. While any wait is pending, one idle timer holds the loop open.
let pendingWaits = 0;
let keepAlive: NodeJS.Timeout | undefined;

function holdLoop(): void {
  if (pendingWaits++ === 0) keepAlive = setInterval(() => {}, 0x7fffffff);
}

function releaseLoop(): void {
  if (--pendingWaits === 0) clearInterval(keepAlive);
}

/** V8's own waits: threads of one process. */
export const atomicsWaker: Waker = {
  kind: 'atomics',
  wait: (i32, index, value, timeout) => Atomics.wait(i32, index, value, timeout),
  waitAsync(i32, index, value, timeout, cancel) {
    if (cancel?.aborted) return Promise.resolve('ok');
    const result = Atomics.waitAsync(i32, index, value, timeout);
    if (!result.async) return Promise.resolve(result.value);
    holdLoop();
    if (cancel === undefined) return result.value.finally(releaseLoop);
    // V8 queues the wait before waitAsync returns, so a notify on abort reaches it (and, harmlessly, the
    // others on the word, which find nothing changed and wait again).
    const wake = (): unknown => Atomics.notify(i32, index);
    cancel.addEventListener('abort', wake, { once: true });
    return result.value.finally(() => {
      cancel.removeEventListener('abort', wake);
      releaseLoop();
    });
  },
  notify: (i32, index, count = Number.POSITIVE_INFINITY) => Atomics.notify(i32, index, count),
};

/** The part of `@ipcx/native` this package uses (typed here so that threads-only builds need no addon). */
export interface Native {
  shm: {
    open(
      name: string,
      options: { create?: boolean; exclusive?: boolean; size?: number; mode?: number },
    ): { buffer: SharedArrayBuffer };
    unlink(name: string): void;
  };
  shmFile: {
    createUnnamed(size: number, mode?: number): number;
    link(fd: number, name: string): void;
    open(name: string): number;
    map(fd: number): SharedArrayBuffer;
    close(fd: number): void;
  };
  ofd: {
    lock(fd: number, type: 'read' | 'write' | 'unlock', start: number, length?: number): boolean;
    held(fd: number, start: number, length?: number): 'none' | 'read' | 'write';
  };
  atThreadExit(action: { fd?: number; i32?: Int32Array; index?: number; value?: number }): {
    cancel(run?: boolean): void;
  };
  futex: {
    wait(i32: Int32Array, index: number, value: number, timeoutMs?: number): WaitResult;
    waitAsync(
      i32: Int32Array,
      index: number,
      value: number,
      timeoutMs?: number,
      options?: { signal?: AbortSignal },
    ): Promise<WaitResult>;
    notify(i32: Int32Array, index: number, count?: number): number;
  };
}

const NATIVE = '@ipcx/native';
let native: unknown;

/**
 * Loads `@ipcx/native` once (only cross-process and System V objects need it); `what` names what cannot work
 * without it in the `UnsupportedError` when it does not load.
 */
export async function importNative<N>(what: string): Promise<N> {
  if (native === undefined) {
    try {
      native = await import(NATIVE);
    } catch (error) {
      throw new UnsupportedError(`${what} (the @ipcx/native addon did not load)`, { cause: error });
    }
  }
  return native as N;
}

/** `@ipcx/native` as the shared-memory objects use it. */
export function loadNative(): Promise<Native> {
  return importNative<Native>('shared memory across processes');
}

/**
 * `@ipcx/native` now, for the synchronous factories of thread objects (`pair`, `attach`), which use it
 * only to learn of a thread's death; undefined where it is not installed (or this Node cannot require
 * an ES module), and those objects then work without that.
 */
export function nativeIfAvailable(): Native | undefined {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)(NATIVE);
    } catch {
      return undefined;
    }
  }
  return native as Native;
}

/** The native futex: threads and processes alike, on a named segment. */
export function futexWaker(n: Native): Waker {
  const futex = n.futex;
  return {
    kind: 'futex',
    wait: (i32, index, value, timeout) => futex.wait(i32, index, value, Number.isFinite(timeout) ? timeout : undefined),
    waitAsync(i32, index, value, timeout, cancel) {
      const ms = Number.isFinite(timeout) ? timeout : undefined;
      if (cancel === undefined) return futex.waitAsync(i32, index, value, ms);
      // The native wait's own cancel reaches it wherever it is (ring or waiter thread); it rejects.
      return futex.waitAsync(i32, index, value, ms, { signal: cancel }).catch((error: unknown) => {
        if (cancel.aborted) return 'ok';
        throw error;
      });
    },
    notify: (i32, index, count = 0x7fffffff) => futex.notify(i32, index, count),
  };
}
