import { BadFrameError } from '@ipcx/core';
import {
  FRAME_HEADER_BYTES,
  alignFrame,
  MPSC_RESERVE,
  MPSC_ROOM_SEQ,
  MPSC_WAITING_PRODUCERS,
  RING_CONSUMER_PARKED,
  RING_TAIL,
  WRAP_MARKER,
} from './layout.js';
import type { WaitResult, Waker } from './internal/waker.js';
import { RingBase } from './internal/ring-base.js';

class MpscSide extends RingBase {
  /** Wakes every producer sleeping for room (also used on close): bumps ROOM_SEQ, then notifies it. */
  wakeProducers(): void {
    if (Atomics.load(this.ctl, MPSC_WAITING_PRODUCERS) === 0) return;
    Atomics.add(this.ctl, MPSC_ROOM_SEQ, 1);
    this.waker.notify(this.ctl, MPSC_ROOM_SEQ);
  }
}

/**
 * A producer of a multi-producer single-consumer ring: any number of threads or processes may hold
 * one. A frame is reserved with one compare-and-swap on the reservation counter, written with plain
 * stores, and committed by storing its length word last (`Atomics.store`), so the consumer never sees a
 * half-written frame. A producer killed between reserve and commit stalls the ring at its frame: use
 * the SPSC ring (one per producer) where producers may be killed.
 */
export class MpscRingWriter extends MpscSide {
  /** Reserves room for a payload of `length` bytes; the frame's offset, or -1 when the ring is too full. */
  reserve(length: number): number {
    const size = FRAME_HEADER_BYTES + alignFrame(length);
    for (;;) {
      const reserved = Atomics.load(this.ctl, MPSC_RESERVE);
      const needed = this.#needed(reserved, size);
      if (!this.#fits(reserved, Atomics.load(this.ctl, RING_TAIL), needed)) return -1;
      if (Atomics.compareExchange(this.ctl, MPSC_RESERVE, reserved, (reserved + needed) | 0) !== reserved) continue;
      let pos = reserved & this.mask;
      if (size > this.capacity - pos) {
        Atomics.store(this.words, pos >> 2, WRAP_MARKER);
        pos = 0;
      }
      return pos;
    }
  }

  /** Writes a reserved frame's payload and commits it. */
  commit(pos: number, payload: Uint8Array): void {
    this.data.set(payload, pos + FRAME_HEADER_BYTES);
    Atomics.store(this.words, pos >> 2, payload.length + 1);
    if (Atomics.load(this.ctl, RING_CONSUMER_PARKED) !== 0) this.wakeConsumer();
  }

  /** Reserves, writes and commits one frame; false when the ring is too full. */
  tryWrite(payload: Uint8Array): boolean {
    const pos = this.reserve(payload.length);
    if (pos < 0) return false;
    this.commit(pos, payload);
    return true;
  }

  /** Sleeps until the consumer frees room for a `length`-byte payload (or `timeout` ms); `stop()` ends it early. */
  async waitForRoom(length: number, timeout: number, stop: () => boolean): Promise<WaitResult> {
    Atomics.add(this.ctl, MPSC_WAITING_PRODUCERS, 1);
    try {
      const seq = this.#seqToSleepOn(length, stop);
      return seq === undefined ? 'not-equal' : await this.waker.waitAsync(this.ctl, MPSC_ROOM_SEQ, seq, timeout);
    } finally {
      Atomics.sub(this.ctl, MPSC_WAITING_PRODUCERS, 1);
    }
  }

  /** Blocks (workers only) until the consumer frees room for a `length`-byte payload (or `timeout` ms). */
  waitForRoomSync(length: number, timeout: number, stop: () => boolean): WaitResult {
    Atomics.add(this.ctl, MPSC_WAITING_PRODUCERS, 1);
    try {
      const seq = this.#seqToSleepOn(length, stop);
      return seq === undefined ? 'not-equal' : this.waker.wait(this.ctl, MPSC_ROOM_SEQ, seq, timeout);
    } finally {
      Atomics.sub(this.ctl, MPSC_WAITING_PRODUCERS, 1);
    }
  }

  /**
   * Once counted among the waiting producers: the ROOM_SEQ to sleep on while the payload does not fit and
   * `stop()` is false, else undefined. Both are judged after the count went up and ROOM_SEQ was read, so a
   * consumer that frees room (or a close) after that sees the count and bumps ROOM_SEQ, and the wait
   * returns at once; one that came before left a tail that fits, or a `stop()` that is true. (Judged
   * before the count, from the failed write, a release in between was lost: the producer slept on the
   * tail of an empty ring, for ever.)
   */
  #seqToSleepOn(length: number, stop: () => boolean): number | undefined {
    const seq = Atomics.load(this.ctl, MPSC_ROOM_SEQ);
    const tail = Atomics.load(this.ctl, RING_TAIL);
    const reserved = Atomics.load(this.ctl, MPSC_RESERVE);
    const needed = this.#needed(reserved, FRAME_HEADER_BYTES + alignFrame(length));
    return stop() || this.#fits(reserved, tail, needed) ? undefined : seq;
  }

