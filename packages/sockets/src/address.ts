import { InvalidNameError } from '@ipcx/core';

/**
 * Where a Unix socket lives: a filesystem path, or a Linux abstract name (`{ abstract: 'name' }`), which
 * needs no file, cannot go stale and disappears with the last socket bound to it.
 */
export type UnixAddress = string | { abstract: string };

/** The longest path (or abstract name plus its leading NUL) that fits `sockaddr_un.sun_path` with its NUL. */
export const MAX_UNIX_PATH_BYTES = 107;

/** A validated Unix address. `target` is what Node's `net` takes: the path, or "\0name" for an abstract name. */
export interface ResolvedAddress {
  readonly kind: 'path' | 'abstract';
  /** The path or the abstract name (without the NUL). */
  readonly name: string;
  /** The string for `net.connect` / `server.listen`. */
  readonly target: string;
  /** For messages: the path, or `@name` for an abstract name (the notation of `ss` and `/proc/net/unix`). */
  readonly display: string;
}

/**
 * Checks a Unix address and resolves it; an empty, too long or NUL-containing name is `InvalidNameError`
 * (Node's `net` would silently truncate a long path).
 */
export function resolveUnixAddress(address: UnixAddress): ResolvedAddress {
  if (typeof address === 'string') {
    check(address, address, MAX_UNIX_PATH_BYTES);
    return { kind: 'path', name: address, target: address, display: address };
  }
  if (typeof address !== 'object' || address === null || typeof address.abstract !== 'string') {
    throw new TypeError('a Unix address is a path string or { abstract: string }');
  }
  const name = address.abstract;
  check(name, `@${name}`, MAX_UNIX_PATH_BYTES - 1);
  return { kind: 'abstract', name, target: `\0${name}`, display: `@${name}` };
}

function check(name: string, shown: string, max: number): void {
  if (name.length === 0) throw new InvalidNameError(shown, 'a socket address must not be empty');
  if (name.includes('\0')) throw new InvalidNameError(shown, 'a socket address must not contain NUL bytes');
  const bytes = Buffer.byteLength(name);
  if (bytes > max)
    throw new InvalidNameError(shown, `${bytes} bytes is longer than the ${max} bytes a Unix socket address holds`);
}
