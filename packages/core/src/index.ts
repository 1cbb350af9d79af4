export { AbstractChannel } from './abstract-channel.js';
export type { Channel, ChannelServer, ReceiveOptions, SendOptions, WaitOptions } from './channel.js';
export { copyBytes, createMsgpackCodec, jsonCodec, msgpackCodec, rawCodec, stringCodec, type Codec, type MsgpackCodecOptions } from './codec.js';
export {
  AbortedError,
  AlreadyExistsError,
  BadFrameError,
  ClosedError,
  FrameTooLargeError,
  FullError,
  IncompatibleError,
  InvalidNameError,
  IpcError,
  LimitError,
  NotFoundError,
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
  fromSystemError,
  isIpcError,
  type IpcErrorCode,
} from './errors.js';
export { MAX_IPC_NAME_BYTES, checkIpcName } from './names.js';
export {
  DEFAULT_FRAME_BUDGET_BYTES,
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  FrameBudget,
  FrameDecoder,
  MAX_FRAME_LENGTH,
  encodeFrame,
  writeFrameHeader,
  type FrameDecoderOptions,
} from './framing.js';
export { Inbox, WaitList } from './inbox.js';
export { memoryChannelPair, type MemoryChannelOptions } from './memory.js';
export {
  request,
  serve,
  type RequestContext,
  type RequestHandler,
  type ServeOptions,
} from './request.js';
export { Deadline, MAX_TIMEOUT_MS, checkWaitOptions, deadline, intervalOption, iterate, spinOption, waitFor, type Settle } from './wait.js';
export {
  ownedKernelObjects,
  registerKernelObject,
  unlinkOwnedKernelObjects,
  unlinkOwnedKernelObjectsSync,
  type KernelObject,
  type KernelObjectKind,
  type KernelObjectRegistration,
  type UnlinkResult,
} from './registry.js';
