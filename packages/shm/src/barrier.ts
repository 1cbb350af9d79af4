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
 * Words:
 *
 * | word | meaning |
 * | --- | --- |
 * | 0 STATE | generation (high 16 bits, wrapping) and parties arrived in it (low 16 bits); waiters sleep on it |
 * | 1 PARTIES | parties per round, written once by whoever sizes the barrier first (0 = not yet) |
 *
 * Arriving and tripping are one compare-and-swap on STATE: the last party to arrive swaps in the next
 * generation with 0 arrived and wakes everyone; the others sleep until the generation changes. Since
 * count and generation share the word, a waiter that times out can take its arrival back (another
 * compare-and-swap, only within the same generation) and leave the barrier exactly as it found it;
 * if the generation moved first, the barrier tripped and the wait succeeded after all. Arrivals do not
 * notify, so sleepers are woken once per round, by the trip.
 */
const STATE = 0;
const PARTIES = 1;
const WORDS = 2;
const COUNT_MASK = 0xffff;
const MAX_PARTIES = 0xffff;

const generation = (state: number): number => state >>> 16;

/**
 * A reusable barrier in 8 bytes of shared memory: `parties` threads or processes call `wait`, and all
 * of them return once the last one arrives; then the next round starts. A waiter that times out or is
 * aborted withdraws its arrival, so the others keep waiting for a full round.
 *
 * @example
 * ```ts
 * const barrier = new Barrier(4);               // send barrier.handle() to 3 workers
 * const last = await barrier.wait({ timeout: 10_000 });  // true in exactly one party per round
 * ```
 */
export class Barrier extends SyncObject {
  /** Bytes a barrier needs (4-byte aligned). */
  static readonly BYTES = WORDS * 4;

  /** A new barrier for `parties` parties, in its own memory, for the threads of this process. */
  constructor(parties: number);
  /**
   * A barrier over `Barrier.BYTES` bytes at `byteOffset` of `buffer`, for threads. Over zeroed memory
   * the first constructor stores `parties`; later ones may omit it, or must pass the same number.
   */
  constructor(buffer: SharedArrayBuffer, byteOffset?: number, parties?: number);
  constructor(bufferOrParties: SharedArrayBuffer | number, byteOffset = 0, parties?: number) {
    if (typeof bufferOrParties === 'number') parties = bufferOrParties;
    super(
      'barrier',
      typeof bufferOrParties === 'number' ? new SharedArrayBuffer(WORDS * 4) : bufferOrParties,
      byteOffset,
      WORDS,
    );
    const i32 = this.core.i32;
    if (parties !== undefined) {
      checkParties(parties);
      const stored = Atomics.compareExchange(i32, PARTIES, 0, parties);
      if (stored !== 0 && stored !== parties)
        throw new RangeError(`this barrier is for ${stored} parties, not ${parties}`);
    } else if (Atomics.load(i32, PARTIES) === 0) {
      throw new TypeError('a barrier over fresh memory needs its number of parties');
    }
  }

  /** The barrier whose `handle` another thread sent. */
  static from(handle: SyncHandle): Barrier {
    checkHandle(handle, 'barrier');
    return new Barrier(handle.buffer, handle.byteOffset);
  }

  /** Creates a named barrier for `options.parties` parties; this process owns the name and unlinks it on `close`. */
  static async create(name: string, options: NamedSyncOptions & { parties: number }): Promise<Barrier> {
    const parties = options?.parties;
    checkParties(parties);
    const memory = await createNamedMemory(name, 'barrier', options, (i32) => Atomics.store(i32, PARTIES, parties));
    return new Barrier(memory.buffer, memory.byteOffset).bindNamed(memory, true);
  }

  /** Opens a named barrier that another process created. */
  static async open(name: string, options: NamedSyncOptions = {}): Promise<Barrier> {
    const memory = await openNamedMemory(name, 'barrier', options);
    return new Barrier(memory.buffer, memory.byteOffset).bindNamed(memory, false);
  }

  /** Parties per round. */
  get parties(): number {
    return Atomics.load(this.core.i32, PARTIES);
  }

  /** Parties waiting in the current round (a snapshot). */
  get waiting(): number {
    return Atomics.load(this.core.i32, STATE) & COUNT_MASK;
  }

  /**
   * Arrives and waits on the event loop for the rest of the round. Resolves true in the party that
   * arrived last (one per round), false in the others.
   * @throws TimeoutError / AbortedError / ClosedError, after withdrawing the arrival.
   */
  async wait(options?: WaitOptions): Promise<boolean> {
    checkAsyncWait(this.core, 'wait', options);
    const arrived = this.#arrive();
    if (arrived === true) return true;
    return parkAsync(this.core, 'wait', options, this.#sleeper(arrived));
  }

  /**
   * `wait`, blocking the thread: workers only (`UnsupportedError` on the main thread).
   * @throws TimeoutError after `timeout` ms, after withdrawing the arrival.
   */
  waitSync(options?: { timeout?: number }): boolean {
    checkSyncWait(this.core, 'wait', options);
    const arrived = this.#arrive();
    if (arrived === true) return true;
    return parkSync(this.core, 'wait', options, this.#sleeper(arrived));
  }

  /** Counts this party in. Returns true if it completed the round, else the generation it waits in. */
  #arrive(): true | number {
    const i32 = this.core.i32;
    const parties = Atomics.load(i32, PARTIES);
    for (;;) {
      const seen = Atomics.load(i32, STATE);
      const gen = generation(seen);
      if ((seen & COUNT_MASK) + 1 >= parties) {
        if (Atomics.compareExchange(i32, STATE, seen, ((gen + 1) & 0xffff) << 16) !== seen) continue;
        this.core.waker.notify(i32, STATE);
        return true;
      }
      if (Atomics.compareExchange(i32, STATE, seen, seen + 1) === seen) return gen;
    }
  }

  #sleeper(gen: number): Sleeper<boolean> {
    const i32 = this.core.i32;
    const sleeper: Sleeper<boolean> = {
      index: STATE,
      value: 0,
      attempt: (): boolean | Park => {
        const seen = Atomics.load(i32, STATE);
        if (generation(seen) !== gen) return false;
        sleeper.value = seen;
        return PARK;
      },
      leave: (): boolean | Park => {
        for (;;) {
          const seen = Atomics.load(i32, STATE);
          if (generation(seen) !== gen) return false;
          if (Atomics.compareExchange(i32, STATE, seen, seen - 1) === seen) return PARK;
        }
      },
    };
    return sleeper;
  }
}

function checkParties(parties: number): void {
  checkInteger('parties', parties, { min: 1, max: MAX_PARTIES });
}
