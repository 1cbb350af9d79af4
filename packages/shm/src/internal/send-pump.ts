import { copyBytes, type WaitOptions } from '@ipcx/core';
import { SendQueue } from '@ipcx/core/transport';
import type { WaitResult } from './waker.js';

/** What the pump needs of a sending end: its ring writer and what it knows of both ends. */
export interface SendPumpEnd {
  /** This end was released: stop and leave the queue to `destroy`. */
  closed(): boolean;
  /** The other end closed; `endedError` is then what every queued send gets. */
  ended(): boolean;
  endedError(): Error;
  tryWrite(bytes: Uint8Array): boolean;
  /** Parks until there may be room or `stop()` holds; 'timed-out' after one park interval. */
  waitForRoom(bytes: Uint8Array, stop: () => boolean): Promise<WaitResult>;
  /** After a park timed out: throws when the other end's process is gone. */
  checkAlive(): void;
  /** Wakes this end's own parked pump (a send gave up: it may have nothing left to wait for). */
  wakeProducer(): void;
}

/**
 * The sends of one end (ShmChannel, FanIn sender) that found no room: core's `SendQueue` holds them (order,
 * `{ signal, timeout }`, `rejectAll`, `drained`), and this pump writes the oldest as room appears, parking on
 * the ring's futex between tries, until the queue is empty, the end is released or the other end is gone
 * (every queued send then rejects with the reason). A ring, unlike a socket, has no "writable" event to
 * `flush` on: the pump is what waits for one. One loop at a time; a send queued as it finishes starts it again.
 */
export class SendPump {
  readonly queue: SendQueue<Uint8Array>;
  #running = false;

  constructor(private readonly end: SendPumpEnd) {
    // A parked pump holds the event loop open: when the last waiting send gave up, let it see that.
    this.queue = new SendQueue(() => this.queue.size === 0 && end.wakeProducer());
  }

  /**
   * Queues `bytes` (copied: they may be the codec's scratch buffer) behind the sends already waiting, and
   * resolves once they are in the ring. `{ timeout, signal }` take a send that is still queued back out.
   */
  send(bytes: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    const sent = this.queue.enqueue(copyBytes(bytes), options);
    this.start();
    return sent;
  }

  start(): void {
    if (this.#running || this.queue.size === 0) return;
    this.#running = true;
    pumpSends(this.queue, this.end)
      .catch((error: unknown) => this.queue.rejectAll(error))
      .finally(() => {
        this.#running = false;
        if (!this.end.closed()) this.start();
      });
  }
}

async function pumpSends(queue: SendQueue<Uint8Array>, end: SendPumpEnd): Promise<void> {
  for (let bytes = queue.oldest(); bytes !== undefined; bytes = queue.oldest()) {
    if (end.closed()) return;
    if (end.ended()) return queue.rejectAll(end.endedError());
    let written: boolean;
    try {
      written = end.tryWrite(bytes);
    } catch (error) {
      queue.rejectOldest(error); // this send only (a corrupt ring fails the next one the same way)
      continue;
    }
    if (written) {
      queue.resolveOldest();
      continue;
    }
    const result = await end.waitForRoom(bytes, () => end.closed() || end.ended() || !queue.has(bytes));
    if (result === 'timed-out') {
      try {
        end.checkAlive();
      } catch (error) {
        return queue.rejectAll(error);
      }
    }
  }
}
