/**
 * eventfd(2): a 64-bit counter behind a descriptor. write adds, read returns the counter and resets it
 * (or, with `semaphore`, returns 1 and decrements). Poll it with {@link FdWatcher}: readable = counter > 0.
 */
import { constants, native } from './binding.js';
import { validateBoolean, validateFd, validateInt } from './internal/validate.js';

export interface EventfdOptions {
  /** EFD_SEMAPHORE (default false). */
  semaphore?: boolean;
  /** EFD_NONBLOCK (default true): read on 0 throws EAGAIN instead of blocking. */
  nonBlocking?: boolean;
}

const MAX = 0xfffffffffffffffen;

export const eventfd = {
  /**
   * @example
   * const fd = eventfd.create();
   * eventfd.write(fd, 1);
   * eventfd.read(fd); // 1n
   */
  create(initial = 0, options: EventfdOptions = {}): number {
    validateInt(initial, 'initial', 0, 0xffffffff);
    const semaphore = validateBoolean(options.semaphore ?? false, 'options.semaphore');
    const nonBlocking = validateBoolean(options.nonBlocking ?? true, 'options.nonBlocking');
    return native.eventfdCreate(
      initial,
      (semaphore ? constants.EFD_SEMAPHORE : 0) | (nonBlocking ? constants.EFD_NONBLOCK : 0),
    );
  },

  /** The counter (and resets it), or 1n in semaphore mode. EAGAIN when 0 and non-blocking. */
  read(fd: number): bigint {
    return native.eventfdRead(validateFd(fd));
  },

  /** Adds n (1 .. 2^64 - 2). EAGAIN if the counter would overflow and non-blocking. */
  write(fd: number, n: bigint | number): void {
    validateFd(fd);
    const v = typeof n === 'bigint' ? n : BigInt(validateInt(n, 'n', 0, Number.MAX_SAFE_INTEGER));
    if (v < 0n || v > MAX)
      throw Object.assign(new RangeError(`n must be between 0 and 2^64 - 2, got ${v}`), { code: 'ERR_OUT_OF_RANGE' });
    native.eventfdWrite(fd, v);
  },

  /** A second close does not throw (but close once: descriptor numbers are reused). */
  close(fd: number): void {
    native.closeFd(validateFd(fd));
  },
};
