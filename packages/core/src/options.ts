import type { Codec } from './codec.js';
import { InvalidOptionError, OptionTypeError } from './errors.js';

/**
 * Option checks for transport authors: every option is checked before the internals see it, and a bad one is an
 * `InvalidOptionError` (a `RangeError`) or an `OptionTypeError` (a `TypeError`) that names it; both carry the code
 * `IPCX_ERR_INVALID_OPTION`. Each check returns the value, or `default` when the value is undefined (and
 * undefined when there is no default).
 */

/** Bounds (inclusive) and the value to use when the option is not given. */
export interface NumberBounds {
  min?: number | undefined;
  max?: number | undefined;
}

/** Bounds and a default. */
export interface NumberOption extends NumberBounds {
  default?: number | undefined;
}

type WithDefault<O, V> = O & { default: V };

function range(min: number, max: number, integer: boolean): string {
  const what = integer ? 'an integer' : 'a number';
  if (max === Number.MAX_SAFE_INTEGER || max === Number.POSITIVE_INFINITY) return `${what} >= ${min}`;
  return `${what} from ${min} to ${max}`;
}

/**
 * A safe integer within `min`..`max` (defaults: 0 and `Number.MAX_SAFE_INTEGER`).
 * @example `capacity: checkInteger('capacity', options.capacity, { min: 1, max: 65536, default: 64 })`
 */
export function checkInteger(name: string, value: unknown, options: WithDefault<NumberOption, number>): number;
export function checkInteger(name: string, value: unknown, options?: NumberOption): number | undefined;
export function checkInteger(name: string, value: unknown, options: NumberOption = {}): number | undefined {
  if (value === undefined) return options.default;
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number') throw new OptionTypeError(name, value, range(min, max, true));
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new InvalidOptionError(name, value, range(min, max, true));
  return value;
}

/** A finite number within `min`..`max` (defaults: minus and plus `Number.MAX_VALUE`); NaN and Infinity are refused. */
export function checkNumber(name: string, value: unknown, options: WithDefault<NumberOption, number>): number;
export function checkNumber(name: string, value: unknown, options?: NumberOption): number | undefined;
export function checkNumber(name: string, value: unknown, options: NumberOption = {}): number | undefined {
  if (value === undefined) return options.default;
  const min = options.min ?? -Number.MAX_VALUE;
  const max = options.max ?? Number.MAX_VALUE;
  if (typeof value !== 'number') throw new OptionTypeError(name, value, range(min, max, false));
  if (!Number.isFinite(value) || value < min || value > max)
    throw new InvalidOptionError(name, value, range(min, max, false));
  return value;
}

/**
 * A finite number above 0 and at most `max` (an interval, a rate): 0 would busy-loop and NaN would mean never.
 * @example `peerCheckInterval: checkPositive('peerCheckInterval', options.peerCheckInterval, { max: MAX_TIMEOUT_MS, default: 500 })`
 */
export function checkPositive(
  name: string,
  value: unknown,
  options: WithDefault<{ max?: number | undefined }, number>,
): number;
export function checkPositive(
  name: string,
  value: unknown,
  options?: { max?: number | undefined; default?: number | undefined },
): number | undefined;
export function checkPositive(
  name: string,
  value: unknown,
  options: { max?: number | undefined; default?: number | undefined } = {},
): number | undefined {
  if (value === undefined) return options.default;
  const max = options.max ?? Number.MAX_VALUE;
  const expected = max === Number.MAX_VALUE ? 'a finite number above 0' : `a number above 0 and at most ${max}`;
  if (typeof value !== 'number') throw new OptionTypeError(name, value, expected);
  if (!(value > 0 && value <= max)) throw new InvalidOptionError(name, value, expected);
  return value;
}

/** `true` or `false`. */
export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean;
export function checkBoolean(name: string, value: unknown): boolean | undefined;
export function checkBoolean(name: string, value: unknown, fallback?: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new OptionTypeError(name, value, 'true or false');
  return value;
}

/** A function (a hook such as `authorize`). */
export function checkFunction<F extends (...args: never[]) => unknown>(
  name: string,
  value: F | undefined,
  fallback: F,
): F;
export function checkFunction<F extends (...args: never[]) => unknown>(
  name: string,
  value: F | undefined,
): F | undefined;
export function checkFunction<F extends (...args: never[]) => unknown>(
  name: string,
  value: F | undefined,
  fallback?: F,
): F | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new OptionTypeError(name, value, 'a function');
  return value;
}

/**
 * One of the `allowed` values (a string union such as `'both' | 'send' | 'receive'`).
 * @example `balance: checkEnum('balance', options.balance, ['round-robin', 'least-busy'] as const, 'round-robin')`
 */
export function checkEnum<const V extends string | number>(
  name: string,
  value: unknown,
  allowed: readonly V[],
  fallback: V,
): V;
export function checkEnum<const V extends string | number>(
  name: string,
  value: unknown,
  allowed: readonly V[],
): V | undefined;
export function checkEnum<const V extends string | number>(
  name: string,
  value: unknown,
  allowed: readonly V[],
  fallback?: V,
): V | undefined {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as V)) {
    const expected = `one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    throw typeof value === typeof allowed[0]
      ? new InvalidOptionError(name, value, expected)
      : new OptionTypeError(name, value, expected);
  }
  return value as V;
}

/** Permission bits of a new object (`mode`): an integer from 0 to 0o7777. */
export function checkMode(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new OptionTypeError(name, value, 'permission bits from 0 to 0o7777');
  if (!Number.isInteger(value) || value < 0 || value > 0o7777)
    throw new InvalidOptionError(name, value, 'permission bits from 0 to 0o7777');
  return value;
}

/**
 * A `Codec` (an object with `encode`, `encodeInto` and `decode`); `fallback` when undefined. A transport that
 * needs only `encode` and `decode` passes `needs: ['encode', 'decode']`.
 */
export function checkCodec<T>(
  value: Codec<T> | undefined,
  fallback: Codec<T>,
  needs: readonly ('encode' | 'encodeInto' | 'decode')[] = ['encode', 'encodeInto', 'decode'],
  name = 'codec',
): Codec<T> {
  if (value === undefined) return fallback;
  if (typeof value !== 'object' || value === null || needs.some((method) => typeof value[method] !== 'function')) {
    throw new OptionTypeError(name, value, `a Codec (${needs.join(', ')})`);
  }
  return value;
}
