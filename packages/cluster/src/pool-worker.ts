import { isIpcError, type RequestContext } from '@ipcx/core';
import { connectToParent, controlSlot, notifyReady, startHeartbeat } from './connect.js';
import { Word, wordOf } from './internal/control.js';
import { checkCount } from './internal/options.js';

/** Runs one task in a pool worker: what it returns (or resolves to) is the task's result. */
export type TaskHandler<Task = any, Result = unknown> = (
  task: Task,
  context: RequestContext,
) => Result | Promise<Result>;

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
export async function servePool<Task = any, Result = unknown>(
  handler: TaskHandler<Task, Result>,
  options: ServePoolOptions = {},
): Promise<void> {
  if (typeof handler !== 'function') throw new TypeError('servePool takes a function');
  const concurrency = checkCount('concurrency', options.concurrency, 1);
  const channel = await connectToParent();
  const slot = controlSlot();
  startHeartbeat();
  // Count each task as it starts, in arrival order: when this worker dies, the pool knows which of the
  // tasks it sent were never begun (those go to another worker) and which were (those fail).
  const view = slot?.view;
  const started = slot === undefined ? 0 : wordOf(slot.index, Word.Started);
  const stop = new AbortController();
  const context: RequestContext = { signal: stop.signal };
  let failed: unknown;

  // Runs one task and answers it at once (see Pool's wire format). The await after the answer lets the
  // channel publish it before the next task starts: a task that kills the worker takes no result with it.
  const runOne = async (seq: number, task: Task): Promise<void> => {
    if (view !== undefined) Atomics.add(view, started, 1);
    let reply: [number, number, unknown];
    try {
      let result: unknown = handler(task, context);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function')
        result = await result;
      reply = [seq, 0, result];
    } catch (error) {
      reply = [seq, 1, describeError(error)];
    }
    try {
      try {
        if (!channel.trySend(reply)) await channel.send(reply);
      } catch (error) {
        // A result the channel refuses (too large, not encodable) still owes the pool an answer.
        if (reply[1] !== 0 || endsServing(error)) throw error;
        const failure: [number, number, unknown] = [seq, 1, describeError(error)];
        if (!channel.trySend(failure)) await channel.send(failure);
      }
    } catch (error) {
      failed ??= error;
      stop.abort();
    }
    await undefined;
  };

  notifyReady();
  try {
    while (!stop.signal.aborted) {
      let batch: unknown[] | undefined;
      try {
        batch = channel.tryReceive() as unknown[] | undefined;
        batch ??= (await channel.receive()) as unknown[];
      } catch (error) {
        if (!endsServing(error)) failed ??= error;
        break;
      }
      if (!Array.isArray(batch) || typeof batch[0] !== 'number') continue;
      const first = batch[0];
      if (concurrency === 1) {
        for (let i = 1; i < batch.length && !stop.signal.aborted; i++) await runOne(first + i - 1, batch[i] as Task);
      } else {
        let next = 1;
        const lane = async (): Promise<void> => {
          while (next < batch.length && !stop.signal.aborted) {
            const i = next++;
            await runOne(first + i - 1, batch[i] as Task);
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, batch.length - 1) }, lane));
      }
    }
  } finally {
    stop.abort();
    await channel.close();
  }
  // The pool went away or closed: that ends serving; anything else is worth a look.
  if (failed !== undefined && !endsServing(failed)) throw failed;
}

function endsServing(error: unknown): boolean {
  return (
    isIpcError(error) &&
    (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE' || error.code === 'IPCX_ERR_ABORTED')
  );
}

function describeError(error: unknown): { name: string; message: string; code?: string } {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}
