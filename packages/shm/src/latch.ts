import type { WaitOptions } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';
import { PARK, checkAsyncWait, checkSyncWait, parkAsync, parkSync, type Park, type Sleeper } from './internal/park.js';
import {
  SyncObject,
  checkHandle,
  createNamedMemory,
  openNamedMemory,
  type NamedSyncOptions,
  type SyncHandle,
} from './sync.js';

/**
 * One word, COUNT: 0 = not yet sized, 1 = open, n + 1 = n count-downs to go. Keeping "not sized" apart
 * from "open" lets every thread construct over zeroed memory with the count, in any order: the first
 * compare-and-swap from 0 sizes it, the others change nothing.
 *
 * Who wakes whom: waiters sleep on COUNT while it holds the value they read; count-downs that leave
 * it closed do not notify (a sleeper keeps sleeping, its stale expected value only matters at the
 * moment it goes to sleep), and the one that opens it wakes everyone, once.
 */
const COUNT = 0;
const WORDS = 1;
const OPEN = 1;
const MAX_COUNT = 0x7ffffffe;

/**
 * A one-shot latch (count-down gate) in 4 bytes of shared memory: `wait` resolves once `countDown`
 * was called `count` times; after that it stays open for good.
 *
 * @example
 * ```ts
 * const ready = new Latch(3);                 // three workers report ready
 * // in each worker: Latch.from(workerData).countDown();
 * await ready.wait({ timeout: 5000 });
 * ```
 */
export class Latch extends SyncObject {
  /** Bytes a latch needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;

  /** A new latch that opens after `count` count-downs, in its own memory, for the threads of this process. */
  constructor(count: number);
  /**
   * A latch over `Latch.BYTES` bytes at `byteOffset` of `buffer`, for threads. Over zeroed memory the
   * first constructor with a `count` sizes it; later ones may omit it (their `count` is ignored).
   */
  constructor(buffer: SharedArrayBuffer, byteOffset?: number, count?: number);
  constructor(bufferOrCount: SharedArrayBuffer | number, byteOffset = 0, count?: number) {
    if (typeof bufferOrCount === 'number') count = bufferOrCount;
    super(
      'latch',
      typeof bufferOrCount === 'number' ? new SharedArrayBuffer(WORDS * 4) : bufferOrCount,
      byteOffset,
      WORDS,
    );
    if (count !== undefined) {
      checkCount(count);
      Atomics.compareExchange(this.core.i32, COUNT, 0, count + 1);
    } else if (Atomics.load(this.core.i32, COUNT) === 0) {
      throw new TypeError('a latch over fresh memory needs its count');
    }
  }

  /** The latch whose `handle` another thread sent. */
  static from(handle: SyncHandle): Latch {
    checkHandle(handle, 'latch');
    return new Latch(handle.buffer, handle.byteOffset);
  }

  /** Creates a named latch of `options.count`; this process owns the name and unlinks it on `close`. */
  static async create(name: string, options: NamedSyncOptions & { count: number }): Promise<Latch> {
    const count = options?.count;
    checkCount(count);
    const memory = await createNamedMemory(name, 'latch', options, (i32) => Atomics.store(i32, COUNT, count + 1));
    return new Latch(memory.buffer, memory.byteOffset).bindNamed(memory, true);
  }

  /** Opens a named latch that another process created. */
  static async open(name: string, options: NamedSyncOptions = {}): Promise<Latch> {
    const memory = await openNamedMemory(name, 'latch', options);
    return new Latch(memory.buffer, memory.byteOffset).bindNamed(memory, false);
  }

  /** Count-downs still missing (0 once open). */
  get count(): number {
    return Math.max(0, Atomics.load(this.core.i32, COUNT) - OPEN);
  }

  /** True once the latch opened. */
  get open(): boolean {
    return Atomics.load(this.core.i32, COUNT) === OPEN;
  }

  /** Counts down by `n` (default 1), never below zero; the count-down that reaches zero wakes every waiter. */
  countDown(n = 1): void {
    this.core.checkOpen();
    checkInteger('n', n, { min: 1 });
    const i32 = this.core.i32;
    for (;;) {
      const seen = Atomics.load(i32, COUNT);
      if (seen <= OPEN) return;
      const next = Math.max(OPEN, seen - n);
      if (Atomics.compareExchange(i32, COUNT, seen, next) !== seen) continue;
      if (next === OPEN) this.core.waker.notify(i32, COUNT);
      return;
    }
  }

  /**
   * Waits on the event loop until the latch is open.
   * @throws TimeoutError after `timeout` ms, AbortedError when `signal` fires, ClosedError on close.
   */
  async wait(options?: WaitOptions): Promise<void> {
    checkAsyncWait(this.core, 'wait', options);
    if (this.open) return;
    await parkAsync(this.core, 'wait', options, this.#sleeper());
  }

  /** `wait`, blocking the thread: workers only (`UnsupportedError` on the main thread). */
  waitSync(options?: { timeout?: number }): void {
    checkSyncWait(this.core, 'wait', options);
    if (this.open) return;
    parkSync(this.core, 'wait', options, this.#sleeper());
  }

  #sleeper(): Sleeper<void> {
    const i32 = this.core.i32;
    const sleeper: Sleeper<void> = {
      index: COUNT,
      value: 0,
      attempt: (): undefined | Park => {
        const seen = Atomics.load(i32, COUNT);
        if (seen === OPEN) return;
        sleeper.value = seen;
        return PARK;
      },
    };
    return sleeper;
  }
}

function checkCount(count: number): void {
  checkInteger('count', count, { max: MAX_COUNT });
}
