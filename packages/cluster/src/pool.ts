import { EventEmitter } from 'node:events';
import {
  AbortedError,
  ClosedError,
  FullError,
  PeerGoneError,
  RemoteError,
  TimeoutError,
  isIpcError,
  type Codec,
} from '@ipcx/core';
import { ControlProvider, Word, controlContext, wordOf } from './internal/control.js';
import { checkCount, checkMs, checkTransport } from './internal/options.js';
import { forkChild, spawnWorker, type WorkerHandle } from './spawn.js';
import { registerShutdown, type ShutdownHost } from './shutdown.js';

/** How `Pool` picks a worker for the next task. */
export type Balance = 'round-robin' | 'least-busy';

/** Options of `new Pool`. */
export interface PoolOptions {
  /** The worker script; it calls `servePool(handler)`. */
  filename: string | URL;
  /** Number of worker threads (default: 2 when neither `threads` nor `processes` is given). */
  threads?: number;
  /** Number of child processes instead of threads. */
  processes?: number;
  /** Tasks waiting to begin (queued here or sent ahead to a busy worker); one more is `FullError`. Default 10000. */
  maxQueue?: number;
  /** Tasks sent to one worker before it answered (pipelined and batched over its channel). Default 256. */
  concurrentTasksPerWorker?: number;
  /** 'least-busy' (default): the worker with the fewest tasks in flight; 'round-robin': the next one with room. */
  balance?: Balance;
  /** Default time limit (ms) of a task, from `run` to its result; see `run`. */
  taskTimeout?: number;
  /** Channel transport: 'shm' (default) or 'unix'. */
  transport?: 'shm' | 'unix';
  /** Codec of the tasks and results (a custom one must be given to the workers' side too). */
  codec?: Codec<unknown>;
  /**
   * Microseconds a waiting end of a worker's channel spins before it sleeps (both ends). Default 0: a
   * pool usually has a worker per core, and a spinning end takes the core from the thread it waits for
   * (on a 2-core VM, spinning cut one-at-a-time tasks/s several times over).
   */
  spinMicroseconds?: number;
  /** Threads: `workerData` of each worker. */
  workerData?: unknown;
  /** Processes: environment of each worker. */
  env?: NodeJS.ProcessEnv;
  /** A shutdown coordinator (`@ipcx/signals`' `ShutdownCoordinator`, or anything with `register({ name, close })`): the pool closes with it. */
  shutdown?: ShutdownHost;
  /** Name under which the pool registers with `shutdown`. Default 'pool'. */
  name?: string;
}

/** Options of `Pool.run`. */
export interface RunOptions {
  /** Aborts the task: a queued task is dropped; a task already sent runs on, and its result is discarded. */
  signal?: AbortSignal;
  /** Time limit (ms) of this task (default the pool's `taskTimeout`). */
  timeout?: number;
}

interface Task {
  readonly body: unknown;
  readonly resolve: (value: any) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  timer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  member: Member | undefined;
  /** This task's place among the tasks sent to its worker (1-based). */
  seq: number;
  done: boolean;
}

interface Member {
  readonly handle: WorkerHandle;
  /** Tasks sent and not answered, by their place in the worker's order. */
  readonly inFlight: Map<number, Task>;
  /** Ends when the worker's channel has delivered its last reply. */
  reader: Promise<void> | undefined;
  sent: number;
  exited: boolean;
  answered: number;
  /** Tasks dispatched in this turn, sent together at the end of it. */
  batch: Task[] | undefined;
  /** Tasks that timed out after they were sent, until their answer comes. */
  readonly abandoned: Set<number>;
  /** Most tasks in one message; halved when a batch is too large for the channel. */
  maxBatch: number;
}

/**
 * A pool of worker threads or processes running one function (the worker calls `servePool`), over
 * the cluster's channels: many tasks in flight per worker, a bounded queue (`FullError`), `AbortSignal`
 * and timeouts, a choice of balancing. A task that kills its worker fails alone (`PeerGoneError`); the
 * tasks that worker had not begun go to others, and the worker is replaced.
 *
 * Events: `'drain'` (the queue emptied), `'exit'` ({ pid, threadId, code, signal }) when a worker ends
 * unexpectedly.
 *
 * @example
 * ```ts
 * const pool = new Pool({ filename: new URL('./square.js', import.meta.url), threads: 4 });
 * console.log(await pool.run(7)); // 49
 * await pool.close();
 * ```
 */
