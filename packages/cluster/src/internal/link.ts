import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import type { ShmChannelHandle } from '@ipcx/shm';

/**
 * How a spawned worker finds its parent. A thread gets it as worker environment data (set just for the
 * `new Worker` call, so the user's `workerData` stays theirs and a worker's own workers do not inherit
 * it); a process or a node:cluster worker gets it as JSON in one environment variable. Either way the
 * child consumes it once: `connectToParent` removes it, so that its own children start clean.
 */
export const LINK_KEY = 'IPCX_CLUSTER_LINK';

/** Which end of which transport the child opens. */
export interface Link {
  readonly version: 1;
  /** thread: an end of a ShmChannel pair; shm: a named segment; unix: an abstract socket name. */
  readonly transport: 'thread' | 'shm' | 'unix';
  readonly kind: 'thread' | 'process' | 'cluster';
  readonly parentPid: number;
  /** The worker's end of a thread pair. */
  readonly handle?: ShmChannelHandle;
  /** The segment (shm) or abstract socket name (unix). */
  readonly name?: string;
  /** Name of a built-in codec both ends use. */
  readonly codec: string;
  readonly peerCheckInterval?: number;
  /** The worker's control slot (heartbeat, ready, task counters), when a Supervisor or Pool spawned it. */
  readonly slot?: LinkSlot;
}

/** Where a worker's control slot lives: a SharedArrayBuffer (threads) or a named segment (processes). */
export interface LinkSlot {
  readonly buffer?: SharedArrayBuffer;
  readonly name?: string;
  readonly index: number;
  /** Heartbeat interval (ms) the supervisor expects; 0 when it watches no heartbeat. */
  readonly heartbeat: number;
}

/** Runs `create` (which constructs the Worker) with the link visible to that one new thread. */
export function withThreadLink<R>(link: Link, create: () => R): R {
  setEnvironmentData(LINK_KEY, link as never);
  try {
    return create();
  } finally {
    setEnvironmentData(LINK_KEY, undefined as never);
  }
}

/** The environment of a child process that carries the link. */
export function processLinkEnv(link: Link, env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { ...(env ?? process.env), [LINK_KEY]: JSON.stringify(link) };
}

let taken: Link | undefined;

/** The link this thread or process was started with, once; undefined if none. Later calls return the same. */
export function takeLink(): Link | undefined {
  if (taken !== undefined) return taken;
  const fromThread = getEnvironmentData(LINK_KEY) as Link | undefined;
  if (fromThread !== undefined) {
    setEnvironmentData(LINK_KEY, undefined as never);
    taken = fromThread;
    return taken;
  }
  const fromEnv = process.env[LINK_KEY];
  if (fromEnv !== undefined) {
    delete process.env[LINK_KEY];
    try {
      const parsed = JSON.parse(fromEnv) as Link;
      if (parsed?.version === 1) taken = parsed;
    } catch {
      // Not ours: ignore.
    }
  }
  return taken;
}
