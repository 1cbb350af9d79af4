import { serve, type RequestContext } from '@ipcx/core';
import { connectToParent, controlSlot, notifyReady, startHeartbeat } from './connect.js';
import { Word, wordOf } from './internal/control.js';
import { checkCount } from './internal/options.js';

/** Runs one task in a pool worker: what it returns (or resolves to) is the task's result. */
export type TaskHandler<Task = any, Result = unknown> = (task: Task, context: RequestContext) => Result | Promise<Result>;

/** Options of `servePool`. */
export interface ServePoolOptions {
  /**
   * Tasks this worker runs at once; further tasks wait in the channel. Default 1: then a task that kills
   * the worker is the only one that fails (the pool hands the ones still waiting to another worker).
   * More suits async handlers that wait on I/O, but a death then fails every task it had begun.
   */
  concurrency?: number;
}

/**
 * The worker side of a `Pool`: answers the pool's tasks with `handler` until the pool closes the
 * channel, then closes its end. Returns when serving stopped (the worker may then exit).
 *
 * @example
 * ```ts
 * // pool-worker.js
 * import { servePool } from '@ipcx/cluster';
 * await servePool(({ a, b }) => a + b);
 * ```
 */
export async function servePool<Task = any, Result = unknown>(handler: TaskHandler<Task, Result>, options: ServePoolOptions = {}): Promise<void> {
  if (typeof handler !== 'function') throw new TypeError('servePool takes a function');
  const concurrency = checkCount('concurrency', options.concurrency, 1);
  const channel = await connectToParent();
  const slot = controlSlot();
  startHeartbeat();
  let run: TaskHandler<Task, Result> = handler;
  if (slot !== undefined) {
    // Count each task as it starts, in arrival order: when this worker dies, the pool knows which of the
    // tasks it sent were never begun (those go to another worker) and which were (those fail).
    const { view } = slot;
    const started = wordOf(slot.index, Word.Started);
    run = (task, context) => {
      Atomics.add(view, started, 1);
      return handler(task, context);
    };
  }
  notifyReady();
  try {
    await serve<Task, Result>(channel, run, { concurrency });
  } finally {
    await channel.close();
  }
}
