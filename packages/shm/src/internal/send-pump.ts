import type { Settle } from '@ipcx/core';
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
}

/**
 * The sends of one end (ShmChannel, FanIn sender) that found no room: `start()` writes them in order, waiting
 * for room as needed, until the queue is empty, the end closes or the other end is gone (every queued send then
 * rejects with the reason). One loop at a time; a send queued as it finishes starts it again.
 */
export class SendPump {
  #running = false;

  constructor(
    readonly queue: Set<PendingSend>,
    private readonly end: SendPumpEnd,
  ) {}

  start(): void {
    if (this.#running) return;
    this.#running = true;
    pumpSends(this.queue, this.end)
      .catch((error: unknown) => failAll(this.queue, error)) // a writer that throws fails the sends, not the process
      .finally(() => {
        this.#running = false;
        if (this.queue.size > 0 && !this.end.closed()) this.start();
      });
  }
}

async function pumpSends(queue: Set<PendingSend>, end: SendPumpEnd): Promise<void> {
  for (const entry of queue) {
    while (queue.has(entry)) {
      if (end.closed()) return;
      if (end.ended()) return failAll(queue, end.endedError());
      if (end.tryWrite(entry.bytes)) {
        queue.delete(entry);
        entry.settle.resolve();
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
