import { RING_CONSUMER_PARKED, RING_CONTROL_BYTES, maxPayload } from '../layout.js';
import type { Waker } from './waker.js';

/** What both ring kinds share: views of the control block and the frames, and waking the consumer. */
export abstract class RingBase {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly words: Int32Array;
  protected readonly mask: number;
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
    this.words = new Int32Array(buffer, offset + RING_CONTROL_BYTES, capacity / 4);
    this.mask = capacity - 1;
    this.maxPayload = maxPayload(capacity);
  }

  /** Wakes a consumer parked on this ring (also used to end its wait on close). */
  wakeConsumer(): void {
    if (Atomics.compareExchange(this.ctl, RING_CONSUMER_PARKED, 1, 0) === 1) this.waker.notify(this.ctl, RING_CONSUMER_PARKED);
  }
}
