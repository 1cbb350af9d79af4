export {
  ShmChannel,
  type NamedShmChannelOptions,
  type ShmChannelHandle,
  type ShmChannelInOptions,
  type ShmChannelOptions,
} from './shm-channel.js';
export {
  SharedState,
  type NamedSharedStateOptions,
  type SharedStateHandle,
  type SharedStateOptions,
  type SharedStateReaderOptions,
  type Snapshot,
} from './shared-state.js';
export { checkShmName } from './segment.js';
export {
  FanIn,
  FanInSender,
  type FanInHandle,
  type FanInOptions,
  type FanInSenderOptions,
  type NamedFanInOptions,
} from './fan-in.js';
export { SharedMap, type SharedMapHandle } from './shared-map.js';
export { Mutex, type MutexGuard, type NamedMutexOptions } from './mutex.js';
export { Semaphore, type NamedSemaphoreOptions } from './semaphore.js';
export { CondVar } from './condvar.js';
export { Barrier } from './barrier.js';
export { RwLock } from './rwlock.js';
export { Latch } from './latch.js';
export { FileLock, type FileLockOptions, type FileLockWaitOptions } from './file-lock.js';
export type { Guard, NamedSyncOptions, SyncHandle, SyncKindName } from './sync.js';
export { describeSegment, type SegmentDescription } from './describe.js';
export type { SysvShmStat } from '@ipcx/native';
export {
  SysvSegment,
  ftok,
  type SysvSegmentCreateOptions,
  type SysvSegmentOpenOptions,
  type SysvSetOptions,
} from './sysv-segment.js';
export {
  SEMVMX,
  SysvLock,
  SysvSemaphoreSet,
  type SysvLockCreateOptions,
  type SysvSemOperation,
  type SysvSemStat,
  type SysvSemaphoreSetCreateOptions,
  type SysvSemaphoreSetOpenOptions,
} from './sysv-semaphore.js';
export {
  RecordLock,
  type RecordLockHolder,
  type RecordLockOptions,
  type RecordLockRange,
  type RecordLockWaitOptions,
} from './record-lock.js';
export type { SysvKeyOptions } from './internal/sysv.js';
