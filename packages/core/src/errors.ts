/**
 * The one error model of ipcx. Every error a package throws on purpose is an `IpcError` subclass
 * with a literal, stable `code`: a code is never changed and never reused; only messages may change.
 * Branch on `code` (or `instanceof`), never on a message. An OS error is kept as `cause`.
 */

const BRAND = Symbol.for('ipcx.IpcError');

/** Every code an ipcx error can carry. */
export type IpcErrorCode =
  | 'IPCX_ERR_CLOSED'
  | 'IPCX_ERR_TIMEOUT'
  | 'IPCX_ERR_ABORTED'
  | 'IPCX_ERR_FULL'
  | 'IPCX_ERR_TOO_LARGE'
  | 'IPCX_ERR_BAD_FRAME'
  | 'IPCX_ERR_PEER_GONE'
  | 'IPCX_ERR_INVALID_NAME'
  | 'IPCX_ERR_PERMISSION'
  | 'IPCX_ERR_ALREADY_EXISTS'
  | 'IPCX_ERR_NOT_FOUND'
  | 'IPCX_ERR_UNSUPPORTED'
  | 'IPCX_ERR_LIMIT'
  | 'IPCX_ERR_REMOTE'
  | 'IPCX_ERR_INCOMPATIBLE'
  | 'IPCX_ERR_OWNER_DIED'
  | 'IPCX_ERR_DEADLOCK'
  | 'IPCX_ERR_REVISION'
  | 'IPCX_ERR_INVALID_OPTION'
  | 'IPCX_ERR_SYSTEM';

/** Base class of every ipcx error; `isIpcError()` recognises it across two installed copies of the package. */
export abstract class IpcError extends Error {
  abstract readonly code: IpcErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses use the ordinary prototype check; the base class also accepts a branded error
    // from another copy of @ipcx/core.
    if (this === IpcError) return isIpcError(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** True for any ipcx error, whichever copy of `@ipcx/core` created it. */
export function isIpcError(value: unknown): value is IpcError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** The channel (or server, queue, segment, lock) was closed, locally or by the peer in an orderly way. */
export class ClosedError extends IpcError {
  override readonly name = 'ClosedError';
  readonly code = 'IPCX_ERR_CLOSED' as const;
  constructor(what = 'channel', options?: ErrorOptions) {
    super(`${what} is closed`, options);
  }
}

/** A wait ran past its `timeout`. */
export class TimeoutError extends IpcError {
  override readonly name = 'TimeoutError';
  readonly code = 'IPCX_ERR_TIMEOUT' as const;
  constructor(
    what: string,
    readonly timeout?: number,
    options?: ErrorOptions,
  ) {
    super(timeout === undefined ? `${what} timed out` : `${what} timed out after ${timeout} ms`, options);
  }
}

/** A wait was ended by the caller's `AbortSignal`; the signal's reason is the `cause`. */
export class AbortedError extends IpcError {
  override readonly name = 'AbortedError';
  readonly code = 'IPCX_ERR_ABORTED' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} was aborted`, options);
  }
}

/** There is no room and the caller asked not to wait (or the mechanism cannot wait). */
export class FullError extends IpcError {
  override readonly name = 'FullError';
  readonly code = 'IPCX_ERR_FULL' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} is full`, options);
  }
}

/** A message is larger than the bound of the channel, queue or frame. */
export class TooLargeError extends IpcError {
  override readonly name: string = 'TooLargeError';
  readonly code = 'IPCX_ERR_TOO_LARGE' as const;
  constructor(
    what: string,
    readonly size?: number,
    readonly limit?: number,
    options?: ErrorOptions,
  ) {
    super(
      size === undefined || limit === undefined
        ? `${what} is too large`
        : `${what} of ${size} bytes is larger than the limit of ${limit} bytes`,
      options,
    );
  }
}