export class Pool<Task_ = any, Result = any> extends EventEmitter implements AsyncDisposable {
  readonly #filename: string | URL;
  readonly #kind: 'thread' | 'process';
  readonly #size: number;
  readonly #maxQueue: number;
  readonly #perWorker: number;
  readonly #balance: Balance;
  readonly #taskTimeout: number | undefined;
  readonly #options: PoolOptions;
  readonly #control: ControlProvider;
  readonly #members: Member[] = [];
  readonly #queue: Task[] = [];
  #queueHead = 0;
  #next = 0;
  #spawning = 0;
  readonly #starting = new Set<Promise<unknown>>();
  #startFailures = 0;
  #closing: Promise<void> | undefined;
  #destroyed = false;
  #idle: (() => void) | undefined;
  #broken: Error | undefined;
  /** Set by `run`; 'drain' is emitted once queueSize is 0 again. */
  #drainArmed = false;

  constructor(options: PoolOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('Pool takes an options object');
    if (typeof options.filename !== 'string' && !(options.filename instanceof URL))
      throw new TypeError('filename must be a path or a file URL');
    if (options.threads !== undefined && options.processes !== undefined)
      throw new TypeError('give threads or processes, not both');
    this.#kind = options.processes !== undefined ? 'process' : 'thread';
    this.#size = checkCount(
      this.#kind === 'process' ? 'processes' : 'threads',
      options.processes ?? options.threads,
      2,
      1,
      1024,
    );
    this.#maxQueue = options.maxQueue === Infinity ? Infinity : checkCount('maxQueue', options.maxQueue, 10_000, 1);
    this.#perWorker = checkCount('concurrentTasksPerWorker', options.concurrentTasksPerWorker, 256, 1, 65_536);
    if (options.balance !== undefined && options.balance !== 'round-robin' && options.balance !== 'least-busy') {
      throw new TypeError(`balance must be 'round-robin' or 'least-busy', got ${String(options.balance)}`);
    }
    this.#balance = options.balance ?? 'least-busy';
    this.#taskTimeout = options.taskTimeout === undefined ? undefined : checkMs('taskTimeout', options.taskTimeout, 0);
    checkTransport(options.transport);
    this.#filename = options.filename;
    this.#options = options;
    // Twice the workers: a dead worker's slot is read after its replacement took another.
    this.#control = new ControlProvider(this.#size * 2 + 2, 0);
    for (let i = 0; i < this.#size; i++) this.#spawn();
    if (options.shutdown !== undefined) registerShutdown(options.shutdown, options.name ?? 'pool', () => this.close());
  }

  /** Workers running (or starting). */
  get size(): number {
    return this.#members.length + this.#spawning;
  }

