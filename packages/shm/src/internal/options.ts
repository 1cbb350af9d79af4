import { jsonCodec, msgpackCodec, rawCodec, stringCodec, type Codec } from '@ipcx/core';

const builtInCodecs = new Map<string, Codec<any>>([
  [msgpackCodec.name, msgpackCodec],
  [rawCodec.name, rawCodec],
  [jsonCodec.name, jsonCodec],
  [stringCodec.name, stringCodec],
]);

/**
 * The codec of an end rebuilt from a handle: the one passed (custom codecs do not cross postMessage),
 * else the built-in one the handle names. A codec it cannot find is a TypeError, never a guess.
 */
export function handleCodec<T>(name: string, given: Codec<T> | undefined, what: string): Codec<T> {
  const codec = given ?? (builtInCodecs.get(name) as Codec<T> | undefined);
  if (codec === undefined) throw new TypeError(`the ${what} uses codec "${name}": pass it as options.codec`);
  return codec;
}
