import { copyBytes, waitFor, type Settle, type WaitOptions } from '@ipcx/core';
import type { WaitResult } from './waker.js';

/** A send waiting for room in a ring: its bytes (a copy) and its promise. */
export interface PendingSend {
  bytes: Uint8Array;
  settle: Settle<void>;
}

/** What the pump needs of a sending end: its ring writer and what it knows of both ends. */
export interface SendPumpEnd {
  /** This end closed: stop and leave the queue to `close`. */
  closed(): boolean;
  /** The other end closed; `endedError` is then what every queued send gets. */
  ended(): boolean;
  endedError(): Error;
  tryWrite(bytes: Uint8Array): boolean;
  /** Parks until there may be room or `stop()` holds; 'timed-out' after one park interval. */
  waitForRoom(bytes: Uint8Array, stop: () => boolean): Promise<WaitResult>;
  /** After a park timed out: throws, for every queued send, when the other end's process is gone. */
  checkAlive(): void;
  /** Wakes this end's own parked pump (a send gave up: it may have nothing left to wait for). */
  wakeProducer(): void;
}

/**
 * The sends of one end (ShmChannel, FanIn sender) that found no room: `start()` writes them in order, waiting
 * for room as needed, until the queue is empty, the end closes or the other end is gone (every queued send then
 * rejects with the reason). One loop at a time; a send queued as it finishes starts it again.
 */
export class SendPump {
  #running = false;
  readonly #onDrained: Array<() => void> = [];

  constructor(
    readonly queue: Set<PendingSend>,
    private readonly end: SendPumpEnd,
  ) {}

  /**
   * Queues `bytes` (copied: they may be the codec's scratch buffer) behind the sends already waiting, and
   * resolves once they are in the ring. `{ timeout, signal }` take a send that is still queued back out.
   */
  send(bytes: Uint8Array, options: WaitOptions | undefined): Promise<void> {
    const copy = copyBytes(bytes);
    return waitFor<void>('send', options, (settle) => {
      const entry = { bytes: copy, settle };
      this.queue.add(entry);
      this.start();
      return () => {
        this.queue.delete(entry);
        // A parked pump holds the event loop open: let it see that nobody waits any more.
        if (this.queue.size === 0) this.end.wakeProducer();
        this.#shrunk();
      };
    });
  }

  /** Rejects every queued send with `error` and empties the queue. */
  failAll(error: unknown): void {
    failAll(this.queue, error);
    this.#shrunk();
  }

  /** Resolves once the queue is empty (every send written, failed or given up). */
  drained(): Promise<void> {
    if (this.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onDrained.push(resolve));
  }

  /** Called wherever the queue shrinks. */
  #shrunk(): void {
    if (this.queue.size > 0 || this.#onDrained.length === 0) return;
    for (const resolve of this.#onDrained.splice(0)) resolve();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    pumpSends(this.queue, this.end, () => this.#shrunk())
      .catch((error: unknown) => failAll(this.queue, error)) // a writer that throws fails the sends, not the process
      .finally(() => {
        this.#running = false;
        this.#shrunk();
        if (this.queue.size > 0 && !this.end.closed()) this.start();
      });
  }
}

async function pumpSends(queue: Set<PendingSend>, end: SendPumpEnd, shrunk: () => void): Promise<void> {
  for (const entry of queue) {
    while (queue.has(entry)) {
      if (end.closed()) return;
      if (end.ended()) return failAll(queue, end.endedError());
      if (end.tryWrite(entry.bytes)) {
        queue.delete(entry);
        entry.settle.resolve();
        shrunk();
        break;
      }
      const result = await end.waitForRoom(entry.bytes, () => end.closed() || end.ended() || !queue.has(entry));
      if (result === 'timed-out') {
        try {
          end.checkAlive();
        } catch (error) {
          return failAll(queue, error);
        }
      }
    }
  }
}

function failAll(queue: Set<PendingSend>, error: unknown): void {
  for (const entry of queue) entry.settle.reject(error);
  queue.clear();
}
