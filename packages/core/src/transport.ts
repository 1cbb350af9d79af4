/**
 * `@ipcx/core/transport`: the kit a transport is built on (see "For transport authors" in docs/API.md). What a
 * user of ipcx needs is in `@ipcx/core`; what a new package may build on is here.
 */
export { AbstractChannel } from './abstract-channel.js';
export { Inbox, WaitList } from './inbox.js';
export { DEFAULT_LINGER_TIMEOUT, SendQueue, lingerOption } from './send-queue.js';
export {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  MAX_FRAME_LENGTH,
  encodeFrame,
  writeFrameHeader,
  type FrameDecoderOptions,
} from './framing.js';
export {
  Deadline,
  MAX_TIMEOUT_MS,
  NO_MESSAGE,
  checkWaitOptions,
  deadline,
  linkSignals,
  type LinkedSignal,
  intervalOption,
  iterate,
  spinOption,
  waitFor,
  type Settle,
  type WaitForNext,
} from './wait.js';
export {
  registerKernelObject,
  type KernelObject,
  type KernelObjectKind,
  type KernelObjectRegistration,
} from './registry.js';
export { fromSystemError } from './errors.js';
export { BusySpin, DEFAULT_SPIN_MICROSECONDS, SpinPolicy, spinCounters, spinUntil } from './spin.js';
export { errnoError, type ErrnoContext, type ErrnoLimit, type LimitErrno } from './errno.js';
export {
  checkBoolean,
  checkCodec,
  checkEnum,
  checkFunction,
  checkInteger,
  checkMode,
  checkNumber,
  checkPositive,
  type NumberBounds,
  type NumberOption,
} from './options.js';
