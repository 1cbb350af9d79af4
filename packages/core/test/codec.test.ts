import { describe, expect, it } from 'vitest';
import { BadFrameError, copyBytes, jsonCodec, msgpackCodec, rawCodec, stringCodec } from '@ipcx/core';

describe('codecs', () => {
  it('msgpack round-trips structured types', () => {
    const value = {
      d: new Date(3),
      m: new Map([[1, 2]]),
      s: new Set(['a']),
      n: 2n ** 80n,
      f: new Float32Array([1.5]),
      o: [{ a: 1 }, { a: 2 }],
    };
    expect(msgpackCodec.decode(msgpackCodec.encode(value))).toEqual(value);
  });

  it('msgpack encodes straight into a large enough target and hands back the bytes when it does not fit', () => {
    const value = { text: 'x'.repeat(100), list: [1, 2, 3] };
    const expected = Buffer.from(msgpackCodec.encode(value));
    const target = new Uint8Array(new SharedArrayBuffer(4096), 8, 4000);
    const written = msgpackCodec.encodeInto(value, target);
    expect(written).toBe(expected.length);
    expect(Buffer.from(target.subarray(0, written as number))).toEqual(expected);
    const big = { text: 'y'.repeat(5000) };
    const result = msgpackCodec.encodeInto(big, target);
    expect(result).toBeInstanceOf(Uint8Array);
    expect(msgpackCodec.decode(result as Uint8Array)).toEqual(big);
    expect(msgpackCodec.encodeInto({ small: 1 }, new Uint8Array(16))).toBeGreaterThan(0);
  });

  it('msgpack copies bytes out of transient memory', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const encoded = new Uint8Array(msgpackCodec.encode(bytes));
    const decoded = msgpackCodec.decode(encoded, true) as Uint8Array;
    encoded.fill(0);
    expect([...decoded]).toEqual([1, 2, 3]);
  });

  it('msgpack without copyBuffers still copies bytes out of transient memory', async () => {
    const { createMsgpackCodec } = await import('@ipcx/core');
    const viewing = createMsgpackCodec({ copyBuffers: false });
    const encoded = new Uint8Array(viewing.encode(new Uint8Array([1, 2, 3])));
    const decoded = viewing.decode(encoded, true) as Uint8Array;
    encoded.fill(0);
    expect([...decoded]).toEqual([1, 2, 3]);
  });

  it('raw hands out views unless the memory is transient', () => {
    const bytes = new Uint8Array([9, 8]);
    expect(rawCodec.encode(bytes)).toBe(bytes);
    expect(rawCodec.decode(bytes)).toBe(bytes);
    const copy = rawCodec.decode(bytes, true);
    expect(copy).not.toBe(bytes);
    expect([...copy]).toEqual([9, 8]);
    expect(() => rawCodec.encode('no' as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('string and json round-trip and write in place', () => {
    const target = new Uint8Array(64);
    const n = stringCodec.encodeInto('héllo', target) as number;
    expect(stringCodec.decode(target.subarray(0, n))).toBe('héllo');
    expect(jsonCodec.decode(jsonCodec.encode({ a: [1, 'b'] }))).toEqual({ a: [1, 'b'] });
  });

  it('garbage is a BadFrameError', () => {
    expect(() => jsonCodec.decode(Buffer.from('{nope'))).toThrow(BadFrameError);
    expect(() => msgpackCodec.decode(new Uint8Array(0))).toThrow(BadFrameError);
    expect(() => msgpackCodec.decode(new Uint8Array([1, 2, 3]))).toThrow(BadFrameError);
    expect(() => msgpackCodec.decode(new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]))).toThrow(BadFrameError);
  });

  it('never completes a truncated payload from the bytes a longer one left in its decode buffer', () => {
    const full = msgpackCodec.encode({ a: 'hello world', b: [1, 2, 3, 4, 5], c: 'x'.repeat(40) }).slice();
    expect(msgpackCodec.decode(full)).toEqual({ a: 'hello world', b: [1, 2, 3, 4, 5], c: 'x'.repeat(40) });
    for (let cut = 1; cut < full.length; cut++)
      expect(() => msgpackCodec.decode(full.subarray(0, cut))).toThrow(BadFrameError);
  });
});

describe('copyBytes', () => {
  it('copies small and large payloads into memory the caller owns, as plain Uint8Arrays', () => {
    for (const size of [0, 1, 64, 65, 1024, 5000]) {
      const source = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
      const copy = copyBytes(source);
      expect(copy.constructor).toBe(Uint8Array);
      expect(copy).toEqual(source);
      if (size > 0) {
        source[0] = source[0]! ^ 0xff;
        expect(copy[0]).not.toBe(source[0]);
      }
    }
  });

  it('cuts copies that share memory apart, at 8-byte boundaries, across slabs, and never overlaps them', () => {
    // Enough 1000-byte copies to fill several 32 KiB slabs, each with its own pattern.
    const copies = Array.from({ length: 100 }, (_, k) => copyBytes(new Uint8Array(1000).fill(k)));
    for (const [k, copy] of copies.entries()) {
      expect(copy.byteOffset % 8).toBe(0);
      expect(copy.length).toBe(1000);
      expect(copy.every((b) => b === k)).toBe(true); // no later copy wrote over it
    }
    expect(new Set(copies.map((c) => c.buffer)).size).toBeGreaterThan(1);
  });
});

describe('msgpack for other languages', () => {
  it('encodes plain msgpack maps (0x8N) without records when asked', async () => {
    const { createMsgpackCodec } = await import('@ipcx/core');
    const plain = createMsgpackCodec({
      useRecords: false,
      moreTypes: false,
      mapsAsObjects: true,
      variableMapSize: true,
    });
    const bytes = plain.encode({ id: 1 });
    expect([...bytes]).toEqual([0x81, 0xa2, 0x69, 0x64, 0x01]); // {"id": 1} as any msgpack library writes it
    expect(msgpackCodec.encode({ id: 1 })[0]).toBe(0xd4); // fixext 1: a msgpackr record
    expect(plain.decode(bytes)).toEqual({ id: 1 });
  });
});