/** A frame header announced more bytes than `maxFrameBytes`; a `TooLargeError` raised by the frame decoder. */
export class FrameTooLargeError extends TooLargeError {
  override readonly name = 'FrameTooLargeError';
  constructor(size: number, limit: number, options?: ErrorOptions) {
    super('frame', size, limit, options);
  }
}

/** Bytes on the wire that do not form a valid frame or message. */
export class BadFrameError extends IpcError {
  override readonly name = 'BadFrameError';
  readonly code = 'IPCX_ERR_BAD_FRAME' as const;
  constructor(reason: string, options?: ErrorOptions) {
    super(`bad frame: ${reason}`, options);
  }
}

/** The other end went away without closing (process died, connection reset, pipe broken). */
export class PeerGoneError extends IpcError {
  override readonly name = 'PeerGoneError';
  readonly code = 'IPCX_ERR_PEER_GONE' as const;
  constructor(what = 'peer', options?: ErrorOptions) {
    super(`${what} is gone`, options);
  }
}

/** A name (queue, segment, socket path) that the mechanism does not accept. */
export class InvalidNameError extends IpcError {
  override readonly name = 'InvalidNameError';
  readonly code = 'IPCX_ERR_INVALID_NAME' as const;
  constructor(
    readonly invalidName: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`invalid name ${JSON.stringify(invalidName)}: ${reason}`, options);
  }
}

/** The OS refused access (EACCES, EPERM) or an `authorize` hook refused a peer. */
export class PermissionError extends IpcError {
  override readonly name = 'PermissionError';
  readonly code = 'IPCX_ERR_PERMISSION' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`permission denied: ${what}`, options);
  }
}

/** An object that was to be created exclusively exists already (and, where it can be told, is alive). */
export class AlreadyExistsError extends IpcError {
  override readonly name = 'AlreadyExistsError';
  readonly code = 'IPCX_ERR_ALREADY_EXISTS' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} already exists`, options);
  }
}

/** An object that was to be opened does not exist. */
export class NotFoundError extends IpcError {
  override readonly name: string = 'NotFoundError';
  readonly code = 'IPCX_ERR_NOT_FOUND' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} does not exist`, options);
  }
}

/**
 * A revision that is no longer kept (or not yet written) was asked for: `oldest` and `latest` say which
 * revisions are there now (none when `latest` is 0). A `NotFoundError`, with the same code.
 */
export class RevisionNotFoundError extends NotFoundError {
  override readonly name = 'RevisionNotFoundError';
  constructor(
    what: string,
    readonly revision: number,
    readonly oldest: number,
    readonly latest: number,
    options?: ErrorOptions,
  ) {
    super(what, options);
    this.message = `${what}: revision ${revision} is not kept; ${latest === 0 ? 'no revision is written yet' : `revisions ${oldest} to ${latest} are`}`;
  }
}

/** A compare-and-set found another revision than the caller expected (someone wrote in between). */
export class RevisionMismatchError extends IpcError {
  override readonly name = 'RevisionMismatchError';
  readonly code = 'IPCX_ERR_REVISION' as const;
  constructor(
    what: string,
    readonly expected: number,
    readonly actual: number,
    options?: ErrorOptions,
  ) {
    super(`${what}: expected revision ${expected}, found ${actual}`, options);
  }
}