  /** Bytes a `size`-byte frame takes at `reserved`: with the skipped end of the ring when it does not fit there. */
  #needed(reserved: number, size: number): number {
    const toEnd = this.capacity - (reserved & this.mask);
    return size <= toEnd ? size : toEnd + size;
  }

  #fits(reserved: number, tail: number, needed: number): boolean {
    return this.capacity - ((reserved - tail) >>> 0) >= needed;
  }
}

/** The one consumer of a multi-producer ring. */
export class MpscRingReader extends MpscSide {
  #tail: number;
  #pos = 0;
  #length = 0;

  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number, waker: Waker) {
    super(buffer, offset, capacity, waker);
    this.#tail = Atomics.load(this.ctl, RING_TAIL);
  }

  /** The next committed frame's payload length, or -1 if none is committed yet. */
  next(): number {
    for (;;) {
      const pos = this.#tail & this.mask;
      const word = Atomics.load(this.words, pos >> 2);
      if (word === 0) return -1;
      if (word === WRAP_MARKER) {
        this.#release(pos, this.capacity - pos);
        continue;
      }
      const length = word - 1;
      if (length < 0 || length > this.maxPayload || pos + FRAME_HEADER_BYTES + length > this.capacity) {
        throw new BadFrameError(
          `a frame in shared memory claims ${length} bytes at offset ${pos} (the ring is corrupt)`,
        );
      }
      this.#pos = pos;
      this.#length = length;
      return length;
    }
  }

  /** A view of the current frame's payload, valid until `advance()`. */
  view(): Uint8Array {
    return this.viewOf(this.#pos + FRAME_HEADER_BYTES, this.#length);
  }

  /** A copy of the current frame's payload. */
  copy(): Uint8Array {
    return this.copyOf(this.#pos + FRAME_HEADER_BYTES, this.#length);
  }

  /** Releases the current frame: zeroes it, then publishes TAIL and wakes producers waiting for room. */
  advance(): void {
    this.#release(this.#pos, FRAME_HEADER_BYTES + alignFrame(this.#length));
  }

  /** True when a committed frame waits. */
  hasFrame(): boolean {
    const word = Atomics.load(this.words, (this.#tail & this.mask) >> 2);
    return word !== 0;
  }

  /** Sleeps until a frame is committed (or `timeout` ms); `stop()` ends it early. */
  async waitForFrame(timeout: number, stop: () => boolean): Promise<WaitResult> {
    Atomics.store(this.ctl, RING_CONSUMER_PARKED, 1);
    if (this.hasFrame() || stop()) {
      Atomics.store(this.ctl, RING_CONSUMER_PARKED, 0);
      return 'not-equal';
    }
    try {
      return await this.waker.waitAsync(this.ctl, RING_CONSUMER_PARKED, 1, timeout);
    } finally {
      Atomics.store(this.ctl, RING_CONSUMER_PARKED, 0);
    }
  }

  /** Blocks (workers only) until a frame is committed (or `timeout` ms). */
  waitForFrameSync(timeout: number, stop: () => boolean): WaitResult {
    Atomics.store(this.ctl, RING_CONSUMER_PARKED, 1);
    try {
      if (this.hasFrame() || stop()) return 'not-equal';
      return this.waker.wait(this.ctl, RING_CONSUMER_PARKED, 1, timeout);
    } finally {
      Atomics.store(this.ctl, RING_CONSUMER_PARKED, 0);
    }
  }

  #release(pos: number, bytes: number): void {
    // Reserved-but-unwritten memory must read 0: zero what was consumed before giving it back.
    this.data.fill(0, pos, pos + bytes);
    this.#tail = (this.#tail + bytes) | 0;
    Atomics.store(this.ctl, RING_TAIL, this.#tail);
    this.wakeProducers();
  }
}
