import { msgpackCodec, type Codec } from '@ipcx/core';

/** Checks an integer option: `fallback` when undefined, else an integer in [min, max]. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Checks a codec option (`msgpackCodec` when undefined). */
export function codecOption<T>(codec: Codec<T> | undefined): Codec<T> {
  if (codec === undefined) return msgpackCodec as Codec<T>;
  if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') throw new TypeError('codec must have encode and decode');
  return codec;
}

/** Checks permission bits. */
export function modeOption(mode: unknown): number {
  return integerOption('mode', mode, 0o600, 0, 0o777);
}

/** Checks an optional boolean. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${String(value)}`);
  return value;
}

/** Checks that a value is one of a few strings. */
export function choiceOption<C extends string>(name: string, value: unknown, choices: readonly C[], fallback: C): C {
  if (value === undefined) return fallback;
  if (!choices.includes(value as C)) throw new TypeError(`${name} must be ${choices.map((c) => `'${c}'`).join(' or ')}, got ${String(value)}`);
  return value as C;
}
