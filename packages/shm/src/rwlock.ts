import { spinUntil } from '@ipcx/core/transport';
import type { WaitOptions } from '@ipcx/core';
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
 * | 0 STATE | WRITER bit (held by a writer) or the number of readers holding it |
 * | 1 WRITERS_WAITING | writers waiting; while it is not 0, new readers wait too (writers first) |
 * | 2 SEQ | an event count: bumped after every change that can let a waiter in; waiters sleep on it |
 * | 3 SLEEPERS | waiters registered to sleep; a bump notifies only when it is not 0 |
 *
 * Readers and writers wait for different conditions on two words (STATE and WRITERS_WAITING), so
 * nobody sleeps on those: everyone sleeps on SEQ. A waiter registers in SLEEPERS, reads SEQ, *then*
 * checks STATE and WRITERS_WAITING, and sleeps while SEQ still holds what it read. Whoever changes
 * STATE or WRITERS_WAITING in a way that can unblock someone (last reader out, writer out, a waiting
 * writer giving up) bumps SEQ *afterwards* and then reads SLEEPERS. So a change after the waiter's
 * check has a bump after its read of SEQ (the sleep returns 'not-equal'), and a change before its read
 * is seen by its check. Releases wake every sleeper; they recheck and most sleep again: simple and
 * correct, at the price of a herd when many writers wait.
 *
 * Writers are preferred: a stream of readers cannot starve a writer, while a stream of writers can
 * starve readers. Not reentrant: a reader that reads again while a writer waits deadlocks.
 */
const STATE = 0;
const WRITERS_WAITING = 1;
const SEQ = 2;
const SLEEPERS = 3;
const WORDS = 4;
const WRITER = 0x40000000;
const MAX_READERS = WRITER - 1;

/**
 * A readers-writer lock in 16 bytes of shared memory: many readers or one writer, writers first.
 * No owner-death recovery: a process that dies holding it leaves it held (use `FileLock` with
 * `shared` for a crash-safe readers-writer lock between processes).
 *
 * @example
 * ```ts
 * const rw = new RwLock();
 * { await using r = await rw.read(); use(table); }
 * { await using w = await rw.write({ timeout: 1000 }); mutate(table); }
 * ```
 */
export class RwLock extends SyncObject {
  /** Bytes a readers-writer lock needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;

  /**
   * A new readers-writer lock for the threads of this process, in its own memory; or, with `buffer`, over
   * `RwLock.BYTES` zeroed bytes at `byteOffset` of it.
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4), byteOffset = 0) {
    super('rwlock', buffer, byteOffset, WORDS);
  }

  /** The readers-writer lock whose `handle` another thread sent. */
  static from(handle: SyncHandle): RwLock {
    checkHandle(handle, 'rwlock');
    return new RwLock(handle.buffer, handle.byteOffset);
  }

  /** Creates a named readers-writer lock; this process owns the name and unlinks it on `close`. */
  static async create(name: string, options: NamedSyncOptions = {}): Promise<RwLock> {
    const memory = await createNamedMemory(name, 'rwlock', options);
    return new RwLock(memory.buffer, memory.byteOffset).bindNamed(memory, true);
  }

  /** Opens a named readers-writer lock that another process created. */
  static async open(name: string, options: NamedSyncOptions = {}): Promise<RwLock> {
    const memory = await openNamedMemory(name, 'rwlock', options);
    return new RwLock(memory.buffer, memory.byteOffset).bindNamed(memory, false);
  }

  /** Takes a read lock if no writer holds it or waits for it; never waits. */
  tryRead(): Guard | undefined {
    this.core.checkOpen();
    return this.#takeRead() ? this.#readGuard() : undefined;
  }

  /** Takes the write lock if nobody holds it; never waits. */
  tryWrite(): Guard | undefined {
    this.core.checkOpen();
    return this.#takeWrite() ? this.#writeGuard() : undefined;
  }

