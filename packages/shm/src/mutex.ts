import { spinUntil } from '@ipcx/core/transport';
import type { WaitOptions } from '@ipcx/core';
import { intervalOption } from '@ipcx/core/transport';
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
import { HEADER_BYTES, Header } from './layout.js';
import { LOCK_IDS } from './segment.js';
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
 * The mutex word, after Drepper's three-state futex mutex ("Futexes Are Tricky"), with the owner in it
 * as in Linux robust futexes:
 *
 * | value | meaning |
 * | --- | --- |
 * | 0 | free |
 * | id | held by the user `id`; nobody sleeps |
 * | id \| WAITERS | held; someone may sleep on the word, so the unlocker must wake one |
 *
 * The id of a named mutex's user (each `create` / `open` object) is handed out by the
 * segment's NEXT_ID word, and the user holds an OFD write lock on byte LOCK_IDS + id of the segment's
 * file for its lifetime (segment.ts). The kernel drops that lock when the process dies (or the thread's
 * exit hook closes it), so "is the holder alive" is a question to the kernel, right across PID namespaces
 * and pid reuse. Memory of threads (`new Mutex`, `from`) uses this process's pid as the id and
 * has no recovery.
 *
 * Who wakes whom: a locker that must wait first sets WAITERS (compare-and-swap on the value it saw)
 * and sleeps only while the word still holds that value, so an unlock in between makes its wait return
 * at once. The unlocker swaps the word to 0 and wakes one sleeper only if WAITERS was set: an
 * uncontended lock/unlock is two atomic operations and no system call. A woken waiter takes the lock
 * with WAITERS set again, because it cannot know whether others still sleep (an extra wake costs a
 * syscall; a missing one would be a deadlock). Lockers that never slept may take a free lock ahead of
 * a woken one ("barging"): throughput over strict fairness.
 *
 * Every atomic in JavaScript is sequentially consistent, so the swap to 0 in unlock orders every write
 * of the critical section before the next owner's successful compare-and-swap: the lock is also the
 * memory barrier that publishes the protected data.
 */
const WAITERS = 0x80000000 | 0;
const OWNER = 0x3fffffff;
const WORD = 0;
const WORDS = 1;

/** Options of `Mutex.create` and `Mutex.open`. */
export interface NamedMutexOptions extends NamedSyncOptions {
  /**
   * How often (ms) a waiter checks whether the owner process is still alive. A lock whose owner died
   * is taken over within about this time. Default 100.
   */
  peerCheckInterval?: number;
}

/**
 * A held mutex. `recovered` is true when the previous owner process died while holding the lock: this
 * caller now holds it, and the data it protects may be half-updated, so repair or re-check it before
 * releasing.
 */
export interface MutexGuard extends Guard {
  readonly recovered: boolean;
}

/** @internal The guard class; `CondVar` releases and retakes the mutex through it. */
export class MutexGuardImpl extends GuardImpl implements MutexGuard {
  #recovered: boolean;

  constructor(
    readonly mutex: Mutex,
    recovered: boolean,
  ) {
    super(() => mutex[unlockMutex]());
    this.#recovered = recovered;
  }

  get recovered(): boolean {
    return this.#recovered;
  }

  /** @internal Set when CondVar retook the lock from a dead owner. */
  setRecovered(recovered: boolean): void {
    this.#recovered = recovered;
  }
}

/** @internal */
export const unlockMutex: unique symbol = Symbol('unlockMutex');
/** @internal */
export const lockMutexAsync: unique symbol = Symbol('lockMutexAsync');
/** @internal */
export const lockMutexSync: unique symbol = Symbol('lockMutexSync');

/**
 * A mutual-exclusion lock in 4 bytes of shared memory, for worker threads (`new Mutex()`, `handle()`,
 * `from`, or `new Mutex(buffer, byteOffset)` over your own zeroed memory) and for processes (`create` /
 * `open` by name, woken by the native futex). Not reentrant: locking it again from the holder deadlocks
 * (or times out).
 *
 * Owner death (named mutexes): the word holds the owner's id, and the owner holds a kernel lock for
 * that id. A waiter whose sleep runs out `peerCheckInterval` asks the kernel; if the lock is gone (the
 * process died, or the worker thread that opened it ended without close) it takes the mutex over and
 * its guard says `recovered: true`. A mutex of thread memory (`new Mutex`/`from`) has no such recovery:
 * release in `finally`.
 *
 * @example
 * ```ts
 * const mutex = new Mutex();
 * new Worker('./worker.js', { workerData: mutex.handle() }); // there: Mutex.from(workerData)
 * {
 *   await using guard = await mutex.lock({ timeout: 1000 });
 *   if (guard.recovered) repair();
 *   // ... critical section
 * }
 * // in a worker, blocking: const guard = mutex.lockSync(); try { ... } finally { guard.release(); }
 * ```
 */
export class Mutex extends SyncObject {
  /** Bytes a mutex needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;
  #id: number;

  /**
   * A new mutex for the threads of this process, in its own memory; or, with `buffer`, over `Mutex.BYTES`
   * zeroed (or mutex-owned) bytes at `byteOffset` of it.
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4), byteOffset = 0) {
    super('mutex', buffer, byteOffset, WORDS);
    const pid = process.pid;
    if (pid > OWNER) throw new RangeError(`process id ${pid} does not fit the mutex word`);
    this.#id = pid;
  }

  /** The mutex whose `handle` another thread sent. */
  static from(handle: SyncHandle): Mutex {
    checkHandle(handle, 'mutex');
    return new Mutex(handle.buffer, handle.byteOffset);
  }

