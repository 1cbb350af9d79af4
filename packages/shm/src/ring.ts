import { BadFrameError } from '@ipcx/core';
import {
  FRAME_HEADER_BYTES,
  alignFrame,
  RING_CONSUMER_PARKED,
  RING_HEAD,
  RING_PRODUCER_PARKED,
  RING_TAIL,
  WRAP_MARKER,
} from './layout.js';
import type { WaitResult, Waker } from './internal/waker.js';
import { RingBase } from './internal/ring-base.js';

/**
 * Schedules the end-of-task flush: `then` on a settled promise queues the same microtask as `queueMicrotask`,
 * without the async-hooks resource Node wraps around each of those (about 50 ns a send, a sixth of a round trip).
 * `flush` does not throw.
 */
const RESOLVED = Promise.resolve();

/**
 * Memory ordering: payload bytes are written with plain stores, then HEAD is published with
 * `Atomics.store`; the consumer reads HEAD with `Atomics.load` before it reads the payload. JavaScript
 * atomics are sequentially consistent, so the payload is visible once HEAD is. The same holds for TAIL
 * in the other direction (the producer only reuses bytes the consumer published as consumed).
 *
 * Sleeping without a lost wake-up: the sleeper stores PARKED = 1, then re-reads the index it waits on,
 * and only then waits while PARKED is still 1. The waker publishes its index, then swaps PARKED 1 -> 0
 * and, only if it was 1, notifies. Whichever order the two run in, either the sleeper sees the new index
 * or the waiter sees PARKED = 0 and does not sleep (its wait returns 'not-equal'). A producer therefore
 * pays for a wake-up only when the consumer really sleeps.
 */
abstract class RingSide extends RingBase {
  /** Wakes a producer parked on this ring. */
  wakeProducer(): void {
    if (Atomics.compareExchange(this.ctl, RING_PRODUCER_PARKED, 1, 0) === 1)
      this.waker.notify(this.ctl, RING_PRODUCER_PARKED);
  }

  protected prepareToSleep(word: number, ready: () => boolean): boolean {
    Atomics.store(this.ctl, word, 1);
    if (ready()) {
      Atomics.store(this.ctl, word, 0);
      return false;
    }
    return true;
  }

  protected async sleep(word: number, timeout: number): Promise<WaitResult> {
    try {
      return await this.waker.waitAsync(this.ctl, word, 1, timeout);
    } finally {
      Atomics.store(this.ctl, word, 0);
    }
  }

  protected sleepSync(word: number, timeout: number): WaitResult {
    try {
      return this.waker.wait(this.ctl, word, 1, timeout);
    } finally {
      Atomics.store(this.ctl, word, 0);
    }
  }
}

/**
 * The producer side of a single-producer single-consumer ring of variable-length frames.
 * Only one thread or process may write a ring.
 */
