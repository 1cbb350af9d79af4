export { ChildExits, childExits, watchChild, type ChildExit, type ChildExitsOptions } from './children.js';
export { Doorbell, type DoorbellOptions, type DoorbellRing, type RingOptions } from './doorbell.js';
export {
  ignoreSignal,
  onSignal,
  raise,
  sendSignal,
  signalDisposition,
  waitForSignal,
  type Disposer,
  type OnSignalOptions,
  type SendSignalOptions,
  type SignalDisposition,
  type SignalEvent,
  type SignalHandler,
  type WaitForSignalOptions,
} from './handlers.js';
export { resolveSignal, type ResolvedSignal, type SignalName } from './names.js';
export {
  notify,
  notifySocket,
  sdNotify,
  startWatchdog,
  watchdogInterval,
  type NotifyOptions,
  type NotifyState,
  type Watchdog,
  type WatchdogOptions,
} from './notify.js';
export {
  EXIT_TIMEOUT,
  ShutdownCoordinator,
  type ShutdownOptions,
  type ShutdownReport,
  type ShutdownResource,
} from './shutdown.js';
