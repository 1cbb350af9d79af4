import { NotFoundError, PeerGoneError, type Codec } from '@ipcx/core';
import { futex, shm } from '@ipcx/native';
import { ShmChannel } from '@ipcx/shm';
import { Word, controlView, wordOf } from './internal/control.js';
import { takeLink, type Link } from './internal/link.js';
import { checkMs, linkCodec } from './internal/options.js';
import { lingerOption } from '@ipcx/core/transport';
import { PeerChannel } from './peer-channel.js';

/** Options of `connectToParent`. */
export interface ConnectToParentOptions<T = unknown> {
  /** The codec, when the parent used a custom one (built-in codecs are found by name). */
  codec?: Codec<T>;
  /** unix: how long (ms) to try to connect. Default 30000. */
  timeout?: number;
  /**
   * How long (ms) the channel's `close()` waits for the parent to take what is left; then the sends still
   * waiting reject with `ClosedError` and the channel is destroyed. Default 2000.
   */
  lingerTimeout?: number;
}

let connecting: Promise<PeerChannel<any>> | undefined;

/**
 * In a worker thread, child process or node:cluster worker started by `spawnWorker`, `forkChild`,
 * `forkClusterWorker` (or a Pool or Supervisor), returns the channel to the parent. Call it once; later
 * calls return the same channel. Throws `NotFoundError` in a process nobody spawned that way.
 *
 * Unlike `@ipcx/sockets`' `parentChannel()` (a stream over an extra stdio pipe the parent set up by hand,
 * with any child program), this finds the transport the parent chose (shared memory by default) with no
 * names, pipes or file descriptors to arrange, and knows when the parent is gone.
 *
 * @example
 * ```ts
 * const channel = await connectToParent();
 * for await (const job of channel) await channel.send({ done: job });
 * ```
 */
export function connectToParent<T = unknown>(options: ConnectToParentOptions<T> = {}): Promise<PeerChannel<T>> {
  connecting ??= open<T>(options);
  return connecting as Promise<PeerChannel<T>>;
}

async function open<T>(options: ConnectToParentOptions<T>): Promise<PeerChannel<T>> {
  const link = takeLink();
  if (link === undefined) throw new NotFoundError('a parent channel (this worker was not started by @ipcx/cluster)');
  const codec = linkCodec<T>(link.codec, options.codec);
  const timeout = checkMs('timeout', options.timeout, 30_000);
  const linger = lingerOption(options.lingerTimeout);
  let channel: PeerChannel<T>;
  if (link.transport === 'thread') {
    const spin = link.spinMicroseconds !== undefined ? { spinMicroseconds: link.spinMicroseconds } : {};
    channel = new PeerChannel<T>(ShmChannel.from<T>(link.handle!, { codec, ...spin }), undefined, linger);
  } else if (link.transport === 'shm') {
    const inner = await ShmChannel.open<T>(link.name!, {
      codec,
      ...(link.peerCheckInterval ? { peerCheckInterval: link.peerCheckInterval } : {}),
      ...(link.spinMicroseconds !== undefined ? { spinMicroseconds: link.spinMicroseconds } : {}),
    });
    // Both ends are attached: the name has done its work (the mapping stays).
    await ShmChannel.unlink(link.name!);
    channel = new PeerChannel<T>(inner, undefined, linger);
  } else {
    const { UnixSocket } = await import('@ipcx/sockets'); // loaded only for this transport
    channel = new PeerChannel<T>(
      await UnixSocket.connect<T>({ abstract: link.name! }, { codec, timeout }),
      undefined,
      linger,
    );
  }
  watchParent(link, channel);
  // A supervisor that watches heartbeats gets them from every worker that connects.
  if (link.slot !== undefined && link.slot.heartbeat > 0 && heartbeat === undefined) startHeartbeat();
  return channel;
}

/**
 * A process learns of its parent's death at once through Node's IPC channel, when it has one. The IPC
 * channel also closes on a graceful `disconnect()`, so the kernel decides: a dead parent's children are
 * reparented, and getppid() changes (checked for a second after the disconnect: the kernel closes a dying
 * process's descriptors before it reparents its children). Without IPC, the transport notices by itself
 * (shm: within `peerCheckInterval`; unix: end of stream).
 */
function watchParent(link: Link, channel: PeerChannel<unknown>): void {
  if (link.kind === 'thread' || !process.connected || process.channel === undefined) return;
  const onDisconnect = (): void => {
    let tries = 0;
    const check = (): void => {
      if (process.ppid !== link.parentPid) {
        channel.markPeerGone(new PeerGoneError(`parent process ${link.parentPid}`));
      } else if (++tries < 50) {
        setTimeout(check, 20).unref();
      }
    };
    check();
  };
  process.once('disconnect', onDisconnect);
  // Listening for 'disconnect' refs the IPC channel; it must not keep the child alive on its own.
  process.channel.unref();
}

let control: { view: Int32Array; index: number; heartbeat: number } | undefined | null;

/** The control slot this worker was given by a Supervisor or Pool, if any. */
export function controlSlot(): { view: Int32Array; index: number; heartbeat: number } | undefined {
  if (control !== undefined) return control ?? undefined;
  const link = takeLink();
  const slot = link?.slot;
  if (slot === undefined) {
    control = null;
    return undefined;
  }
  const buffer = slot.buffer ?? shm.open(slot.name!, { create: false }).buffer;
  control = { view: controlView(buffer), index: slot.index, heartbeat: slot.heartbeat };
  return control;
}

/** Options of `startHeartbeat`. */
export interface HeartbeatOptions {
  /** Milliseconds between beats. Default: what the Supervisor asked for (its `heartbeatInterval`), else 1000. */
  heartbeatInterval?: number;
}

/**
 * Starts beating: every `heartbeatInterval` the event loop of this worker bumps its heartbeat word in shared
 * memory. A supervisor that sees the word stand still longer than its `heartbeatTimeout` treats the
 * worker as hung (an endless loop, a blocked event loop) and replaces it. The timer does not keep the
 * worker alive. Returns a function that stops it. A no-op outside a supervised worker. `connectToParent`
 * starts it by itself when the supervisor watches heartbeats; calling it again restarts the timer.
 */
export function startHeartbeat(options: HeartbeatOptions = {}): () => void {
  const slot = controlSlot();
  if (slot === undefined) return () => {};
  const interval = checkMs('heartbeatInterval', options.heartbeatInterval, slot.heartbeat > 0 ? slot.heartbeat : 1000);
  const index = wordOf(slot.index, Word.Beats);
  if (heartbeat !== undefined) clearInterval(heartbeat);
  Atomics.add(slot.view, index, 1);
  const timer = setInterval(() => Atomics.add(slot.view, index, 1), interval);
  timer.unref();
  heartbeat = timer;
  return () => {
    clearInterval(timer);
    if (heartbeat === timer) heartbeat = undefined;
  };
}

let heartbeat: NodeJS.Timeout | undefined;

/**
 * Tells the supervisor that this worker is ready (e.g. listening): a rolling restart waits for it
 * before the old worker drains. A no-op outside a supervised worker.
 */
export function notifyReady(): void {
  const slot = controlSlot();
  if (slot === undefined) return;
  const index = wordOf(slot.index, Word.Ready);
  Atomics.store(slot.view, index, 1);
  futex.notify(slot.view, index);
}

/** True in a thread or process started by @ipcx/cluster. */
export function hasParent(): boolean {
  return takeLink() !== undefined;
}
