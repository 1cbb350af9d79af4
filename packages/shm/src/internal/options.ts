import { IncompatibleError, jsonCodec, msgpackCodec, rawCodec, stringCodec, type Codec } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';

const builtInCodecs = new Map<string, Codec<any>>([
  [msgpackCodec.name, msgpackCodec],
  [rawCodec.name, rawCodec],
  [jsonCodec.name, jsonCodec],
  [stringCodec.name, stringCodec],
]);

/**
 * The codec of an end rebuilt from a handle (or of a reader of a recorded codec): the one passed (custom
 * codecs do not cross postMessage), else the built-in one the handle names. A codec passed under another
 * name than the other side's is `IncompatibleError`; one it cannot find is a TypeError, never a guess.
 */
export function handleCodec<T>(name: string, given: Codec<T> | undefined, what: string): Codec<T> {
  if (given !== undefined && typeof given?.name === 'string' && given.name !== name) {
    throw new IncompatibleError(`the ${what}`, `it uses codec "${name}", not "${given.name}"`);
  }
  const codec = given ?? (builtInCodecs.get(name) as Codec<T> | undefined);
  if (codec === undefined) throw new TypeError(`the ${what} uses codec "${name}": pass it as options.codec`);
  return codec;
}

/**
 * The `mode` option of a shared-memory segment or a System V object: permission bits 0 to 0o777 (neither has
 * setuid, setgid or sticky bits, and in a System V call the bits above would be IPC_CREAT / IPC_EXCL).
 */
export function checkMode(mode: unknown, fallback = 0o600): number {
  return checkInteger('mode', mode, { max: 0o777, default: fallback });
}
