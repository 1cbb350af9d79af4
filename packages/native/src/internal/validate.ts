/** Argument checks shared by the modules: they throw Node-style TypeError/RangeError with a code. */

export function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' });
}

export function valueError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' });
}

export function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' });
}

/** An integer in [min, max]. */
export function validateInt(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(`${what} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`${what} must be an integer between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** A file descriptor: a non-negative int32. */
export function validateFd(fd: unknown, what = 'fd'): number {
  return validateInt(fd, what, 0, 0x7fffffff);
}

export function validateBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw typeError(`${what} must be a boolean, got ${typeof value}`);
  return value;
}

export function validateFunction<T>(value: T, what: string): T {
  if (typeof value !== 'function') throw typeError(`${what} must be a function, got ${typeof value}`);
  return value;
}

export function validateBytes(value: unknown, what: string): ArrayBufferView {
  if (!ArrayBuffer.isView(value)) throw typeError(`${what} must be a TypedArray or DataView`);
  // A view of a transferred (detached) buffer reads as 0 bytes at address 0: an empty message sent, a
  // received one lost. Only an empty view can be one, so the check costs nothing on the hot path.
  if (value.byteLength === 0 && isDetached(value.buffer))
    throw valueError(`${what} is a view of a detached ArrayBuffer`);
  return value;
}

/**
 * Up to this length V8 may keep a typed array's bytes inside its heap, where Node-API cannot point C at
 * them without first moving them into a new ArrayBuffer outside the heap: ~500 ns for a fresh 64-byte
 * array on this machine, more than the syscall it feeds.
 */
const STAGE_BYTES = 64;
const stage = Buffer.allocUnsafeSlow(STAGE_BYTES);
const stageViews = Array.from({ length: STAGE_BYTES + 1 }, (_, n) => new Uint8Array(stage.buffer, stage.byteOffset, n));

/**
 * `validateBytes` for bytes that C only reads during the call (a send). A short Uint8Array is copied into
 * a staging buffer outside V8's heap (~20 ns) so that the addon never has to move it. The returned view is
 * valid until the next call.
 */
export function validateOutgoing(value: unknown, what: string): ArrayBufferView {
  if (value instanceof Uint8Array) {
    const n = value.byteLength;
    if (n > 0 && n <= STAGE_BYTES) {
      const view = stageViews[n]!;
      view.set(value);
      return view;
    }
  }
  return validateBytes(value, what);
}

function isDetached(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof ArrayBuffer)) return false;
  const detached = (buffer as { detached?: boolean }).detached; // Node 22+
  if (typeof detached === 'boolean') return detached;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

export function validateString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw typeError(`${what} must be a string, got ${typeof value}`);
  if (value.includes('\0')) throw valueError(`${what} must not contain NUL characters`);
  return value;
}

/** A permission mode such as 0o600. */
export function validateMode(value: unknown, what = 'mode'): number {
  return validateInt(value, what, 0, 0o7777);
}

/**
 * A timeout in milliseconds for the addon: undefined or Infinity → -1 (no deadline); otherwise a finite
 * number >= 0 (fractions allowed).
 */
export function toNativeTimeout(value: unknown, what = 'timeoutMs'): number {
  if (value === undefined || value === Infinity) return -1;
  if (typeof value !== 'number') throw typeError(`${what} must be a number, got ${typeof value}`);
  if (!(value >= 0) || !Number.isFinite(value)) throw rangeError(`${what} must be >= 0 or Infinity, got ${value}`);
  return value;
}

// glibc's sem_open prefixes "sem." to the name inside /dev/shm, and NAME_MAX is 255.
const MAX_IPC_NAME = 250;

/**
 * A POSIX IPC object name (shm, mq, semaphore). "name" and "/name" mean the same object; the result always
 * has the leading slash. No further slash, no NUL, 1 to 250 characters after the slash, not "." or "..".
 */
export function ipcName(name: unknown, what = 'name'): string {
  validateString(name, what);
  const s = name as string;
  const bare = s.startsWith('/') ? s.slice(1) : s;
  if (bare.length === 0 || bare.length > MAX_IPC_NAME || bare.includes('/') || bare === '.' || bare === '..') {
    throw valueError(
      `${what} must be 1 to ${MAX_IPC_NAME} characters, optionally after a leading '/', with no other '/': ${JSON.stringify(s)}`,
    );
  }
  return `/${bare}`;
}

/** Validates a signal's type (an aborted one is the caller's to handle). */
export function validateSignal(signal: unknown, what = 'signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw typeError(`${what} must be an AbortSignal`);
  return signal;
}