  /**
   * Tasks waiting to begin: in the pool's queue, or sent ahead to a worker that has not started them yet.
   * `maxQueue` bounds it; 'drain' is emitted when it falls to 0.
   */
  get queueSize(): number {
    let n = this.#queue.length - this.#queueHead;
    for (const member of this.#members) if (!member.exited) n += Math.max(0, member.sent - this.#begun(member));
    return n;
  }

  /** Tasks in the pool's own queue (not sent to a worker yet). */
  get #waiting(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Tasks sent to workers and not answered yet. */
  get pending(): number {
    let n = 0;
    for (const member of this.#members) n += member.inFlight.size;
    return n;
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Runs `task` in a worker and resolves with its result. Rejects with `RemoteError` when the handler
   * throws, `PeerGoneError` when the task's worker died while running it, `TimeoutError` (then a task
   * the worker had begun gets its worker replaced: it may loop forever), `AbortedError`, `FullError` when
   * the queue is full, `ClosedError` after `close`.
   */
  run(task: Task_, options?: RunOptions): Promise<Result> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('pool'));
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError('task', { cause: signal.reason }));
    const timeout = options?.timeout === undefined ? this.#taskTimeout : checkMs('timeout', options.timeout, 0);
    if (this.queueSize >= this.#maxQueue) return Promise.reject(new FullError('pool queue'));
    const member = this.#waiting === 0 ? this.#pick() : undefined;
    this.#drainArmed = true;
    return new Promise<Result>((resolve, reject) => {
      const entry: Task = {
        body: task,
        resolve,
        reject,
        signal,
        timer: undefined,
        onAbort: undefined,
        member: undefined,
        seq: 0,
        done: false,
      };
      if (timeout !== undefined) {
        entry.timer = setTimeout(() => this.#expire(entry, timeout), timeout);
      }
      if (signal !== undefined) {
        entry.onAbort = () => this.#finish(entry, new AbortedError('task', { cause: signal.reason }));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      if (member !== undefined) this.#dispatch(member, entry);
      else this.#queue.push(entry);
    });
  }

  /** Waits for the queued and running tasks, then stops the workers. New `run` calls fail with `ClosedError`. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#waiting + this.pending > 0) {
        await new Promise<void>((resolve) => (this.#idle = resolve));
      }
      await this.#stopAll();
    })();
    return this.#closing;
  }

  /** Fails every queued and running task (with `error`, else `ClosedError`) and kills the workers. Idempotent. */
  async destroy(error?: Error): Promise<void> {
    this.#destroyed = true;
    const closed = error ?? new ClosedError('pool (destroyed)');
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#settle(this.#queue[i]!, closed);
    this.#queue.length = 0;
    this.#queueHead = 0;
    for (const member of this.#members) for (const task of member.inFlight.values()) this.#settle(task, closed);
    this.#closing ??= Promise.resolve();
    this.#idle?.();
    await Promise.all(this.#members.map((m) => m.handle.destroy()));
    await this.#stopAll();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #stopAll(): Promise<void> {
    while (this.#starting.size > 0) await Promise.allSettled([...this.#starting]);
    await Promise.all(this.#members.map((m) => m.handle.close({ timeout: 5000 })));
    this.#control.close();
  }

  #spawn(): void {
    this.#spawning++;
    const options = this.#options;
    const channel = {
      ...(options.transport ? { transport: options.transport } : {}),
      ...(options.codec ? { codec: options.codec } : {}),
      spinMicroseconds: options.spinMicroseconds ?? 0,
    };
    const started = controlContext.run(this.#control, () =>
      this.#kind === 'thread'
        ? spawnWorker(this.#filename, {
            ...channel,
            ...(options.workerData !== undefined ? { workerData: options.workerData } : {}),
          })
        : forkChild(this.#filename, { ...channel, ...(options.env ? { env: options.env } : {}) }),
    );
    this.#starting.add(started);
    void started.then(
      () => this.#starting.delete(started),
      () => this.#starting.delete(started),
    );
    started.then(
      (handle) => {
        this.#spawning--;
        const member: Member = {
          handle,
          inFlight: new Map(),
          reader: undefined,
          sent: 0,
          exited: false,
          answered: 0,
          batch: undefined,
          abandoned: new Set(),
          maxBatch: this.#perWorker,
        };
        member.reader = this.#read(member);
        if (this.#destroyed) {
          void handle.destroy();
          this.#checkIdle();
          return;
        }
        this.#members.push(member);
        void handle.exited.then(() => this.#onExit(member));
        this.#pump();
      },
      (error) => {
        this.#spawning--;
        this.#fail(error);
      },
    );
  }

  /** Workers keep failing to start: fail what waits rather than spawn for ever. */
  #fail(error: unknown): void {
    this.#broken = error instanceof Error ? error : new Error(String(error));
    for (let i = this.#queueHead; i < this.#queue.length; i++) this.#settle(this.#queue[i]!, this.#broken);
    this.#queue.length = 0;
    this.#queueHead = 0;
    this.#checkIdle();
  }

  #pick(): Member | undefined {
    const members = this.#members;
    const n = members.length;
    if (n === 0) return undefined;
    if (this.#balance === 'least-busy') {
      let best: Member | undefined;
      for (let i = 0; i < n; i++) {
        const m = members[i]!;
        if (
          !m.exited &&
          m.inFlight.size < this.#perWorker &&
          (best === undefined || m.inFlight.size < best.inFlight.size)
        )
          best = m;
      }
      return best;
    }
    for (let k = 0; k < n; k++) {
      const m = members[(this.#next + k) % n]!;
      if (!m.exited && m.inFlight.size < this.#perWorker) {
        this.#next = (this.#next + k + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  /**
   * Tasks given to one worker in the same turn of the event loop travel as one request (a batch): one
   * message, one wake-up and one reply for all of them. A lone task is a batch of one.
   */
  #dispatch(member: Member, task: Task): void {
    task.member = member;
    task.seq = ++member.sent;
    member.inFlight.set(task.seq, task);
    if (member.batch === undefined) {
      member.batch = [task];
      queueMicrotask(() => {
        const batch = member.batch!;
        member.batch = undefined;
        this.#send(member, batch);
      });
    } else {
      member.batch.push(task);
    }
  }

  /**
   * The wire, both ways over the worker's channel (msgpack by default): a batch is
   * `[seqOfFirst, task, task, ...]`, a reply `[seq, 0, result]` or `[seq, 1, { name, message, code }]`.
   * The worker answers each task on its own as soon as it is done (so a later task that kills it cannot
   * take earlier results with it); replies written in one turn reach us with one wake-up.
   */
  #send(member: Member, batch: Task[]): void {
    // The batch holds this worker's newest numbers. Number its live tasks again, densely: a task aborted
    // since it was dispatched must leave no gap, since the worker counts what it begins in arrival order.
    const last = batch[batch.length - 1]!;
    if (last.member === member && last.seq === member.sent && !member.exited) {
      for (const task of batch) if (task.member === member && !task.done) member.inFlight.delete(task.seq);
      member.sent = batch[0]!.seq - 1;
    }
    const live = batch.filter((t) => t.member === member && !t.done);
    if (live.length > 0) this.#sendTasks(member, live);
  }

  #sendTasks(member: Member, tasks: Task[]): void {
    if (tasks.length > member.maxBatch) {
      for (let i = 0; i < tasks.length; i += member.maxBatch)
        this.#sendTasks(member, tasks.slice(i, i + member.maxBatch));
      return;
    }
    for (const task of tasks) {
      task.seq = ++member.sent;
      member.inFlight.set(task.seq, task);
    }
    const message = new Array(tasks.length + 1);
    message[0] = tasks[0]!.seq;
    for (let i = 0; i < tasks.length; i++) message[i + 1] = tasks[i]!.body;
    const channel = member.handle.channel;
    let sent: boolean;
    try {
      sent = channel.trySend(message);
    } catch (error) {
      if (endsWorker(error)) {
        // The worker is gone (or going): its tasks stay counted as sent and not begun; #onExit gives
        // them to another worker.
        if (!member.exited) void member.handle.destroy();
        return;
      }
      // Nothing went out: take the numbers back.
      member.sent -= tasks.length;
      for (const task of tasks) member.inFlight.delete(task.seq);
      // Too large for the channel as one message: send smaller batches from now on; only a task too
      // large by itself fails.
      if (isIpcError(error) && error.code === 'IPCX_ERR_TOO_LARGE' && tasks.length > 1) {
        member.maxBatch = Math.max(1, tasks.length >> 1);
        this.#sendTasks(member, tasks);
        return;
      }
      for (const task of tasks) {
        task.seq = 0;
        this.#finish(task, error);
      }
      return;
    }
    if (!sent) {
      channel.send(message).catch((error) => {
        if (!endsWorker(error)) for (const task of tasks) this.#finish(task, error);
        // Either way the worker's count of tasks no longer matches ours: replace it.
        if (!member.exited) void member.handle.destroy();
      });
    }
  }

  /** Takes the worker's replies until its channel ends. */
  async #read(member: Member): Promise<void> {
    const channel = member.handle.channel;
    for (;;) {
      let reply: [number, number, unknown] | undefined;
      try {
        reply = channel.tryReceive() as typeof reply;
        reply ??= (await channel.receive()) as typeof reply;
      } catch {
        // Closed by us, or the worker is gone: #onExit handles what is left.
        if (!member.exited && this.#closing === undefined) void member.handle.destroy();
        return;
      }
      if (!Array.isArray(reply)) continue;
      const task = member.inFlight.get(reply[0]);
      if (task === undefined) {
        member.abandoned.delete(reply[0]); // timed out or aborted: nobody waits for it
        continue;
      }
      member.answered++;
      this.#startFailures = 0;
      if (reply[1] === 0) {
        this.#finish(task, undefined, reply[2]);
      } else {
        const { name, message, code } = (reply[2] ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
        this.#finish(
          task,
          new RemoteError(
            String(message ?? 'task failed'),
            String(name ?? 'Error'),
            typeof code === 'string' ? code : undefined,
          ),
        );
      }
    }
  }

  #finish(task: Task, error: unknown, result?: unknown): void {
    if (task.done) return;
    const member = task.member;
    if (member !== undefined) {
      if (member.inFlight.get(task.seq) === task) member.inFlight.delete(task.seq);
    } else {
      const at = this.#queue.indexOf(task, this.#queueHead);
      if (at >= 0) this.#queue.splice(at, 1);
    }
    this.#settle(task, error, result);
    if (member !== undefined) this.#pump();
    if (this.#drainArmed && this.queueSize === 0) {
      this.#drainArmed = false;
      this.emit('drain');
    }
    this.#checkIdle();
  }

  #settle(task: Task, error: unknown, result?: unknown): void {
    if (task.done) return;
    task.done = true;
    if (task.timer !== undefined) clearTimeout(task.timer);
    if (task.onAbort !== undefined) task.signal!.removeEventListener('abort', task.onAbort);
    if (error !== undefined) task.reject(error);
    else task.resolve(result);
  }

  #expire(task: Task, timeout: number): void {
    const member = task.member;
    const sent = task.seq > 0;
    this.#finish(task, new TimeoutError('task', timeout));
    if (member === undefined || member.exited || !sent) return;
    // A timed-out task that already went out runs anyway (the batch is in the worker's channel). Once it
    // runs longer than its time it may never end (a loop): its worker is replaced. Checked now and every
    // `timeout` ms until its (ignored) answer comes.
    const seq = task.seq;
    member.abandoned.add(seq);
    let seenRunning = this.#begun(member) >= seq;
    const check = (): void => {
      if (member.exited || !member.abandoned.has(seq)) return;
      if (seenRunning) {
        member.abandoned.delete(seq);
        void member.handle.destroy();
        return;
      }
      seenRunning = this.#begun(member) >= seq;
      setTimeout(check, timeout).unref();
    };
    if (seenRunning) check();
    else setTimeout(check, timeout).unref();
  }

  /** How many of the tasks sent to `member` it has begun. */
  #begun(member: Member): number {
    const slot = member.handle.slot!;
    return Atomics.load(slot.view, wordOf(slot.index, Word.Started));
  }

  #pump(): void {
    while (this.#queueHead < this.#queue.length) {
      const member = this.#pick();
      if (member === undefined) break;
      const task = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined as never;
      this.#dispatch(member, task);
    }
    if (this.#queueHead === this.#queue.length && this.#queueHead > 0) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #checkIdle(): void {
    if (this.#idle !== undefined && this.#waiting + this.pending === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  async #onExit(member: Member): Promise<void> {
    member.exited = true;
    const info = member.handle.exitInfo!;
    const begun = this.#begun(member);
    // Let the replies the worker wrote before it died arrive first: its channel delivers them, then fails.
    await member.reader;
    const index = this.#members.indexOf(member);
    if (index >= 0) this.#members.splice(index, 1);
    const stopping = this.#closing !== undefined && this.#waiting + this.pending === 0;
    if (!stopping && !this.#destroyed) {
      this.emit('exit', {
        pid: member.handle.pid,
        threadId: member.handle.threadId,
        code: info.code,
        signal: info.signal,
      });
    }
    const how =
      info.signal !== null
        ? `killed by ${info.signal}`
        : info.error !== undefined
          ? `threw ${String((info.error as Error)?.message ?? info.error)}`
          : `exited with code ${info.code}`;
    const unbegun: Task[] = [];
    for (const task of [...member.inFlight.values()].sort((a, b) => a.seq - b.seq)) {
      if (task.seq <= begun) {
        this.#finish(
          task,
          new PeerGoneError(
            `pool worker ${member.handle.kind === 'thread' ? member.handle.threadId : member.handle.pid} (${how} while running the task)`,
            { cause: info.error },
          ),
        );
      } else {
        member.inFlight.delete(task.seq);
        task.member = undefined;
        unbegun.push(task);
      }
    }
    if (unbegun.length > 0) this.#queue.splice(this.#queueHead, 0, ...unbegun);
    if (this.#destroyed || (this.#closing !== undefined && this.#waiting + this.pending === 0)) {
      this.#checkIdle();
      return;
    }
    if (member.answered === 0 && begun === 0 && ++this.#startFailures >= 5) {
      this.#fail(
        new PeerGoneError(`pool workers (5 in a row ended before answering a task; the last ${how})`, {
          cause: info.error,
        }),
      );
      if (this.#members.length === 0) return;
    }
    this.#spawn();
    this.#pump();
  }
}

/** Errors after which a worker's channel carries nothing more. */
function endsWorker(error: unknown): boolean {
  return isIpcError(error) && (error.code === 'IPCX_ERR_PEER_GONE' || error.code === 'IPCX_ERR_CLOSED');
}
