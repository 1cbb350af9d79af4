import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { AbortedError, PeerGoneError, TimeoutError, msgpackCodec, type Codec } from '@ipcx/core';
import { checkWaitOptions, linkSignals } from '@ipcx/core/transport';
import { futex } from '@ipcx/native';
import { ShmChannel, type ShmChannelHandle } from '@ipcx/shm';
import type { UnixServer } from '@ipcx/sockets';
import { controlContext, Word, wordOf, type ControlSlot } from './internal/control.js';
import { processLinkEnv, withThreadLink, type Link } from './internal/link.js';
import { checkMs, checkTransport } from './internal/options.js';
import { lingerOption } from '@ipcx/core/transport';
import { PeerChannel } from './peer-channel.js';

/** Options every spawn style takes for its channel. */
export interface ChannelSpawnOptions<T = unknown> {
  /**
   * 'shm' (default): a `ShmChannel` (a pair handed over in the worker's environment data for a thread, a
   * named segment for a process, unlinked as soon as the child opened it). 'unix': a Unix stream socket on
   * an abstract name (no file), for peers that must not share memory.
   */
  transport?: 'shm' | 'unix';
  /** Codec of the channel; a custom one must be given to `connectToParent` too. Default msgpack. */
  codec?: Codec<T>;
  /** Bytes of each direction's ring (shm). Default 256 KiB. */
  bufferBytes?: number;
  /** shm across processes: how often (ms) a waiting side checks that the other process lives. Default 200. */
  peerCheckInterval?: number;
  /** unix: how long (ms) to wait for the child to connect. Default 30000. */
  connectTimeout?: number;
  /** shm: microseconds a waiting end spins before it sleeps, on both ends (see `ShmChannelOptions`). Default 50. */
  spinMicroseconds?: number;
  /**
   * How long (ms) the parent's `channel.close()` waits for the worker to take what is left; then the sends still
   * waiting reject with `ClosedError` and the channel is destroyed. Default 2000.
   */
  lingerTimeout?: number;
}

/** Options of `spawnWorker`: Node's `WorkerOptions` plus the channel's. */
export interface SpawnWorkerOptions<T = unknown> extends ChannelSpawnOptions<T>, Omit<WorkerOptions, 'transferList'> {}

/** Options of `forkChild`: Node's `ForkOptions` plus the channel's. */
export interface ForkChildOptions<T = unknown> extends ChannelSpawnOptions<T>, ForkOptions {
  /** Arguments of the script. */
  args?: readonly string[];
}

/** Options of `forkClusterWorker`. */
export interface ClusterWorkerOptions<T = unknown> extends ChannelSpawnOptions<T> {
  /** The worker's script; default what `cluster.setupPrimary` set (else the primary's own script). */
  file?: string | URL;
  /** Extra environment variables of the worker (added to the primary's, as `cluster.fork(env)`). */
  env?: NodeJS.ProcessEnv;
}

/** How a spawned worker ended. `signal` is set when a process was killed (then `code` is null). */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** A thread's uncaught exception, or the error that kept a process from starting. */
  readonly error?: unknown;
}

/** Which Node mechanism runs a worker. */
export type WorkerKind = 'thread' | 'process' | 'cluster';

const DEFAULT_PEER_CHECK = 200;

/**
 * A worker thread, child process or node:cluster worker with its channel to this process. The channel
 * fails with `PeerGoneError` once the worker is gone: at once for a thread, within `peerCheckInterval`
 * for a process on shm (when the kernel reports the exit, for unix).
 */
export class WorkerHandle<T = unknown> implements AsyncDisposable {
  /** The connected channel to the worker. */
  readonly channel: PeerChannel<T>;
  /** Resolves (never rejects) when the worker has ended. */
  readonly exited: Promise<ExitInfo>;
  readonly kind: WorkerKind;
  readonly #target: Worker | ChildProcess | ClusterWorker;
  readonly #threadId: number;
  #exit: ExitInfo | undefined;
  #closing = false;
  /** @internal */
  readonly slot: ControlSlot | undefined;

  /** @internal */
  constructor(
    kind: WorkerKind,
    target: Worker | ChildProcess | ClusterWorker,
    channel: PeerChannel<T>,
    exited: Promise<ExitInfo>,
    slot: ControlSlot | undefined,
  ) {
    this.kind = kind;
    this.#target = target;
    this.#threadId = kind === 'thread' ? (target as Worker).threadId : 0;
    this.channel = channel;
    this.slot = slot;
    this.exited = exited.then((info) => {
      this.#exit = info;
      return info;
    });
  }

