import { copyBytes, type Codec } from '@ipcx/core';
import { RING_CONSUMER_PARKED, RING_CONTROL_BYTES, maxPayload } from '../layout.js';
import type { Waker } from './waker.js';

/** What both ring kinds share: views of the control block and the frames, and waking the consumer. */
export abstract class RingBase {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly words: Int32Array;
  protected readonly mask: number;
  /** Where `data` starts in `buffer`. */
  readonly #dataOffset: number;
  readonly #buffer: SharedArrayBuffer;
  /** Largest payload of one frame. */
  readonly maxPayload: number;

  constructor(
    buffer: SharedArrayBuffer,
    offset: number,
    readonly capacity: number,
    protected readonly waker: Waker,
  ) {
    this.ctl = new Int32Array(buffer, offset, RING_CONTROL_BYTES / 4);
    this.data = new Uint8Array(buffer, offset + RING_CONTROL_BYTES, capacity);
    this.#buffer = buffer;
    this.#dataOffset = offset + RING_CONTROL_BYTES;
    this.words = new Int32Array(buffer, offset + RING_CONTROL_BYTES, capacity / 4);
    this.mask = capacity - 1;
    this.maxPayload = maxPayload(capacity);
  }

  /**
   * A view of `length` bytes at `start` of the frames. Half the cost of `data.subarray`, which goes
   * through the species constructor: this is on every receive's path.
   */
  protected viewOf(start: number, length: number): Uint8Array {
    return new Uint8Array(this.#buffer, this.#dataOffset + start, length);
  }

  /**
   * A copy of `length` bytes at `start` of the frames. A small one in one step: `slice` allocates and copies,
   * where a view and then a copy of it cost twice that (and V8 keeps arrays of up to 64 bytes on its heap).
   */
  protected copyOf(start: number, length: number): Uint8Array {
    if (length <= 64) return this.data.slice(start, start + length);
    return copyBytes(this.viewOf(start, length));
  }

  /** Wakes a consumer parked on this ring (also used to end its wait on close). */
  wakeConsumer(): void {
    if (Atomics.compareExchange(this.ctl, RING_CONSUMER_PARKED, 1, 0) === 1)
      this.waker.notify(this.ctl, RING_CONSUMER_PARKED);
  }
}

/** A ring's consumer standing on a frame (its `next()` found one): `RingReader`, `MpscRingReader`. */
export interface FrameSource {
  view(): Uint8Array;
  copy(): Uint8Array;
  advance(): void;
}

/**
 * Decodes the frame `reader` stands on and gives its bytes back to the producers, also when `decode` throws
 * (a frame that does not decode is dropped, not read again). `raw` (the codec is `rawCodec`): a copy, since
 * the view is ring memory that the producers reuse once it is given back.
 */
export function decodeFrame<T>(reader: FrameSource, codec: Codec<T>, raw: boolean): T {
  try {
    return raw ? (reader.copy() as T) : codec.decode(reader.view(), true);
  } finally {
    reader.advance();
  }
}
