/**
 * Errors thrown by this package. A failed syscall throws an {@link ErrnoError}: a plain `Error` with the
 * kernel's `errno`, its symbolic `code` ('EAGAIN', 'EEXIST', …) and the `syscall` that failed. Consumers
 * map these to their own typed errors; branch on `code`, never on the message.
 * Invalid arguments throw `TypeError` / `RangeError` with Node's codes (ERR_INVALID_ARG_TYPE,
 * ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE) before any syscall is made.
 */
import { constants as osConstants } from 'node:os';

export interface ErrnoError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
}

/** True when `error` carries an errno from this package (optionally: with this code). */
export function isErrnoError(error: unknown, code?: string): error is ErrnoError {
  if (!(error instanceof Error)) return false;
  const e = error as Partial<ErrnoError>;
  return (
    typeof e.errno === 'number' &&
    typeof e.code === 'string' &&
    typeof e.syscall === 'string' &&
    (code === undefined || e.code === code)
  );
}

/** An ErrnoError made in TypeScript, for outcomes the kernel reports differently (a cancelled timed wait). */
export function errnoError(code: keyof typeof osConstants.errno, syscall: string, message: string): ErrnoError {
  return Object.assign(new Error(`${code}: ${message}, ${syscall}`), { errno: osConstants.errno[code], code, syscall });
}