  /**
   * Creates a named mutex (a small shared-memory segment) that other processes `open`. This
   * process owns the name and unlinks it on `close`.
   */
  static async create(name: string, options: NamedMutexOptions = {}): Promise<Mutex> {
    const slice = intervalOption('peerCheckInterval', options.peerCheckInterval, 100);
    const memory = await createNamedMemory(name, 'mutex', options);
    return new Mutex(memory.buffer, memory.byteOffset).bindNamed(memory, true, slice).#takeId();
  }

  /** Opens a named mutex that another process created. */
  static async open(name: string, options: NamedMutexOptions = {}): Promise<Mutex> {
    const slice = intervalOption('peerCheckInterval', options.peerCheckInterval, 100);
    const memory = await openNamedMemory(name, 'mutex', options);
    return new Mutex(memory.buffer, memory.byteOffset).bindNamed(memory, false, slice).#takeId();
  }

  /** A named mutex's user id, with the kernel lock that says it lives. */
  #takeId(): this {
    const segment = this.core.segment!;
    const header = new Int32Array(this.core.buffer, 0, HEADER_BYTES / 4);
    for (;;) {
      const id = (Atomics.add(header, Header.NextId, 1) + 1) & OWNER;
      if (id !== 0 && segment.lock(LOCK_IDS + id, 'write')) {
        this.#id = id;
        return this;
      }
    }
  }

  /** Takes the lock if it is free now (or, on a named mutex, held by a dead process); never waits. */
  tryLock(): MutexGuard | undefined {
    this.core.checkOpen();
    if (Atomics.compareExchange(this.core.i32, WORD, 0, this.#id) === 0) return new MutexGuardImpl(this, false);
    return this.core.name === undefined ? undefined : this.#takeFromDead(Atomics.load(this.core.i32, WORD));
  }

  /**
   * Waits for the lock on the event loop (never blocks the thread).
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires, ClosedError on close.
   */
  async lock(options?: WaitOptions): Promise<MutexGuard> {
    checkAsyncWait(this.core, 'lock', options);
    if (Atomics.compareExchange(this.core.i32, WORD, 0, this.#id) === 0) return new MutexGuardImpl(this, false);
    return this[lockMutexAsync](options);
  }

  /**
   * Waits for the lock, blocking the thread: workers only (`UnsupportedError` on the main thread).
   * Spins a few µs before it sleeps.
   * @throws TimeoutError after `timeout` ms.
   */
  lockSync(options?: { timeout?: number }): MutexGuard {
    checkSyncWait(this.core, 'lock', options);
    return this[lockMutexSync](options);
  }

  /** @internal The slow path, also used by CondVar to retake the lock. */
  [lockMutexAsync](options?: WaitOptions): Promise<MutexGuardImpl> {
    return parkAsync(this.core, 'lock', options, this.#sleeper());
  }

  /** @internal */
  [lockMutexSync](options?: { timeout?: number }): MutexGuardImpl {
    const i32 = this.core.i32;
    const id = this.#id;
    if (
      spinUntil(
        () => Atomics.load(i32, WORD) === 0 && Atomics.compareExchange(i32, WORD, 0, id) === 0,
        LOCK_SPIN_MICROSECONDS,
      )
    ) {
      return new MutexGuardImpl(this, false);
    }
    return parkSync(this.core, 'lock', options, this.#sleeper());
  }

  /** @internal Releases the lock (guards call this once). */
  [unlockMutex](): void {
    const previous = Atomics.exchange(this.core.i32, WORD, 0);
    // Only a word with WAITERS can have sleepers: wake one, it retakes the lock with WAITERS set.
    if ((previous & WAITERS) !== 0) this.core.waker.notify(this.core.i32, WORD, 1);
  }

  #sleeper(): Sleeper<MutexGuardImpl> {
    const i32 = this.core.i32;
    const id = this.#id;
    let slept = false;
    const sleeper: Sleeper<MutexGuardImpl> = {
      index: WORD,
      value: 0,
      attempt: (sliceExpired: boolean): MutexGuardImpl | Park => {
        for (;;) {
          const seen = Atomics.load(i32, WORD);
          if (seen === 0) {
            // Having slept, we cannot tell whether others still sleep: keep WAITERS.
            if (Atomics.compareExchange(i32, WORD, 0, slept ? id | WAITERS : id) === 0)
              return new MutexGuardImpl(this, false);
            continue;
          }
          if (sliceExpired && this.core.name !== undefined) {
            const taken = this.#takeFromDead(seen);
            if (taken !== undefined) return taken;
          }
          let expected = seen;
          if ((seen & WAITERS) === 0) {
            expected = seen | WAITERS;
            if (Atomics.compareExchange(i32, WORD, seen, expected) !== seen) continue;
          }
          slept = true;
          sleeper.value = expected;
          return PARK;
        }
      },
    };
    return sleeper;
  }

  /**
   * If `seen` names a dead owner (the kernel no longer holds its id lock), takes the lock over (keeping
   * WAITERS as it was: sleepers still sleep) and returns a recovered guard. The compare-and-swap on the
   * exact word seen lets only one of several waiters that noticed the death win: recovered exactly once.
   */
  #takeFromDead(seen: number): MutexGuardImpl | undefined {
    const owner = seen & OWNER;
    const segment = this.core.segment;
    if (owner === 0 || owner === this.#id || segment === undefined || segment.held(LOCK_IDS + owner)) return undefined;
    const next = this.#id | (seen & WAITERS);
    if (Atomics.compareExchange(this.core.i32, WORD, seen, next) !== seen) return undefined;
    return new MutexGuardImpl(this, true);
  }
}
