import { EventEmitter } from 'node:events';
import { ClosedError } from '@ipcx/core';
import { ControlProvider, Word, controlContext, wordOf } from './internal/control.js';
import { checkCount, checkMs } from './internal/options.js';
import { registerShutdown, type ShutdownHost } from './shutdown.js';
import type { ExitInfo, WorkerHandle } from './spawn.js';

/** Options of `new Supervisor`. */
export interface SupervisorOptions {
  /**
   * Starts one worker: call `spawnWorker`, `forkChild` or `forkClusterWorker` (the supervisor gives the
   * worker its heartbeat and ready slot through them). `index` is the worker's place, 0 to count - 1.
   */
  spawn: (context: { index: number }) => Promise<WorkerHandle<any>>;
  /** Workers kept running. Default 1. */
  count?: number;
  /** Restart policy; `false` never restarts. */
  restart?:
    | false
    | {
        /** Delay before a restart: `initial * factor^(n-1)` capped at `max`, n = restarts within `window`. Default { initial: 100, max: 10000, factor: 2 }; a number is a fixed delay. */
        backoff?: number | { initial?: number; max?: number; factor?: number };
        /** Restarts of one worker allowed within `window`; one more is a crash loop: no more restarts. Default 5. */
        maxRestarts?: number;
        /** Window (ms) over which restarts are counted. Default 60000. */
        window?: number;
      };
  /**
   * Watch heartbeats: every worker beats this often, in ms (`connectToParent` starts it, or the worker calls
   * `startHeartbeat()`); one whose beat stands still longer than `heartbeatTimeout` is hung and replaced. Before
   * its first beat a worker gets `readyTimeout`. Default: heartbeats are not watched.
   */
  heartbeatInterval?: number;
  /** How long (ms) a heartbeat may stand still before the worker counts as hung. Default 5 `heartbeatInterval`s. */
  heartbeatTimeout?: number;
  /** How long (ms) `rollingRestart` waits for a new worker's `notifyReady()`. Default 30000. */
  readyTimeout?: number;
  /** How long (ms) a worker may take to stop gracefully before it is killed. Default 10000. */
  stopTimeout?: number;
  /** A shutdown coordinator (`@ipcx/signals`' `ShutdownCoordinator`, or anything with `register({ name, close })`). */
  shutdown?: ShutdownHost;
  /** Name under which the supervisor registers with `shutdown`. Default 'supervisor'. */
  name?: string;
}

/** The state of one supervised worker. */
export type MemberState = 'starting' | 'running' | 'ready' | 'restarting' | 'crash-loop' | 'stopping' | 'stopped';

/** One worker in `status()`. */
export interface MemberStatus {
  readonly index: number;
  readonly state: MemberState;
  readonly pid: number | undefined;
  readonly threadId: number | undefined;
  /** Restarts within the current window. */
  readonly restarts: number;
  readonly totalRestarts: number;
  readonly lastExit: ExitInfo | undefined;
}

/** What `status()` returns. */
export interface SupervisorStatus {
  /** 'crash-loop' once any worker stopped being restarted. */
  readonly state: 'running' | 'crash-loop' | 'stopping' | 'stopped';
  readonly workers: readonly MemberStatus[];
}

/** Payload of the 'exit' event. `signal` is set (and `code` null) when a process was killed. */
export interface SupervisorExitEvent extends ExitInfo {
  readonly index: number;
  readonly pid: number;
  readonly threadId: number;
  /** True when the supervisor ended it (hung, rolling restart, shutdown). */
  readonly expected: boolean;
}

interface Member {
  readonly index: number;
  handle: WorkerHandle<any> | undefined;
  state: MemberState;
  restartTimes: number[];
  totalRestarts: number;
  lastExit: ExitInfo | undefined;
  timer: NodeJS.Timeout | undefined;
  beats: number;
  beatChanged: number;
}

/**
 * Keeps `count` workers running: restarts them with backoff when they die, stops a crash loop and says
 * so, reports each exit with its code or signal, replaces a hung worker (stale heartbeat in shared
 * memory), and restarts them all one by one without a gap (`rollingRestart`).
 *
 * Events: 'spawn' ({ index, pid, threadId }), 'ready' (same), 'exit' (SupervisorExitEvent), 'restart'
 * ({ index, attempt, delay }), 'crash-loop' ({ index, restarts, window, lastExit }), 'hung' ({ index,
 * pid, threadId, silentFor }).
 *
 * @example
 * ```ts
 * const supervisor = new Supervisor({ count: 2, spawn: () => forkClusterWorker({ file: './server.js' }) });
 * supervisor.on('exit', (e) => console.log(`worker ${e.pid} exited`, e.code ?? e.signal));
 * await supervisor.rollingRestart();
 * await supervisor.close();
 * ```
 */
