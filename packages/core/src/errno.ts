import {
  FullError,
  LimitError,
  NotFoundError,
  PeerGoneError,
  TooLargeError,
  fromSystemError,
  isIpcError,
  type IpcError,
} from './errors.js';

/** A kernel limit an errno stands for: its name (`RLIMIT_MSGQUEUE`, `/dev/shm size`) and how to raise it. */
export interface ErrnoLimit {
  readonly limit: string;
  /** What to do about it, appended to the message: "unlink unused queues or raise it with sysctl ...". */
  readonly hint?: string | undefined;
}

/** The errno codes that mean a kernel or process limit was hit. */
export type LimitErrno = 'ENOSPC' | 'EMFILE' | 'ENFILE' | 'ENOMEM' | 'ENOBUFS';

/** What `errnoError` needs to know about the call that failed. */
export interface ErrnoContext {
  /**
   * `'open'` (default): the call looked for an object or a listener, so ENOENT / ECONNREFUSED mean there is none
   * (`NotFoundError`). `'connected'`: the call used an object reached before, so they mean the peer went away
   * (`PeerGoneError`).
   */
  readonly stage?: 'open' | 'connected' | undefined;
  /** Size of the message that was being sent, for `TooLargeError` (EMSGSIZE; ENOBUFS on a datagram send). */
  readonly size?: number | undefined;
  /** The configured size limit, for `TooLargeError`. */
  readonly maxBytes?: number | undefined;
  /** The limit each errno stands for in this call, when it is more precise than the generic one. */
  readonly limits?: Partial<Record<LimitErrno, ErrnoLimit>> | undefined;
}

const GENERIC_LIMITS: Record<LimitErrno, ErrnoLimit> = {
  ENOSPC: { limit: 'space', hint: 'the kernel has no room left for another object of this kind' },
  EMFILE: {
    limit: 'RLIMIT_NOFILE',
    hint: 'this process has too many open descriptors; close some or raise it (ulimit -n)',
  },
  ENFILE: { limit: 'open files', hint: 'the system-wide limit of open files is reached (fs.file-max)' },
  ENOMEM: { limit: 'memory', hint: 'the kernel could not allocate memory' },
  ENOBUFS: { limit: 'buffer space', hint: 'the kernel has no buffer space left' },
};

/**
 * Maps an OS error (an `errno` error from Node or `@ipcx/native`) to the typed error a transport throws, keeping
 * it as `cause`; `what` names the object and the operation (`message queue "/jobs" send`).
 *
 * - EAGAIN / EWOULDBLOCK → `FullError`; EMSGSIZE (and ENOBUFS when `context.size` is given) → `TooLargeError`
 * - ENOSPC, EMFILE, ENFILE, ENOMEM, ENOBUFS → `LimitError` naming the limit (`context.limits` overrides the generic one)
 * - ENOENT, ECONNREFUSED → `NotFoundError`, or `PeerGoneError` with `stage: 'connected'`; EPIPE, ECONNRESET → `PeerGoneError`
 * - EACCES, EPERM → `PermissionError`; EEXIST, EADDRINUSE → `AlreadyExistsError`
 * - anything else as `fromSystemError` maps it (`SystemError` when nothing more precise fits). An `IpcError` is returned as is.
 */
export function errnoError(error: unknown, what: string, context: ErrnoContext = {}): IpcError {
  if (isIpcError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const options = { cause: error };
  switch (code) {
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return new FullError(what, options);
    case 'EMSGSIZE':
      return new TooLargeError(what, context.size, context.maxBytes, options);
    case 'ENOBUFS':
      if (context.size !== undefined) return new TooLargeError(what, context.size, context.maxBytes, options);
      return limitError(code, what, context, error);
    case 'ENOSPC':
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
      return limitError(code, what, context, error);
    case 'ENOENT':
    case 'ECONNREFUSED':
      return context.stage === 'connected' ? new PeerGoneError(what, options) : new NotFoundError(what, options);
    default:
      // EPIPE/ECONNRESET (PeerGoneError), EACCES/EPERM, EEXIST/EADDRINUSE and the rest: as fromSystemError.
      return fromSystemError(what, error);
  }
}

function limitError(code: LimitErrno, what: string, context: ErrnoContext, error: unknown): LimitError {
  const { limit, hint } = context.limits?.[code] ?? GENERIC_LIMITS[code];
  return new LimitError(limit, `${what}: the limit ${limit} is reached (${code})${hint ? `; ${hint}` : ''}`, {
    cause: error,
  });
}
