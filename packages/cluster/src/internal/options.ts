import { jsonCodec, msgpackCodec, rawCodec, stringCodec, type Codec } from '@ipcx/core';

const builtInCodecs = new Map<string, Codec<any>>([
  [msgpackCodec.name, msgpackCodec],
  [rawCodec.name, rawCodec],
  [jsonCodec.name, jsonCodec],
  [stringCodec.name, stringCodec],
]);

/** The codec named by a link: the one passed (custom codecs cannot travel), else the built-in one. */
export function linkCodec<T>(name: string, given: Codec<T> | undefined): Codec<T> {
  const codec = given ?? (builtInCodecs.get(name) as Codec<T> | undefined);
  if (codec === undefined) throw new TypeError(`the parent uses codec "${name}": pass it as options.codec`);
  return codec;
}

/** A whole number of milliseconds in [min, 2^31 - 1], or the default. */
export function checkMs(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 0x7fff_ffff) {
    throw new RangeError(`${name} must be a whole number of milliseconds >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** A whole number in [min, max], or the default. */
export function checkCount(name: string, value: unknown, fallback: number, min = 1, max = 0x7fff_ffff): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/** 'shm' (default) or 'unix'. */
export function checkTransport(value: unknown): 'shm' | 'unix' {
  if (value === undefined) return 'shm';
  if (value !== 'shm' && value !== 'unix') throw new TypeError(`transport must be 'shm' or 'unix', got ${String(value)}`);
  return value;
}