  /** The `Worker` (threads) or the `cluster.Worker` (node:cluster); undefined for `forkChild`. */
  get worker(): Worker | ClusterWorker | undefined {
    return this.kind === 'process' ? undefined : (this.#target as Worker | ClusterWorker);
  }

  /** The `ChildProcess` (forkChild and node:cluster); undefined for a thread. */
  get child(): ChildProcess | undefined {
    if (this.kind === 'process') return this.#target as ChildProcess;
    if (this.kind === 'cluster') return (this.#target as ClusterWorker).process;
    return undefined;
  }

  /** The process id (a thread's is this process's). */
  get pid(): number {
    if (this.kind === 'thread') return process.pid;
    return this.child?.pid ?? 0;
  }

  /** The thread id (threads), else 0. */
  get threadId(): number {
    return this.#threadId;
  }

  /** How it ended, once it has. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** True after the worker signalled `notifyReady()` (only for workers a Supervisor or Pool spawned). */
  get isReady(): boolean {
    return this.slot !== undefined && Atomics.load(this.slot.view, wordOf(this.slot.index, Word.Ready)) !== 0;
  }

  /**
   * Waits until the worker called `notifyReady()`. Rejects with `PeerGoneError` if it ends first, or
   * `TimeoutError`. Needs a control slot: the worker must have been spawned by a Supervisor or Pool.
   */
  async waitReady(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<void> {
    const slot = this.slot;
    if (slot === undefined) throw new TypeError('waitReady needs a worker spawned by a Supervisor or Pool');
    const index = wordOf(slot.index, Word.Ready);
    checkWaitOptions(options);
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    let exited = false;
    void this.exited.then(() => (exited = true));
    const stop = new AbortController();
    void this.exited.then(() => stop.abort());
    const linked = options.signal ? linkSignals(options.signal, stop.signal) : undefined;
    const signal = linked?.signal ?? stop.signal;
    try {
      for (;;) {
        if (Atomics.load(slot.view, index) !== 0) return;
        if (exited || this.#exit !== undefined)
          throw new PeerGoneError(`${this.kind} ${this.pid} (it ended before it was ready)`);
        if (options.signal?.aborted)
          throw new AbortedError('waiting for the worker to be ready', { cause: options.signal.reason });
        const left = end - performance.now();
        if (left <= 0) throw new TimeoutError('waiting for the worker to be ready', options.timeout);
        try {
          await futex.waitAsync(slot.view, index, 0, Math.min(left, 0x7fff_ffff), { signal });
        } catch (error) {
          if (!stop.signal.aborted) throw new AbortedError('waiting for the worker to be ready', { cause: error });
        }
      }
    } finally {
      linked?.release();
      stop.abort();
    }
  }

  /**
   * Kills the worker at once (SIGKILL; `Worker.terminate()` for a thread), destroys the channel (pending sends
   * reject with `error`, else `ClosedError`) and resolves once the worker is gone. Idempotent.
   */
  async destroy(error?: Error): Promise<ExitInfo> {
    this.#closing = true;
    if (this.#exit === undefined) {
      if (this.kind === 'thread') void (this.#target as Worker).terminate();
      else this.child?.kill('SIGKILL');
    }
    this.channel.destroy(error);
    return this.exited;
  }

  /** True once `close` or `destroy` was called, or the worker ended. */
  get closed(): boolean {
    return this.#closing || this.#exit !== undefined;
  }

  /** Sends `signal` to a process (default SIGTERM); a thread is terminated whatever the signal. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#exit !== undefined) return;
    if (this.kind === 'thread') void (this.#target as Worker).terminate();
    else this.child?.kill(signal);
  }

  /**
   * Ends the worker gracefully: closes the channel (its `for await` ends), disconnects a cluster worker
   * (its servers stop taking connections and finish the ones they have) or sends SIGTERM to a process,
   * and waits up to `timeout` ms (default 10000) before `destroy()`. Idempotent.
   */
  async close(options: { timeout?: number } = {}): Promise<ExitInfo> {
    const timeout = checkMs('timeout', options.timeout, 10_000, 0);
    this.#closing = true;
    if (this.#exit === undefined) {
      await this.channel.close().catch(() => {});
      if (this.kind === 'cluster') {
        const worker = this.#target as ClusterWorker;
        if (worker.isConnected()) worker.disconnect();
      } else if (this.kind === 'process') {
        this.child?.kill('SIGTERM');
      }
      const timer = setTimeout(() => void this.destroy(), timeout);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    await this.channel.close().catch(() => {});
    return this.exited;
  }

  /** Kills the worker and closes the channel (`destroy`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }
}

/** Thread handle: `worker` is the `Worker`. */
export interface ThreadHandle<T = unknown> extends WorkerHandle<T> {
  readonly worker: Worker;
}
/** Child process handle: `child` is the `ChildProcess`. */
export interface ChildHandle<T = unknown> extends WorkerHandle<T> {
  readonly child: ChildProcess;
}
/** node:cluster handle: `worker` is the `cluster.Worker`, `child` its process. */
export interface ClusterHandle<T = unknown> extends WorkerHandle<T> {
  readonly worker: ClusterWorker;
  readonly child: ChildProcess;
}

/** The checked channel options of a spawn. */
interface CheckedChannelOptions {
  transport: 'shm' | 'unix';
  peerCheckInterval: number;
  connectTimeout: number;
  lingerTimeout: number;
}

function checkChannelOptions(options: ChannelSpawnOptions<unknown>): CheckedChannelOptions {
  const transport = checkTransport(options.transport);
  const peerCheckInterval = checkMs('peerCheckInterval', options.peerCheckInterval, DEFAULT_PEER_CHECK);
  const connectTimeout = checkMs('connectTimeout', options.connectTimeout, 30_000);
  if (
    options.codec !== undefined &&
    (typeof options.codec.encode !== 'function' || typeof options.codec.decode !== 'function')
  ) {
    throw new TypeError('codec must be a Codec (encode, decode)');
  }
  const lingerTimeout = lingerOption(options.lingerTimeout);
  return { transport, peerCheckInterval, connectTimeout, lingerTimeout };
}

function uniqueName(): string {
  return `ipcx-cluster-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** The slot a Supervisor or Pool hands this spawn, if one runs it. */
function takeSlot(kind: 'thread' | 'process'): ControlSlot | undefined {
  return controlContext.getStore()?.slotFor(kind);
}

/**
 * Starts a worker thread with a channel already connected to it; in the worker, `connectToParent()`
 * returns the other end. `workerData` and every other `Worker` option stay the user's.
 *
 * @example
 * ```ts
 * const { worker, channel } = await spawnWorker(new URL('./worker.js', import.meta.url));
 * await channel.send({ job: 1 });
 * console.log(await channel.receive({ timeout: 5000 }));
 * ```
 */
export async function spawnWorker<T = unknown>(
  file: string | URL,
  options: SpawnWorkerOptions<T> = {},
): Promise<ThreadHandle<T>> {
  const {
    transport,
    peerCheckInterval,
    connectTimeout,
    codec,
    bufferBytes,
    spinMicroseconds,
    lingerTimeout,
    ...workerOptions
  } = options;
  const checked = checkChannelOptions(options);
  const codecName = (codec ?? msgpackCodec).name;
  const slot = takeSlot('thread');
  try {
    if (checked.transport === 'unix') {
      const name = uniqueName();
      const { UnixServer } = await import('@ipcx/sockets'); // loaded only for this transport
      const server = await UnixServer.listen<T>({ abstract: name }, codec ? { codec } : {});
      const link: Link = {
        version: 1,
        transport: 'unix',
        kind: 'thread',
        parentPid: process.pid,
        name,
        codec: codecName,
        ...(slot ? { slot: slot.link } : {}),
      };
      let worker: Worker;
      try {
        worker = withThreadLink(link, () => new Worker(file, workerOptions));
      } catch (error) {
        await server.close();
        throw error;
      }
      const exited = threadExit(worker);
      const channel = await acceptOne(server, exited, checked.connectTimeout, () => void worker.terminate());
      const peer = new PeerChannel<T>(channel, () => server.close(), checked.lingerTimeout);
      const handle = new WorkerHandle<T>('thread', worker, peer, exited, slot);
      watchExit(handle, 'thread');
      return handle as ThreadHandle<T>;
    }
    const [mine, theirs] = ShmChannel.pair<T>({
      ...(codec ? { codec } : {}),
      ...(bufferBytes !== undefined ? { bufferBytes } : {}),
      ...(spinMicroseconds !== undefined ? { spinMicroseconds } : {}),
    });
    const theirHandle: ShmChannelHandle = theirs.transfer();
    const link: Link = {
      version: 1,
      transport: 'thread',
      kind: 'thread',
      parentPid: process.pid,
      handle: theirHandle,
      codec: codecName,
      ...(spinMicroseconds !== undefined ? { spinMicroseconds } : {}),
      ...(slot ? { slot: slot.link } : {}),
    };
    let worker: Worker;
    try {
      worker = withThreadLink(link, () => new Worker(file, workerOptions));
    } catch (error) {
      await mine.close();
      throw error;
    }
    const peer = new PeerChannel<T>(mine, undefined, checked.lingerTimeout);
    const handle = new WorkerHandle<T>('thread', worker, peer, threadExit(worker), slot);
    // A thread's death cannot be seen in shared memory: when it exits, close its end of the rings for
    // it, which ends our waits (after what it sent) exactly as if it had closed them itself.
    watchExit(handle, 'thread', () => ShmChannel.from<T>(theirHandle, codec ? { codec } : {}).close());
    return handle as ThreadHandle<T>;
  } catch (error) {
    slot?.release();
    throw error;
  }
}

/**
 * Forks a Node.js child process (`child_process.fork`) with a channel already connected to it; in the
 * child, `connectToParent()` returns the other end.
 *
 * @example
 * ```ts
 * const { child, channel } = await forkChild('./child.js');
 * await channel.send('ping');
 * ```
 */
export async function forkChild<T = unknown>(
  file: string | URL,
  options: ForkChildOptions<T> = {},
): Promise<ChildHandle<T>> {
  const {
    transport,
    peerCheckInterval,
    connectTimeout,
    codec,
    bufferBytes,
    spinMicroseconds,
    lingerTimeout,
    args,
    env,
    ...forkOptions
  } = options;
  const checked = checkChannelOptions(options);
  return (await spawnProcess<T>('process', options, checked, (link) =>
    fork(file, args ?? [], { ...forkOptions, env: processLinkEnv(link, env) }),
  )) as ChildHandle<T>;
}

/**
 * Forks a node:cluster worker with a channel already connected to it (the primary's connections are
 * balanced to it as usual); in the worker, `connectToParent()` returns the other end.
 *
 * @example
 * ```ts
 * const { worker, channel } = await forkClusterWorker({ file: './server.js' });
 * ```
 */
export async function forkClusterWorker<T = unknown>(options: ClusterWorkerOptions<T> = {}): Promise<ClusterHandle<T>> {
  const checked = checkChannelOptions(options);
  if (!cluster.isPrimary) throw new TypeError('forkClusterWorker runs in the cluster primary');
  if (options.file !== undefined) {
    const exec = options.file instanceof URL ? options.file.pathname : options.file;
    if (cluster.settings.exec !== exec) cluster.setupPrimary({ exec });
  }
  return (await spawnProcess<T>('cluster', options, checked, (link) => {
    const worker = cluster.fork({ ...options.env, IPCX_CLUSTER_LINK: processLinkEnv(link, {}).IPCX_CLUSTER_LINK });
    return worker;
  })) as ClusterHandle<T>;
}

async function spawnProcess<T>(
  kind: 'process' | 'cluster',
  options: ChannelSpawnOptions<T>,
  checked: CheckedChannelOptions,
  start: (link: Link) => ChildProcess | ClusterWorker,
): Promise<WorkerHandle<T>> {
  const codecName = (options.codec ?? msgpackCodec).name;
  const slot = takeSlot('process');
  try {
    const name = uniqueName();
    const base = {
      version: 1 as const,
      kind,
      parentPid: process.pid,
      name,
      codec: codecName,
      peerCheckInterval: checked.peerCheckInterval,
      ...(options.spinMicroseconds !== undefined ? { spinMicroseconds: options.spinMicroseconds } : {}),
      ...(slot ? { slot: slot.link } : {}),
    };
    if (checked.transport === 'unix') {
      const { UnixServer } = await import('@ipcx/sockets'); // loaded only for this transport
      const server = await UnixServer.listen<T>({ abstract: name }, options.codec ? { codec: options.codec } : {});
      let target: ChildProcess | ClusterWorker;
      try {
        target = start({ ...base, transport: 'unix' });
      } catch (error) {
        await server.close();
        throw error;
      }
      const exited = processExit(kind, target);
      const channel = await acceptOne(server, exited, checked.connectTimeout, () =>
        processOf(kind, target).kill('SIGKILL'),
      );
      const handle = new WorkerHandle<T>(
        kind,
        target,
        new PeerChannel<T>(channel, () => server.close(), checked.lingerTimeout),
        exited,
        slot,
      );
      watchExit(handle, kind);
      return handle;
    }
    const segment = `/${name}`;
    const mine = await ShmChannel.create<T>(segment, {
      ...(options.codec ? { codec: options.codec } : {}),
      ...(options.bufferBytes !== undefined ? { bufferBytes: options.bufferBytes } : {}),
      peerCheckInterval: checked.peerCheckInterval,
      ...(options.spinMicroseconds !== undefined ? { spinMicroseconds: options.spinMicroseconds } : {}),
    });
    let target: ChildProcess | ClusterWorker;
    try {
      target = start({ ...base, transport: 'shm', name: segment });
    } catch (error) {
      await mine.close();
      throw error;
    }
    // The child unlinks the name once it has opened it. When it is gone: if it never opened it (it died
    // starting), take its end and close it, which ends our waits as a peer that closed would (a child that
    // did open it is found dead by the channel's own check); then the name goes.
    const handle = new WorkerHandle<T>(
      kind,
      target,
      new PeerChannel<T>(mine, undefined, checked.lingerTimeout),
      processExit(kind, target),
      slot,
    );
    watchExit(handle, kind, async () => {
      try {
        await (await ShmChannel.open(segment)).close();
      } catch {
        // Opened and unlinked by the child, or closed by us already.
      }
      await ShmChannel.unlink(segment);
    });
    return handle;
  } catch (error) {
    slot?.release();
    throw error;
  }
}

function processOf(kind: 'process' | 'cluster', target: ChildProcess | ClusterWorker): ChildProcess {
  return kind === 'cluster' ? (target as ClusterWorker).process : (target as ChildProcess);
}

function threadExit(worker: Worker): Promise<ExitInfo> {
  let error: unknown;
  worker.on('error', (e) => (error = e));
  return new Promise((resolve) => {
    worker.once('exit', (code) => resolve({ code, signal: null, ...(error !== undefined ? { error } : {}) }));
  });
}

/** Resolves with the code or signal of a process's exit; a process that never started ends with its error. */
function processExit(kind: 'process' | 'cluster', target: ChildProcess | ClusterWorker): Promise<ExitInfo> {
  const child = processOf(kind, target);
  return new Promise((resolve) => {
    // 'exit' carries (code, signal): exactly one is set, so a SIGKILL (code null) is never missed.
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
    // A cluster worker's process has an IPC channel whose errors must not go unhandled.
    if (kind === 'cluster') (target as ClusterWorker).on('error', () => {});
  });
}

/** When the worker exits, its channel fails with PeerGoneError and its slot is freed. */
function watchExit<T>(handle: WorkerHandle<T>, kind: WorkerKind, endWaits?: () => Promise<void>): void {
  void handle.exited.then((info) => {
    const how =
      info.signal !== null
        ? `killed by ${info.signal}`
        : info.error !== undefined
          ? `threw ${String((info.error as Error)?.message ?? info.error)}`
          : `exited with code ${info.code}`;
    const what =
      kind === 'thread'
        ? `worker thread ${handle.threadId}`
        : `${kind === 'cluster' ? 'cluster worker' : 'child process'} ${handle.pid}`;
    handle.channel.markPeerGone(
      new PeerGoneError(`${what} (${how})`, info.error !== undefined ? { cause: info.error } : undefined),
      endWaits,
    );
    setImmediate(() => handle.slot?.release()); // after the exit handlers that read it
  });
}

/** Accepts the one child of a spawn, or fails when the child dies or the time is up. */
async function acceptOne<T>(server: UnixServer<T>, exited: Promise<ExitInfo>, timeout: number, kill: () => void) {
  const stop = new AbortController();
  void exited.then(() => stop.abort());
  try {
    return await server.accept({ timeout, signal: stop.signal });
  } catch (error) {
    kill();
    await server.close();
    if (stop.signal.aborted) {
      const info = await exited;
      throw new PeerGoneError(`worker (it ended with ${info.signal ?? info.code} before it connected)`, {
        cause: info.error,
      });
    }
    throw error;
  } finally {
    stop.abort();
  }
}
