import { spinUntil } from '@ipcx/core/transport';
import { LimitError, type WaitOptions } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';
import {
  LOCK_SPIN_MICROSECONDS,
  PARK,
  checkAsyncWait,
  checkSyncWait,
  parkAsync,
  parkSync,
  type Park,
  type Sleeper,
} from './internal/park.js';
import {
  GuardImpl,
  SyncObject,
  checkHandle,
  createNamedMemory,
  openNamedMemory,
  type Guard,
  type NamedSyncOptions,
  type SyncHandle,
} from './sync.js';

/**
 * Words:
 *
 * | word | meaning |
 * | --- | --- |
 * | 0 COUNT | permits available (>= 0); the word waiters sleep on, while it is 0 |
 * | 1 SLEEPERS | acquirers that registered to sleep; release wakes only when it is not 0 |
 *
 * Who wakes whom: an acquirer registers in SLEEPERS *before* it reads COUNT, and sleeps only while
 * COUNT is still the 0 it read. A releaser adds to COUNT *before* it reads SLEEPERS. With sequentially
 * consistent atomics, either the acquirer sees the new permits or the releaser sees the sleeper and
 * wakes it (as many sleepers as permits it added): no lost wake-up, and no syscall when nobody sleeps.
 */
const COUNT = 0;
const SLEEPERS = 1;
const WORDS = 2;
const MAX_COUNT = 0x7fffffff;

/** Options of `Semaphore.create`. */
export interface NamedSemaphoreOptions extends NamedSyncOptions {
  /** Permits it starts with. Default 0. */
  permits?: number;
}

/**
 * A counting semaphore in 8 bytes of shared memory: `acquire` takes one permit (waiting while there is
 * none), `release(n)` gives back n, from any thread or process (a permit need not be returned by
 * whoever took it). Permits held by a process that dies are lost: use `FileLock` where that matters.
 *
 * @example
 * ```ts
 * const slots = new Semaphore(4);            // at most 4 jobs at once
 * await using permit = await slots.acquire({ signal });
 * await runJob();
 * ```
 */
export class Semaphore extends SyncObject {
  /** Bytes a semaphore needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;

  /** A new semaphore with `permits` permits (default 0), in its own memory, for the threads of this process. */
  constructor(permits?: number);
  /**
   * A semaphore over `Semaphore.BYTES` bytes at `byteOffset` of `buffer`, for threads. Zeroed memory is
   * a semaphore with no permits: put the initial permits in once with `release(n)`.
   */
  constructor(buffer: SharedArrayBuffer, byteOffset?: number);
  constructor(bufferOrPermits: SharedArrayBuffer | number = 0, byteOffset = 0) {
    const own = typeof bufferOrPermits === 'number';
    if (own) checkPermits(bufferOrPermits, 'permits', 0);
    super('semaphore', own ? new SharedArrayBuffer(WORDS * 4) : bufferOrPermits, byteOffset, WORDS);
    if (own) Atomics.store(this.core.i32, COUNT, bufferOrPermits);
  }

  /** The semaphore whose `handle` another thread sent. */
  static from(handle: SyncHandle): Semaphore {
    checkHandle(handle, 'semaphore');
    return new Semaphore(handle.buffer, handle.byteOffset);
  }

  /** Creates a named semaphore with `options.permits` permits; this process owns the name and unlinks it on `close`. */
  static async create(name: string, options: NamedSemaphoreOptions = {}): Promise<Semaphore> {
    const permits = options.permits ?? 0;
    checkPermits(permits, 'permits', 0);
    const memory = await createNamedMemory(name, 'semaphore', options, (i32) => Atomics.store(i32, COUNT, permits));
    return new Semaphore(memory.buffer, memory.byteOffset).bindNamed(memory, true);
  }

  /** Opens a named semaphore that another process created. */
  static async open(name: string, options: NamedSyncOptions = {}): Promise<Semaphore> {
    const memory = await openNamedMemory(name, 'semaphore', options);
    return new Semaphore(memory.buffer, memory.byteOffset).bindNamed(memory, false);
  }

  /** Permits available now (a snapshot). */
  get available(): number {
    return Atomics.load(this.core.i32, COUNT);
  }

  /** Takes a permit if one is available now; never waits. */
  tryAcquire(): Guard | undefined {
    this.core.checkOpen();
    return this.#take() ? this.#guard() : undefined;
  }

  /**
   * Waits for a permit on the event loop. The guard's `release` gives it back.
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires, ClosedError on close.
   */
  async acquire(options?: WaitOptions): Promise<Guard> {
    checkAsyncWait(this.core, 'acquire', options);
    if (this.#take()) return this.#guard();
    return parkAsync(this.core, 'acquire', options, this.#sleeper());
  }

  /**
   * Waits for a permit, blocking the thread: workers only (`UnsupportedError` on the main thread).
   * @throws TimeoutError after `timeout` ms.
   */
  acquireSync(options?: { timeout?: number }): Guard {
    checkSyncWait(this.core, 'acquire', options);
    if (spinUntil(() => this.#take(), LOCK_SPIN_MICROSECONDS)) return this.#guard();
    return parkSync(this.core, 'acquire', options, this.#sleeper());
  }

  /**
   * Adds `count` permits (default 1) and wakes as many waiters. Any thread or process may release.
   * @throws LimitError when the count would pass 2^31 - 1.
   */
  release(count = 1): void {
    checkPermits(count, 'count', 1);
    this.#put(count);
  }

  #take(): boolean {
    const i32 = this.core.i32;
    for (let seen = Atomics.load(i32, COUNT); seen > 0; seen = Atomics.load(i32, COUNT)) {
      if (Atomics.compareExchange(i32, COUNT, seen, seen - 1) === seen) return true;
    }
    return false;
  }

  #put(count: number): void {
    const i32 = this.core.i32;
    for (;;) {
      const seen = Atomics.load(i32, COUNT);
      if (seen > MAX_COUNT - count)
        throw new LimitError('semaphore count', `${this.core.what} would hold more than ${MAX_COUNT} permits`);
      if (Atomics.compareExchange(i32, COUNT, seen, seen + count) === seen) break;
    }
    // After the permits are published: see the protocol above.
    if (Atomics.load(i32, SLEEPERS) !== 0) this.core.waker.notify(i32, COUNT, count);
  }

  #guard(): Guard {
    return new GuardImpl(() => this.#put(1));
  }

  #sleeper(): Sleeper<Guard> {
    const i32 = this.core.i32;
    let registered = false;
    const unregister = (): void => {
      if (registered) {
        registered = false;
        Atomics.sub(i32, SLEEPERS, 1);
      }
    };
    return {
      index: COUNT,
      value: 0,
      attempt: (): Guard | Park => {
        if (!registered) {
          registered = true;
          Atomics.add(i32, SLEEPERS, 1);
        }
        if (this.#take()) {
          unregister();
          return this.#guard();
        }
        return PARK;
      },
      leave: (): Park => {
        unregister();
        return PARK;
      },
    };
  }
}

function checkPermits(n: number, what: string, min: number): void {
  checkInteger(what, n, { min, max: MAX_COUNT });
}
