import { jsonCodec, msgpackCodec, rawCodec, stringCodec, type Codec } from '@ipcx/core';
import { checkEnum, checkInteger } from '@ipcx/core/transport';

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
  return checkInteger(name, value, { min, max: 0x7fff_ffff, default: fallback });
}

/** A whole number in [min, max], or the default. */
export function checkCount(name: string, value: unknown, fallback: number, min = 1, max = 0x7fff_ffff): number {
  return checkInteger(name, value, { min, max, default: fallback });
}

/** 'shm' (default) or 'unix'. */
export function checkTransport(value: unknown): 'shm' | 'unix' {
  return checkEnum('transport', value, ['shm', 'unix'] as const, 'shm');
}
