export type { Channel, ChannelServer, ReceiveOptions, SendOptions, WaitOptions } from './channel.js';
export {
  copyBytes,
  createMsgpackCodec,
  jsonCodec,
  msgpackCodec,
  rawCodec,
  stringCodec,
  type Codec,
  type MsgpackCodecOptions,
} from './codec.js';
export {
  AbortedError,
  AlreadyExistsError,
  BadFrameError,
  ClosedError,
  DeadlockError,
  FrameTooLargeError,
  FullError,
  IncompatibleError,
  InvalidNameError,
  InvalidOptionError,
  IpcError,
  LimitError,
  NotFoundError,
  OptionTypeError,
  OwnerDiedError,
  PeerGoneError,
  PermissionError,
  RemoteError,
  RevisionMismatchError,
  RevisionNotFoundError,
  SystemError,
  TimeoutError,
  TooLargeError,
  UnsupportedError,
  isIpcError,
  type IpcErrorCode,
} from './errors.js';
export { MAX_IPC_NAME_BYTES, checkIpcName } from './names.js';
export { DEFAULT_FRAME_BUDGET_BYTES, DEFAULT_MAX_FRAME_BYTES, FrameBudget } from './framing.js';
export { MemoryChannel, type MemoryChannelOptions } from './memory.js';
export {
  request,
  serve,
  type RequestContext,
  type RequestHandler,
  type ServeOptions,
} from './request.js';
export {
  ownedKernelObjects,
  unlinkOwnedKernelObjects,
  unlinkOwnedKernelObjectsSync,
  type UnlinkResult,
} from './registry.js';