export class RingWriter extends RingSide {
  #head: number;
  #tail: number;
  #published: number;
  #flushScheduled = false;
  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };
  /**
   * Publish HEAD at the end of the current task rather than per frame (a microtask), or at once when
   * the consumer sleeps or a sixteenth of the ring is waiting. Fewer stores to the line the consumer
   * polls, far more messages per second; blocking callers (which run no microtasks) must `flush()`.
   */
  deferPublish = true;

  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number, waker: Waker) {
    super(buffer, offset, capacity, waker);
    this.#head = Atomics.load(this.ctl, RING_HEAD);
    this.#tail = Atomics.load(this.ctl, RING_TAIL);
    this.#published = this.#head;
  }

  /** Makes every written frame visible to the consumer, and wakes it if it sleeps. */
  flush(): void {
    if (this.#published === this.#head) return;
    this.#published = this.#head;
    Atomics.store(this.ctl, RING_HEAD, this.#head);
    if (Atomics.load(this.ctl, RING_CONSUMER_PARKED) !== 0) this.wakeConsumer();
  }

  /** Writes one frame if it fits now; false when the ring is too full. `payload.length <= maxPayload`. */
  tryWrite(payload: Uint8Array): boolean {
    const pos = this.#reserve(payload.length);
    if (pos < 0) return false;
    this.data.set(payload, pos + FRAME_HEADER_BYTES);
    this.#commit(pos, payload.length);
    return true;
  }

  /**
   * Lets `encode` write a frame's payload straight into the free bytes. `encode` returns the count it
   * wrote, or the encoded bytes when they did not fit; then this returns them (not written) so that the
   * caller can wait for room without encoding again. Returns true when the frame was written.
   */
  tryEncode(encode: (target: Uint8Array) => number | Uint8Array): true | Uint8Array {
    const pos = this.#head & this.mask;
    const room = Math.min(this.capacity - pos, this.#free(true)) - FRAME_HEADER_BYTES;
    const start = pos + FRAME_HEADER_BYTES;
    const result = encode(this.viewOf(start, Math.max(0, Math.min(room, this.maxPayload))));
    if (typeof result !== 'number') return result;
    // Only an empty encoding "fits" an empty target; without room for its length word, hand it back.
    if (room < 0) return new Uint8Array(0);
    this.#commit(pos, result);
    return true;
  }

  /** Waits (without blocking the loop) until the consumer frees room or `timeout` ms pass. */
  async waitForRoom(bytes: number, timeout: number, stop: () => boolean): Promise<WaitResult> {
    this.flush();
    if (!this.prepareToSleep(RING_PRODUCER_PARKED, () => this.#fits(bytes) || stop())) return 'not-equal';
    return this.sleep(RING_PRODUCER_PARKED, timeout);
  }

  /** Blocks (workers only) until the consumer frees room or `timeout` ms pass. */
  waitForRoomSync(bytes: number, timeout: number, stop: () => boolean): WaitResult {
    this.flush();
    if (!this.prepareToSleep(RING_PRODUCER_PARKED, () => this.#fits(bytes) || stop())) return 'not-equal';
    return this.sleepSync(RING_PRODUCER_PARKED, timeout);
  }

  #fits(payloadBytes: number): boolean {
    this.#tail = Atomics.load(this.ctl, RING_TAIL);
    return this.#needed(payloadBytes) <= this.#free(false);
  }

  #free(refresh: boolean): number {
    if (refresh) this.#tail = Atomics.load(this.ctl, RING_TAIL);
    const used = (this.#head - this.#tail) >>> 0;
    // A consumer index behind by more than the ring, or off the 8-byte grid, is corrupt memory, not "full".
    if (used > this.capacity || (used & 7) !== 0)
      throw new BadFrameError(
        `the ring's indices say ${used} bytes are in use in ${this.capacity} (the ring is corrupt)`,
      );
    return this.capacity - used;
  }

  #needed(length: number): number {
    const size = FRAME_HEADER_BYTES + alignFrame(length);
    const toEnd = this.capacity - (this.#head & this.mask);
    return size <= toEnd ? size : toEnd + size;
  }

  #reserve(length: number): number {
    const needed = this.#needed(length);
    if (needed > this.#free(false) && needed > this.#free(true)) return -1;
    let pos = this.#head & this.mask;
    const toEnd = this.capacity - pos;
    if (FRAME_HEADER_BYTES + alignFrame(length) > toEnd) {
      this.words[pos >> 2] = WRAP_MARKER;
      this.#head = (this.#head + toEnd) | 0;
      pos = 0;
    }
    return pos;
  }

  #commit(pos: number, length: number): void {
    this.words[pos >> 2] = length;
    this.#head = (this.#head + FRAME_HEADER_BYTES + alignFrame(length)) | 0;
    if (
      !this.deferPublish ||
      Atomics.load(this.ctl, RING_CONSUMER_PARKED) !== 0 ||
      (this.#head - this.#published) >>> 0 >= this.capacity >>> 4
    ) {
      this.flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      RESOLVED.then(this.#flushTask);
    }
  }
}

/** The consumer side of a single-producer single-consumer ring. Only one thread or process may read a ring. */
export class RingReader extends RingSide {
  #head: number;
  #tail: number;
  #published: number;
  #start = 0;
  #length = 0;

  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number, waker: Waker) {
    super(buffer, offset, capacity, waker);
    this.#head = Atomics.load(this.ctl, RING_HEAD);
    this.#tail = Atomics.load(this.ctl, RING_TAIL);
    this.#published = this.#tail;
  }

  /** True when a frame is waiting. Seeing the ring empty publishes what was consumed. */
  hasFrame(): boolean {
    if (this.#tail !== this.#head) return true;
    this.#head = Atomics.load(this.ctl, RING_HEAD);
    if (this.#tail !== this.#head) return true;
    this.#publish();
    return false;
  }

  /**
   * Moves to the next frame and returns its payload length, or -1 when the ring is empty. Read the
   * payload with `view()` or `copy()`, then call `advance()` to give its bytes back to the producer.
   */
  next(): number {
    if (!this.hasFrame()) return -1;
    // Every index moves by whole 8-byte frames and never runs more than the ring ahead: anything else is
    // corrupt memory, reported rather than read as (phantom) messages.
    let available = (this.#head - this.#tail) >>> 0;
    if (available > this.capacity || (available & 7) !== 0 || (this.#tail & 7) !== 0) {
      throw new BadFrameError(
        `the ring's indices say ${available} bytes wait in ${this.capacity} (the ring is corrupt)`,
      );
    }
    let pos = this.#tail & this.mask;
    let length = this.words[pos >> 2]!;
    if (length === WRAP_MARKER) {
      const skip = this.capacity - pos;
      if (skip >= available)
        throw new BadFrameError(`a wrap marker at offset ${pos} skips past the written bytes (the ring is corrupt)`);
      available -= skip;
      this.#tail = (this.#tail + skip) | 0;
      pos = 0;
      length = this.words[0]!;
    }
    if (
      length < 0 ||
      length > this.maxPayload ||
      pos + FRAME_HEADER_BYTES + length > this.capacity ||
      FRAME_HEADER_BYTES + alignFrame(length) > available
    ) {
      throw new BadFrameError(`a frame in shared memory claims ${length} bytes at offset ${pos} (the ring is corrupt)`);
    }
    this.#start = pos + FRAME_HEADER_BYTES;
    this.#length = length;
    return length;
  }

  /** A view of the current frame's payload, valid until `advance()`. */
  view(): Uint8Array {
    return this.viewOf(this.#start, this.#length);
  }

  /** A copy of the current frame's payload. */
  copy(): Uint8Array {
    return this.copyOf(this.#start, this.#length);
  }

  /**
   * Releases the current frame. TAIL is published lazily (every quarter ring, when the producer
   * sleeps, or when the last frame seen is released), since the producer reads it only when it runs out
   * of room. Releasing the last frame seen publishes at once: a consumer that reads nothing more would
   * otherwise leave the producer short of room in an empty ring (and a frame that needs the wrap, or the
   * largest message, waiting for ever).
   */
  advance(): void {
    this.#tail = (this.#tail + FRAME_HEADER_BYTES + alignFrame(this.#length)) | 0;
    if (
      this.#tail === this.#head ||
      (this.#tail - this.#published) >>> 0 >= this.capacity >>> 2 ||
      Atomics.load(this.ctl, RING_PRODUCER_PARKED) !== 0
    ) {
      this.#publish();
    }
  }

  #publish(): void {
    if (this.#published === this.#tail) return;
    this.#published = this.#tail;
    Atomics.store(this.ctl, RING_TAIL, this.#tail);
    if (Atomics.load(this.ctl, RING_PRODUCER_PARKED) !== 0) this.wakeProducer();
  }

  /** Waits (without blocking the loop) for a frame, a wake-up, or `timeout` ms; `stop()` ends it early. */
  async waitForFrame(timeout: number, stop: () => boolean): Promise<WaitResult> {
    if (!this.prepareToSleep(RING_CONSUMER_PARKED, () => this.hasFrame() || stop())) return 'not-equal';
    return this.sleep(RING_CONSUMER_PARKED, timeout);
  }

  /** Blocks (workers only) until a frame arrives, a wake-up, or `timeout` ms. */
  waitForFrameSync(timeout: number, stop: () => boolean): WaitResult {
    if (!this.prepareToSleep(RING_CONSUMER_PARKED, () => this.hasFrame() || stop())) return 'not-equal';
    return this.sleepSync(RING_CONSUMER_PARKED, timeout);
  }
}