export class Supervisor extends EventEmitter implements AsyncDisposable {
  readonly #spawn: SupervisorOptions['spawn'];
  readonly #members: Member[] = [];
  readonly #restart: { initial: number; max: number; factor: number; maxRestarts: number; window: number } | undefined;
  readonly #heartbeat: { interval: number; timeout: number } | undefined;
  readonly #readyTimeout: number;
  readonly #stopTimeout: number;
  readonly #control: ControlProvider;
  readonly #started: Promise<void>;
  readonly #retiring = new Set<WorkerHandle<any>>();
  readonly #hung = new Set<WorkerHandle<any>>();
  #monitor: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #stopped = false;
  #rolling = false;

  constructor(options: SupervisorOptions) {
    super();
    if (options === null || typeof options !== 'object' || typeof options.spawn !== 'function')
      throw new TypeError(
        'Supervisor takes { spawn: () => spawnWorker(...) | forkChild(...) | forkClusterWorker(...) }',
      );
    const count = checkCount('count', options.count, 1, 1, 4096);
    if (options.restart !== false) {
      const r = options.restart ?? {};
      const b = typeof r.backoff === 'number' ? { initial: r.backoff, max: r.backoff, factor: 1 } : (r.backoff ?? {});
      const initial = checkMs('restart.backoff.initial', b.initial, 100, 0);
      const max = checkMs('restart.backoff.max', b.max, Math.max(10_000, initial), 0);
      const factor = b.factor ?? 2;
      if (typeof factor !== 'number' || !(factor >= 1) || factor > 100)
        throw new RangeError('restart.backoff.factor must be a number in [1, 100]');
      this.#restart = {
        initial,
        max,
        factor,
        maxRestarts: checkCount('restart.maxRestarts', r.maxRestarts, 5, 0),
        window: checkMs('restart.window', r.window, 60_000),
      };
    }
    if (options.heartbeatTimeout !== undefined && options.heartbeatInterval === undefined) {
      throw new TypeError('heartbeatTimeout needs heartbeatInterval (heartbeats are watched only with it)');
    }
    if (options.heartbeatInterval !== undefined) {
      const interval = checkMs('heartbeatInterval', options.heartbeatInterval, 1000);
      const timeout = checkMs('heartbeatTimeout', options.heartbeatTimeout, interval * 5);
      if (timeout <= interval) throw new RangeError('heartbeatTimeout must be longer than heartbeatInterval');
      this.#heartbeat = { interval, timeout };
    }
    this.#readyTimeout = checkMs('readyTimeout', options.readyTimeout, 30_000);
    this.#stopTimeout = checkMs('stopTimeout', options.stopTimeout, 10_000, 0);
    this.#spawn = options.spawn;
    // A rolling restart runs one extra worker, and a dead worker's slot is freed a turn after its exit.
    this.#control = new ControlProvider(count * 2 + 4, this.#heartbeat?.interval ?? 0);
    for (let index = 0; index < count; index++) {
      this.#members.push({
        index,
        handle: undefined,
        state: 'starting',
        restartTimes: [],
        totalRestarts: 0,
        lastExit: undefined,
        timer: undefined,
        beats: 0,
        beatChanged: 0,
      });
    }
    if (options.shutdown !== undefined)
      registerShutdown(options.shutdown, options.name ?? 'supervisor', () => this.close());
    this.#started = Promise.all(this.#members.map((m) => this.#startMember(m))).then(() => {});
    this.#started.catch(() => {});
    if (this.#heartbeat !== undefined) {
      this.#monitor = setInterval(
        () => this.#checkHeartbeats(),
        Math.max(10, Math.floor(this.#heartbeat.interval / 2)),
      );
      this.#monitor.unref();
    }
  }

  /** Resolves once every worker was started the first time; rejects if a first `spawn` threw. */
  start(): Promise<void> {
    return this.#started;
  }

  /** The live workers' handles (their channels, pids). */
  get workers(): readonly WorkerHandle<any>[] {
    return this.#members.flatMap((m) => (m.handle !== undefined && m.handle.exitInfo === undefined ? [m.handle] : []));
  }

  /** A snapshot of every worker's state, restarts and last exit. */
  status(): SupervisorStatus {
    const now = performance.now();
    const window = this.#restart?.window ?? 0;
    const workers = this.#members.map((m) => ({
      index: m.index,
      state: m.state,
      pid: m.handle?.pid,
      threadId: m.handle?.threadId,
      restarts: m.restartTimes.filter((t) => now - t < window).length,
      totalRestarts: m.totalRestarts,
      lastExit: m.lastExit,
    }));
    const state = this.#stopped
      ? 'stopped'
      : this.#stopping
        ? 'stopping'
        : workers.some((w) => w.state === 'crash-loop')
          ? 'crash-loop'
          : 'running';
    return { state, workers };
  }

  /**
   * Waits until every worker has called `notifyReady()`. Rejects with `TimeoutError` after `timeout`
   * (default `readyTimeout`), or `PeerGoneError` if a worker ends first.
   */
  async ready(options: { timeout?: number } = {}): Promise<void> {
    await this.#started;
    await Promise.all(
      this.#members.map((m) => m.handle?.waitReady({ timeout: options.timeout ?? this.#readyTimeout })),
    );
  }

  /**
   * Replaces every worker, one at a time: starts the new one, waits for its `notifyReady()`, then
   * stops the old one gracefully (a cluster worker is disconnected: it stops accepting and finishes
   * its requests). If a new worker fails to become ready, it is killed, the old one stays, and this
   * rejects.
   */
  async rollingRestart(): Promise<void> {
    if (this.#stopping !== undefined) throw new ClosedError('supervisor');
    if (this.#rolling) throw new TypeError('a rolling restart is already running');
    this.#rolling = true;
    try {
      await this.#started;
      for (const member of this.#members) {
        if (this.#stopping !== undefined) throw new ClosedError('supervisor');
        if (member.state === 'crash-loop' || member.state === 'restarting') {
          // Not running: start it fresh instead.
          clearTimeout(member.timer);
          member.restartTimes = [];
          await this.#startMember(member);
          continue;
        }
        const old = member.handle;
        const next = await this.#spawnOne(member.index);
        try {
          await next.waitReady({ timeout: this.#readyTimeout });
        } catch (error) {
          this.#retiring.add(next);
          await next.destroy();
          throw error;
        }
        if (old !== undefined) this.#retiring.add(old);
        this.#adopt(member, next);
        member.state = 'ready';
        this.emit('ready', { index: member.index, pid: next.pid, threadId: next.threadId });
        if (old !== undefined) await old.close({ timeout: this.#stopTimeout });
      }
    } finally {
      this.#rolling = false;
    }
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#stopping !== undefined;
  }

  /** Stops restarting, stops every worker gracefully (killing those that take longer than `stopTimeout`), frees the shared memory. Idempotent. */
  close(): Promise<void> {
    return this.#stop(this.#stopTimeout);
  }

  /** Stops restarting and kills every worker at once (no graceful stop), frees the shared memory. Idempotent. */
  destroy(_error?: Error): void {
    void this.#stop(0).catch(() => {});
  }

  #stop(stopTimeout: number): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#monitor);
      for (const m of this.#members) clearTimeout(m.timer);
      await this.#started.catch(() => {});
      await Promise.all(
        this.#members.map(async (m) => {
          if (m.state !== 'crash-loop') m.state = 'stopping';
          const handle = m.handle;
          if (handle !== undefined) {
            this.#retiring.add(handle);
            await handle.close({ timeout: stopTimeout });
          }
          if (m.state !== 'crash-loop') m.state = 'stopped';
        }),
      );
      this.#control.close();
      this.#stopped = true;
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #spawnOne(index: number): Promise<WorkerHandle<any>> {
    const handle = await controlContext.run(this.#control, () => this.#spawn({ index }));
    if (handle === null || typeof handle !== 'object' || !(handle.exited instanceof Promise)) {
      throw new TypeError('spawn must return what spawnWorker, forkChild or forkClusterWorker return');
    }
    if (handle.slot === undefined && this.#heartbeat !== undefined) {
      void handle.destroy();
      throw new TypeError(
        'spawn must start the worker with spawnWorker, forkChild or forkClusterWorker inside the spawn function (heartbeats need the slot they hand out)',
      );
    }
    this.emit('spawn', { index, pid: handle.pid, threadId: handle.threadId });
    return handle;
  }

  async #startMember(member: Member): Promise<void> {
    member.state = 'starting';
    let handle: WorkerHandle<any>;
    try {
      handle = await this.#spawnOne(member.index);
    } catch (error) {
      if (this.#stopping !== undefined) return;
      member.lastExit = { code: null, signal: null, error };
      this.emit('exit', {
        index: member.index,
        pid: 0,
        threadId: 0,
        code: null,
        signal: null,
        error,
        expected: false,
      } satisfies SupervisorExitEvent);
      this.#scheduleRestart(member);
      return;
    }
    if (this.#stopping !== undefined) {
      await handle.close({ timeout: this.#stopTimeout });
      return;
    }
    this.#adopt(member, handle);
  }

  /** Makes `handle` the member's worker: watches its ready word, heartbeat and exit. */
  #adopt(member: Member, handle: WorkerHandle<any>): void {
    member.handle = handle;
    member.state = 'running';
    member.beats = handle.slot ? Atomics.load(handle.slot.view, wordOf(handle.slot.index, Word.Beats)) : 0;
    member.beatChanged = performance.now();
    if (handle.slot !== undefined && !this.#rolling) {
      handle.waitReady().then(
        () => {
          if (member.handle === handle && member.state === 'running') {
            member.state = 'ready';
            this.emit('ready', { index: member.index, pid: handle.pid, threadId: handle.threadId });
          }
        },
        () => {},
      );
    }
    void handle.exited.then((info) => this.#onExit(member, handle, info));
  }

  #onExit(member: Member, handle: WorkerHandle<any>, info: ExitInfo): void {
    const expected = this.#retiring.delete(handle) || this.#stopping !== undefined;
    const hung = this.#hung.delete(handle);
    if (member.handle === handle) member.lastExit = info;
    this.emit('exit', {
      index: member.index,
      pid: handle.pid,
      threadId: handle.threadId,
      ...info,
      expected: expected && !hung,
    } satisfies SupervisorExitEvent);
    if (member.handle !== handle || expected) return;
    member.handle = undefined;
    this.#scheduleRestart(member);
  }

  #scheduleRestart(member: Member): void {
    const policy = this.#restart;
    if (policy === undefined || this.#stopping !== undefined) {
      member.state = 'stopped';
      return;
    }
    const now = performance.now();
    member.restartTimes = member.restartTimes.filter((t) => now - t < policy.window);
    if (member.restartTimes.length >= policy.maxRestarts) {
      member.state = 'crash-loop';
      this.emit('crash-loop', {
        index: member.index,
        restarts: member.restartTimes.length,
        window: policy.window,
        lastExit: member.lastExit,
      });
      return;
    }
    member.restartTimes.push(now);
    member.totalRestarts++;
    const attempt = member.restartTimes.length;
    const delay = Math.min(policy.max, Math.round(policy.initial * policy.factor ** (attempt - 1)));
    member.state = 'restarting';
    this.emit('restart', { index: member.index, attempt, delay });
    member.timer = setTimeout(() => {
      member.timer = undefined;
      if (this.#stopping === undefined) void this.#startMember(member);
    }, delay);
  }

  #checkHeartbeats(): void {
    const limit = this.#heartbeat!.timeout;
    const now = performance.now();
    for (const member of this.#members) {
      const handle = member.handle;
      if (
        handle?.slot === undefined ||
        handle.exitInfo !== undefined ||
        this.#hung.has(handle) ||
        this.#retiring.has(handle)
      )
        continue;
      const beats = Atomics.load(handle.slot.view, wordOf(handle.slot.index, Word.Beats));
      // Until its first beat a worker is starting (loading modules on a busy machine): it gets readyTimeout.
      const allowed = beats === 0 ? Math.max(limit, this.#readyTimeout) : limit;
      if (beats !== member.beats) {
        member.beats = beats;
        member.beatChanged = now;
      } else if (now - member.beatChanged > allowed) {
        this.#hung.add(handle);
        this.emit('hung', {
          index: member.index,
          pid: handle.pid,
          threadId: handle.threadId,
          silentFor: Math.round(now - member.beatChanged),
        });
        void handle.destroy();
      }
    }
  }
}
