import { describe, expect, it } from 'vitest';
import { InvalidOptionError, IpcError, OptionTypeError, isIpcError, jsonCodec, msgpackCodec } from '@ipcx/core';
import {
  checkBoolean,
  checkCodec,
  checkEnum,
  checkFunction,
  checkInteger,
  checkMode,
  checkNumber,
  checkPositive,
} from '@ipcx/core/transport';

function thrown(fn: () => unknown): (InvalidOptionError | OptionTypeError) & { option: string } {
  try {
    fn();
  } catch (error) {
    return error as InvalidOptionError & { option: string };
  }
  throw new Error('did not throw');
}

describe('option checks', () => {
  it('throw errors that are RangeError/TypeError and ipcx errors with a stable code, naming the option', () => {
    const range = thrown(() => checkInteger('capacity', 0, { min: 1 }));
    expect(range).toBeInstanceOf(RangeError);
    expect(range).toBeInstanceOf(InvalidOptionError);
    expect(range).toBeInstanceOf(IpcError);
    expect(isIpcError(range)).toBe(true);
    expect(range).toMatchObject({ code: 'IPCX_ERR_INVALID_OPTION', option: 'capacity', value: 0 });
    expect(range.message).toBe('capacity must be an integer >= 1, got 0');
    const type = thrown(() => checkInteger('capacity', '5', { min: 1 }));
    expect(type).toBeInstanceOf(TypeError);
    expect(type).toBeInstanceOf(OptionTypeError);
    expect(type).toBeInstanceOf(IpcError);
    expect(type).toMatchObject({ code: 'IPCX_ERR_INVALID_OPTION', option: 'capacity' });
    expect(type.message).toMatch(/capacity must be .* got "5"/);
  });

  it('checkInteger: safe integers within the bounds, the default when undefined', () => {
    expect(checkInteger('n', undefined, { default: 7 })).toBe(7);
    expect(checkInteger('n', undefined)).toBeUndefined();
    expect(checkInteger('n', 0)).toBe(0);
    expect(checkInteger('n', 10, { min: 1, max: 10 })).toBe(10);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 11]) {
      expect(() => checkInteger('n', bad, { max: 10 }), String(bad)).toThrow(InvalidOptionError);
    }
    for (const bad of [null, '1', 1n, {}]) expect(() => checkInteger('n', bad), String(bad)).toThrow(OptionTypeError);
    expect(() => checkInteger('n', 11, { min: 0, max: 10 })).toThrow('n must be an integer from 0 to 10, got 11');
  });

  it('checkNumber: finite numbers within the bounds', () => {
    expect(checkNumber('spin', 0.5, { min: 0, max: 1 })).toBe(0.5);
    expect(checkNumber('spin', undefined, { default: 3 })).toBe(3);
    for (const bad of [-0.1, 1.1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => checkNumber('spin', bad, { min: 0, max: 1 })).toThrow(InvalidOptionError);
    expect(() => checkNumber('spin', '1')).toThrow(OptionTypeError);
  });

  it('checkPositive: above 0 and at most max (an interval: 0 would busy-loop, NaN never fire)', () => {
    expect(checkPositive('peerCheckInterval', 0.5)).toBe(0.5);
    expect(checkPositive('peerCheckInterval', undefined, { default: 500 })).toBe(500);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 101]) {
      expect(() => checkPositive('peerCheckInterval', bad, { max: 100 }), String(bad)).toThrow(
        /peerCheckInterval must be a number above 0 and at most 100/,
      );
    }
    expect(() => checkPositive('peerCheckInterval', '5')).toThrow(OptionTypeError);
  });

  it('checkBoolean, checkFunction, checkEnum, checkMode', () => {
    expect(checkBoolean('exclusive', undefined, true)).toBe(true);
    expect(checkBoolean('exclusive', false, true)).toBe(false);
    expect(() => checkBoolean('exclusive', 'yes')).toThrow(/exclusive must be true or false, got "yes"/);
    const hook = (): boolean => true;
    expect(checkFunction('authorize', hook)).toBe(hook);
    expect(checkFunction('authorize', undefined)).toBeUndefined();
    expect(() => checkFunction('authorize', true as never)).toThrow(OptionTypeError);
    expect(checkEnum('direction', 'send', ['both', 'send', 'receive'])).toBe('send');
    expect(checkEnum('direction', undefined, ['both', 'send'], 'both')).toBe('both');
    expect(() => checkEnum('direction', 'sideways', ['both', 'send'])).toThrow(
      /direction must be one of "both", "send", got "sideways"/,
    );
    expect(() => checkEnum('direction', 'sideways', ['both', 'send'])).toThrow(InvalidOptionError);
    expect(() => checkEnum('direction', 3, ['both', 'send'])).toThrow(OptionTypeError);
    expect(checkMode('mode', undefined, 0o600)).toBe(0o600);
    expect(checkMode('mode', 0o644, 0o600)).toBe(0o644);
    for (const bad of [-1, 0o10000, 1.5]) expect(() => checkMode('mode', bad, 0o600)).toThrow(InvalidOptionError);
  });

  it('checkCodec: a Codec with the methods the transport needs, the fallback when undefined', () => {
    expect(checkCodec(undefined, msgpackCodec)).toBe(msgpackCodec);
    expect(checkCodec(jsonCodec, msgpackCodec)).toBe(jsonCodec);
    expect(() => checkCodec({ encode: () => new Uint8Array() } as never, msgpackCodec)).toThrow(
      /codec must be a Codec \(encode, encodeInto, decode\)/,
    );
    const decodeOnly = { name: 'x', encode: () => new Uint8Array(), decode: () => 1 } as never;
    expect(checkCodec(decodeOnly, msgpackCodec, ['encode', 'decode'])).toBe(decodeOnly);
  });
});
