import { InvalidNameError } from './errors.js';

/**
 * Longest name of a POSIX IPC object after its '/', in bytes: NAME_MAX (255) less the "sem." that glibc
 * puts before a named semaphore's name in /dev/shm (the addon holds every kind to the same rule).
 */
export const MAX_IPC_NAME_BYTES = 250;

/**
 * Checks the name of a POSIX IPC object (a shared-memory segment, a message queue, a semaphore) and
 * returns it with its leading '/': the '/' is required (`slash: 'required'`, as mq_open(3) wants) or
 * added when missing (`'added'`); then 1 to 250 bytes with no '/' or NUL, and not '.' or '..'.
 * @throws InvalidNameError saying which rule the name breaks.
 */
export function checkIpcName(name: unknown, what: string, slash: 'required' | 'added'): string {
  if (typeof name !== 'string') throw new InvalidNameError(String(name), `a ${what} name is a string`);
  if (slash === 'required' && !name.startsWith('/')) throw new InvalidNameError(name, `a ${what} name starts with '/'`);
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (bare.length === 0) throw new InvalidNameError(name, `a ${what} name has at least one character after '/'`);
  if (bare.includes('/')) throw new InvalidNameError(name, `a ${what} name has no '/' after the first character`);
  if (bare.includes('\0')) throw new InvalidNameError(name, `a ${what} name contains no NUL byte`);
  if (bare === '.' || bare === '..') throw new InvalidNameError(name, `a ${what} name is not '.' or '..'`);
  if (Buffer.byteLength(bare) > MAX_IPC_NAME_BYTES)
    throw new InvalidNameError(name, `a ${what} name is at most ${MAX_IPC_NAME_BYTES} bytes after its '/'`);
  return `/${bare}`;
}