/** The platform, kernel or peer does not offer what was asked for. */
export class UnsupportedError extends IpcError {
  override readonly name = 'UnsupportedError';
  readonly code = 'IPCX_ERR_UNSUPPORTED' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} is not supported`, options);
  }
}

/** A kernel or configured limit was hit; the message names the limit, its value and how to raise it. */
export class LimitError extends IpcError {
  override readonly name = 'LimitError';
  readonly code = 'IPCX_ERR_LIMIT' as const;
  constructor(
    readonly limit: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A request handler on the other side threw; `remoteCode` and `remoteName` say what it threw. */
export class RemoteError extends IpcError {
  override readonly name = 'RemoteError';
  readonly code = 'IPCX_ERR_REMOTE' as const;
  constructor(
    message: string,
    readonly remoteName: string,
    readonly remoteCode?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A shared object has the wrong magic number or layout version for this library. */
export class IncompatibleError extends IpcError {
  override readonly name = 'IncompatibleError';
  readonly code = 'IPCX_ERR_INCOMPATIBLE' as const;
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`${what} is incompatible: ${reason}`, options);
  }
}

/** A lock's owner died while holding it; the lock is now held by the caller, who should repair the state. */
export class OwnerDiedError extends IpcError {
  override readonly name = 'OwnerDiedError';
  readonly code = 'IPCX_ERR_OWNER_DIED' as const;
  constructor(
    what: string,
    readonly ownerPid: number,
    options?: ErrorOptions,
  ) {
    super(`${what}: owner process ${ownerPid} died while holding it`, options);
  }
}

/** The kernel refused a wait that would deadlock (EDEADLK): the caller holds what the holder waits for. */
export class DeadlockError extends IpcError {
  override readonly name = 'DeadlockError';
  readonly code = 'IPCX_ERR_DEADLOCK' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} would deadlock`, options);
  }
}

/**
 * An option (or argument) out of its range: a `RangeError` that is also an ipcx error (`isIpcError`, `instanceof
 * IpcError`, code `IPCX_ERR_INVALID_OPTION`). `option` names it, `value` is what was given.
 */
export class InvalidOptionError extends RangeError {
  override readonly name = 'InvalidOptionError';
  readonly code = 'IPCX_ERR_INVALID_OPTION' as const;
  constructor(
    readonly option: string,
    readonly value: unknown,
    expected: string,
    options?: ErrorOptions,
  ) {
    super(`${option} must be ${expected}, got ${describeValue(value)}`, options);
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * An option (or argument) of the wrong type: a `TypeError` that is also an ipcx error (`isIpcError`, `instanceof
 * IpcError`, code `IPCX_ERR_INVALID_OPTION`). `option` names it, `value` is what was given.
 */
export class OptionTypeError extends TypeError {
  override readonly name = 'OptionTypeError';
  readonly code = 'IPCX_ERR_INVALID_OPTION' as const;
  constructor(
    readonly option: string,
    readonly value: unknown,
    expected: string,
    options?: ErrorOptions,
  ) {
    super(`${option} must be ${expected}, got ${describeValue(value)}`, options);
    Object.defineProperty(this, BRAND, { value: true });
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** An OS error without a more specific class; the errno error is the `cause`. */
export class SystemError extends IpcError {
  override readonly name = 'SystemError';
  readonly code = 'IPCX_ERR_SYSTEM' as const;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} failed${describeCause(options?.cause)}`, options);
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const errno = (cause as NodeJS.ErrnoException).code;
    return errno ? `: ${errno}` : `: ${cause.message}`;
  }
  return '';
}

/**
 * Maps an OS error (an `errno` error from Node or `@ipcx/native`) to the matching typed error,
 * keeping it as `cause`. `what` names the object and the operation, e.g. `queue "/jobs" open`.
 */
export function fromSystemError(what: string, error: unknown): IpcError {
  if (isIpcError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const options = { cause: error };
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new PermissionError(what, options);
    case 'EEXIST':
    case 'EADDRINUSE':
      return new AlreadyExistsError(what, options);
    case 'ENOENT':
      return new NotFoundError(what, options);
    case 'ENAMETOOLONG':
      return new InvalidNameError(what, 'name too long', options);
    case 'EPIPE':
    case 'ECONNRESET':
    case 'ECONNREFUSED':
    case 'ENOTCONN':
      return new PeerGoneError(what, options);
    case 'ETIMEDOUT':
      return new TimeoutError(what, undefined, options);
    case 'EMSGSIZE':
      return new TooLargeError(what, undefined, undefined, options);
    case 'EDEADLK':
      return new DeadlockError(what, options);
    case 'ENOSYS':
    case 'EOPNOTSUPP':
    case 'EAFNOSUPPORT':
      return new UnsupportedError(what, options);
    default:
      return new SystemError(what, options);
  }
}