  /**
   * Waits on the event loop for a read lock (shared with other readers).
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires, ClosedError on close.
   */
  async read(options?: WaitOptions): Promise<Guard> {
    checkAsyncWait(this.core, 'read', options);
    if (this.#takeRead()) return this.#readGuard();
    return parkAsync(this.core, 'read', options, this.#sleeper(false));
  }

  /**
   * Waits on the event loop for the write lock (exclusive).
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires, ClosedError on close.
   */
  async write(options?: WaitOptions): Promise<Guard> {
    checkAsyncWait(this.core, 'write', options);
    if (this.#takeWrite()) return this.#writeGuard();
    return parkAsync(this.core, 'write', options, this.#sleeper(true));
  }

  /** `read`, blocking the thread: workers only (`UnsupportedError` on the main thread). */
  readSync(options?: { timeout?: number }): Guard {
    checkSyncWait(this.core, 'read', options);
    if (spinUntil(() => this.#takeRead(), LOCK_SPIN_MICROSECONDS)) return this.#readGuard();
    return parkSync(this.core, 'read', options, this.#sleeper(false));
  }

  /** `write`, blocking the thread: workers only (`UnsupportedError` on the main thread). */
  writeSync(options?: { timeout?: number }): Guard {
    checkSyncWait(this.core, 'write', options);
    if (spinUntil(() => this.#takeWrite(), LOCK_SPIN_MICROSECONDS)) return this.#writeGuard();
    return parkSync(this.core, 'write', options, this.#sleeper(true));
  }

  /** A reader gets in when no writer holds the lock and none waits for it. */
  #takeRead(): boolean {
    const i32 = this.core.i32;
    for (;;) {
      const seen = Atomics.load(i32, STATE);
      // (MAX_READERS, 2^30 - 1, is unreachable in practice; past it readers wait like behind a writer.)
      if ((seen & WRITER) !== 0 || seen === MAX_READERS || Atomics.load(i32, WRITERS_WAITING) !== 0) return false;
      if (Atomics.compareExchange(i32, STATE, seen, seen + 1) === seen) return true;
    }
  }

  #takeWrite(): boolean {
    return Atomics.compareExchange(this.core.i32, STATE, 0, WRITER) === 0;
  }

  #readGuard(): Guard {
    return new GuardImpl(() => {
      // Only a writer waits for the readers to drain.
      if (Atomics.sub(this.core.i32, STATE, 1) === 1) this.#bump();
    });
  }

  #writeGuard(): Guard {
    return new GuardImpl(() => {
      Atomics.store(this.core.i32, STATE, 0);
      this.#bump();
    });
  }

  /** Publishes a change that may let waiters in: see the protocol above. */
  #bump(): void {
    const i32 = this.core.i32;
    Atomics.add(i32, SEQ, 1);
    if (Atomics.load(i32, SLEEPERS) !== 0) this.core.waker.notify(i32, SEQ);
  }

  #sleeper(writer: boolean): Sleeper<Guard> {
    const i32 = this.core.i32;
    let registered = false;
    const unregister = (): void => {
      if (!registered) return;
      registered = false;
      Atomics.sub(i32, SLEEPERS, 1);
      if (writer) Atomics.sub(i32, WRITERS_WAITING, 1);
    };
    const sleeper: Sleeper<Guard> = {
      index: SEQ,
      value: 0,
      attempt: (): Guard | Park => {
        if (!registered) {
          registered = true;
          if (writer) Atomics.add(i32, WRITERS_WAITING, 1);
          Atomics.add(i32, SLEEPERS, 1);
        }
        sleeper.value = Atomics.load(i32, SEQ);
        if (writer ? this.#takeWrite() : this.#takeRead()) {
          // A writer leaving WRITERS_WAITING needs no bump: it holds the lock, which keeps readers out anyway.
          unregister();
          return writer ? this.#writeGuard() : this.#readGuard();
        }
        return PARK;
      },
      leave: (): Park => {
        unregister();
        // Readers may have waited only because this writer waited.
        if (writer) this.#bump();
        return PARK;
      },
    };
    return sleeper;
  }
}
