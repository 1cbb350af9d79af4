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
export { connectToParent, hasParent, notifyReady, startHeartbeat, type ConnectToParentOptions, type HeartbeatOptions } from './connect.js';
