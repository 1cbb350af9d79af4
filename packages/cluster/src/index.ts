export { PeerChannel } from './peer-channel.js';
export {
  WorkerHandle,
  forkChild,
  forkClusterWorker,
  spawnWorker,
  type ChannelSpawnOptions,
  type ChildHandle,
  type ClusterHandle,
  type ClusterWorkerOptions,
  type ExitInfo,
  type ForkChildOptions,
  type SpawnWorkerOptions,
  type ThreadHandle,
  type WorkerKind,
} from './spawn.js';
export {
  connectToParent,
  hasParent,
  notifyReady,
  startHeartbeat,
  type ConnectToParentOptions,
  type HeartbeatOptions,
} from './connect.js';
export { Pool, type Balance, type PoolOptions, type RunOptions } from './pool.js';
export { servePool, type ServePoolOptions, type TaskHandler } from './pool-worker.js';
export type { ShutdownHost } from './shutdown.js';
export {
  Supervisor,
  type MemberState,
  type MemberStatus,
  type SupervisorExitEvent,
  type SupervisorOptions,
  type SupervisorStatus,
} from './supervisor.js';
export { SharedCounters, type SharedCountersOptions } from './shared-counters.js';
