import type { WaitOptions } from '@ipcx/core';
import { PARK, checkAsyncWait, checkSyncWait, parkAsync, parkSync, type Park, type Sleeper } from './internal/park.js';
import { MutexGuardImpl, lockMutexAsync, lockMutexSync, unlockMutex, type MutexGuard } from './mutex.js';
import {
  SyncObject,
  checkHandle,
  createNamedMemory,
  openNamedMemory,
  type NamedSyncOptions,
  type SyncHandle,
} from './sync.js';

/**
 * Words:
 *
 * | word | meaning |
 * | --- | --- |
 * | 0 SEQ | bumped by every signal and broadcast; waiters sleep on it |
 * | 1 SLEEPERS | waiters between reading SEQ and waking; signals notify only when it is not 0 |
 *
 * Who wakes whom: a waiter registers in SLEEPERS and reads SEQ *while it still holds the mutex*, then
 * unlocks and sleeps while SEQ is unchanged. A signaller that changed the predicate did so under the
 * mutex, so its SEQ bump comes after the waiter's read: either the wait sees the new SEQ ('not-equal')
 * or the bump's notify finds the waiter asleep. No wake-up between "unlock" and "sleep" is lost.
 *
 * Wake-ups may be spurious (a broadcast, an aborted neighbour, a signal that raced a timeout): always
 * wait in a loop that re-checks the predicate. `broadcast` wakes everyone, who then contend for the
 * mutex one by one (no requeue onto the mutex word: simpler, and the herd is bounded by the waiters).
 */
const SEQ = 0;
const SLEEPERS = 1;
const WORDS = 2;

/**
 * A condition variable in 8 bytes of shared memory, used with a `Mutex` of the same kind (both for
 * threads, or both named). `wait` releases the mutex, sleeps until `signal`/`broadcast`, and takes the
 * mutex back before it returns or throws (timeout and abort included): the guard is held again either
 * way, with `guard.recovered` set if the mutex had to be taken from a dead process.
 *
 * @example
 * ```ts
 * const guard = await mutex.lock();
 * try {
 *   while (queue.length === 0) await ready.wait(guard, { timeout: 5000 });
 *   take(queue);
 * } finally {
 *   guard.release();
 * }
 * // producer: under the mutex, push; then ready.signal();
 * ```
 */
export class CondVar extends SyncObject {
  /** Bytes a condition variable needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;

  /**
   * A new condition variable for the threads of this process, in its own memory; or, with `buffer`, over
   * `CondVar.BYTES` zeroed bytes at `byteOffset` of it.
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4), byteOffset = 0) {
    super('condvar', buffer, byteOffset, WORDS);
  }

  /** The condition variable whose `handle` another thread sent. */
  static from(handle: SyncHandle): CondVar {
    checkHandle(handle, 'condvar');
    return new CondVar(handle.buffer, handle.byteOffset);
  }

  /** Creates a named condition variable; this process owns the name and unlinks it on `close`. */
  static async create(name: string, options: NamedSyncOptions = {}): Promise<CondVar> {
    const memory = await createNamedMemory(name, 'condvar', options);
    return new CondVar(memory.buffer, memory.byteOffset).bindNamed(memory, true);
  }

  /** Opens a named condition variable that another process created. */
  static async open(name: string, options: NamedSyncOptions = {}): Promise<CondVar> {
    const memory = await openNamedMemory(name, 'condvar', options);
    return new CondVar(memory.buffer, memory.byteOffset).bindNamed(memory, false);
  }

  /**
   * Releases the mutex of `guard`, waits on the event loop for a signal, and retakes the mutex.
   * @throws TimeoutError / AbortedError / ClosedError, always with the mutex held again.
   */
  async wait(guard: MutexGuard, options?: WaitOptions): Promise<void> {
    checkAsyncWait(this.core, 'wait', options);
    const held = this.#checkGuard(guard);
    const sleeper = this.#enter(held);
    let failure: unknown;
    try {
      await parkAsync(this.core, 'wait', options, sleeper);
    } catch (error) {
      failure = error;
    } finally {
      Atomics.sub(this.core.i32, SLEEPERS, 1);
    }
    // Retake the mutex whatever happened: the caller's finally will release it. No timeout here, as
    // pthread_cond_timedwait: the timeout bounds the wait for a signal, not for the lock.
    held.setRecovered((await this.#retake(held, () => held.mutex[lockMutexAsync]())).recovered);
    if (failure !== undefined) throw failure;
  }

  /**
   * `wait`, blocking the thread: workers only (`UnsupportedError` on the main thread).
   * @throws TimeoutError after `timeout` ms, with the mutex held again.
   */
  waitSync(guard: MutexGuard, options?: { timeout?: number }): void {
    checkSyncWait(this.core, 'wait', options);
    const held = this.#checkGuard(guard);
    const sleeper = this.#enter(held);
    let failure: unknown;
    try {
      parkSync(this.core, 'wait', options, sleeper);
    } catch (error) {
      failure = error;
    } finally {
      Atomics.sub(this.core.i32, SLEEPERS, 1);
    }
    held.setRecovered(this.#retakeSync(held, () => held.mutex[lockMutexSync]()).recovered);
    if (failure !== undefined) throw failure;
  }

  /**
   * Retakes the mutex after a wait. If that fails (the mutex was closed meanwhile), the caller's guard
   * no longer holds anything: it is marked released, so that its `release()` in a finally cannot unlock
   * a mutex someone else may hold now.
   */
  async #retake(held: MutexGuardImpl, lock: () => Promise<MutexGuard>): Promise<MutexGuard> {
    try {
      return await lock();
    } catch (error) {
      held.abandon();
      throw error;
    }
  }

  #retakeSync(held: MutexGuardImpl, lock: () => MutexGuard): MutexGuard {
    try {
      return lock();
    } catch (error) {
      held.abandon();
      throw error;
    }
  }

  /** Wakes one waiter (if any). Call it after changing the predicate under the mutex. */
  signal(): void {
    this.#bump(1);
  }

  /** Wakes every waiter. */
  broadcast(): void {
    this.#bump(Number.POSITIVE_INFINITY);
  }

  #bump(count: number): void {
    this.core.checkOpen();
    const i32 = this.core.i32;
    Atomics.add(i32, SEQ, 1);
    if (Atomics.load(i32, SLEEPERS) !== 0) this.core.waker.notify(i32, SEQ, count);
  }

  #checkGuard(guard: MutexGuard): MutexGuardImpl {
    this.core.checkOpen();
    if (!(guard instanceof MutexGuardImpl)) throw new TypeError('wait takes the guard of a held Mutex');
    if (guard.released) throw new TypeError('wait needs the mutex held; this guard was released');
    return guard;
  }

  /** Registers, reads SEQ under the mutex, then releases the mutex: see the protocol above. */
  #enter(held: MutexGuardImpl): Sleeper<true> {
    const i32 = this.core.i32;
    Atomics.add(i32, SLEEPERS, 1);
    const seq = Atomics.load(i32, SEQ);
    held.mutex[unlockMutex]();
    return {
      index: SEQ,
      value: seq,
      attempt: (): true | Park => (Atomics.load(i32, SEQ) !== seq ? true : PARK),
    };
  }
}
