import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  BadFrameError,
  FrameBudget,
  FrameTooLargeError,
  LimitError,
  PeerGoneError,
  createMsgpackCodec,
  isIpcError,
  jsonCodec,
  msgpackCodec,
  serve,
  stringCodec,
  type Channel,
  type IpcError,
} from '@ipcx/core';
import { FrameDecoder, encodeFrame, iterate } from '@ipcx/core/transport';

/** Every decoder must either return a value or throw an IpcError: never a crash of another kind, never a hang. */
function decodesOrBadFrame(decode: () => unknown): unknown {
  try {
    return decode();
  } catch (error) {
    expect(isIpcError(error), String(error)).toBe(true);
    expect((error as IpcError).code).toBe('IPCX_ERR_BAD_FRAME');
    return undefined;
  }
}

/** True if msgpackr's internal C1Type (or any class we never produce) hides anywhere in a decoded value. */
function holdsInternals(value: unknown, seen = new Set<unknown>()): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (seen.has(value)) return false;
  seen.add(value);
  if (value.constructor?.name === 'C1Type') return true;
  if (value instanceof Map) return [...value].some(([k, v]) => holdsInternals(k, seen) || holdsInternals(v, seen));
  if (value instanceof Set) return [...value].some((v) => holdsInternals(v, seen));
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp)
    return false;
  return Object.values(value).some((v) => holdsInternals(v, seen));
}

/** What msgpack does not carry as such: -0 as an integer (comes back 0), and a `__proto__` key (msgpackr renames it, on purpose). */
function holdsNegativeZero(value: unknown, seen = new Set<unknown>()): boolean {
  if (Object.is(value, -0)) return true;
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  if (Object.hasOwn(value, '__proto__')) return true;
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>).some((v) => Object.is(v, -0));
  if (value instanceof Map)
    return [...value].some(([k, v]) => holdsNegativeZero(k, seen) || holdsNegativeZero(v, seen));
  if (value instanceof Set) return [...value].some((v) => holdsNegativeZero(v, seen));
  return Object.values(value).some((v) => holdsNegativeZero(v, seen));
}

describe('the msgpack codec accepts only what it produces', () => {
  it('refuses the reserved byte 0xc1 alone and nested', () => {
    for (const bytes of [
      [0xc1],
      [0x91, 0xc1],
      [0x81, 0xa1, 0x61, 0xc1],
      [0x92, 0x01, 0x91, 0xc1],
      [0xdc, 0x00, 0x01, 0xc1],
    ]) {
      expect(() => msgpackCodec.decode(new Uint8Array(bytes)), bytes.join(',')).toThrow(BadFrameError);
    }
  });

  it('refuses every extension type it never writes, in every extension form', () => {
    const produced = new Set([0x00, 0x42, 0x65, 0x72, 0x73, 0x74, 0x78, 0xff]);
    for (let type = 0; type < 256; type++) {
      if (produced.has(type)) continue;
      for (const bytes of [
        [0xd4, type, 0],
        [0xd5, type, 0, 0],
        [0xd6, type, 0, 0, 0, 0],
        [0xc7, 1, type, 0],
        [0x91, 0xd4, type, 0],
      ]) {
        expect(() => msgpackCodec.decode(new Uint8Array(bytes)), `${type}: ${bytes.join(',')}`).toThrow(BadFrameError);
      }
    }
  });

  it("refuses msgpackr's string bundles and structured-clone references (steering its reader)", () => {
    const bundled = new Packr({ bundleStrings: true }).pack({
      a: 'a string long enough to bundle',
      b: ['x'.repeat(40)],
    });
    expect(() => msgpackCodec.decode(bundled)).toThrow(BadFrameError);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => msgpackCodec.decode(new Packr({ structuredClone: true }).pack(cyclic))).toThrow(BadFrameError);
  });

  it('still decodes everything it writes, and extension types a caller registered', () => {
    const value = {
      d: new Date(3),
      bad: new Date(Number.NaN),
      far: new Date(-1e14),
      m: new Map<unknown, unknown>([[1, { x: 2 }]]),
      s: new Set(['a']),
      n: 2n ** 80n,
      neg: -5n,
      f: new Float32Array([1.5]),
      ab: new Uint8Array([1, 2]),
      u: undefined,
      e: new RangeError('r'),
      r: /x+/gi,
      nested: [[[{ a: 1 }, { a: 2, b: [{ c: 3 }] }]]],
    };
    expect(msgpackCodec.decode(msgpackCodec.encode(value))).toEqual(value);
    const shapes = Array.from({ length: 300 }, (_, i) => ({ [`k${i}`]: i, same: 'v' }));
    expect(msgpackCodec.decode(msgpackCodec.encode(shapes))).toEqual(shapes);
    const custom = createMsgpackCodec({ extensionTypes: [0x10] });
    expect(() => custom.decode(new Uint8Array([0xd4, 0x10, 0]))).toThrow(BadFrameError); // allowed by us, unknown to msgpackr
    expect(() => createMsgpackCodec({ extensionTypes: [300] })).toThrow(RangeError);
  });

  it('fuzz: random bytes decode to a value without msgpackr internals, or BadFrameError (20000 cases)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const value = decodesOrBadFrame(() => msgpackCodec.decode(bytes));
        expect(holdsInternals(value)).toBe(false);
      }),
      { numRuns: 20_000 },
    );
  });

  it('fuzz: mutated valid messages decode cleanly or fail with BadFrameError (5000 cases)', () => {
    fc.assert(
      fc.property(
        fc.anything({ maxDepth: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (thing, flips) => {
          const bytes = Uint8Array.from(msgpackCodec.encode(thing));
          for (const [at, byte] of flips) bytes[at % bytes.length] = byte;
          expect(holdsInternals(decodesOrBadFrame(() => msgpackCodec.decode(bytes)))).toBe(false);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('fuzz: anything it encodes decodes to an equal value (3000 cases)', () => {
    fc.assert(
      fc.property(
        fc.anything({
          maxDepth: 4,
          withDate: true,
          withMap: true,
          withSet: true,
          withBigInt: true,
          withTypedArray: true,
        }),
        (thing) => {
          fc.pre(!holdsNegativeZero(thing)); // msgpack has no -0 for integers: it comes back as 0
          expect(msgpackCodec.decode(msgpackCodec.encode(thing))).toEqual(thing);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('fuzz: json and string codecs take any bytes without a crash (5000 cases each)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        decodesOrBadFrame(() => jsonCodec.decode(bytes));
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(typeof stringCodec.decode(bytes)).toBe('string');
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('frames in progress take memory as their bytes arrive, within a budget', () => {
  it('holds nothing for a length prefix alone, however large the announced frame', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 0xffff_ffff });
    const before = process.memoryUsage().arrayBuffers;
    const decoders = Array.from({ length: 100 }, () => new FrameDecoder({ maxFrameBytes: 0xffff_ffff }));
    for (const d of [decoder, ...decoders])
      d.push(new Uint8Array([0xff, 0xff, 0xff, 0xf0, 1]), () => expect.fail('no frame'));
    // 101 decoders announcing 4 GiB each: a few 64 KiB buffers at most, not 404 GiB.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(101 * 64 * 1024 + (1 << 20));
  });

  it('grows a frame in progress as its chunks arrive and hands it out whole', () => {
    const payload = Uint8Array.from({ length: 300_000 }, (_, i) => i % 251);
    const stream = encodeFrame(payload);
    const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
    const frames: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 7_000)
      decoder.push(stream.subarray(at, at + 7_000), (f) => frames.push(Uint8Array.from(f)));
    expect(frames).toHaveLength(1);
    expect(Buffer.from(frames[0]!).equals(Buffer.from(payload))).toBe(true);
  });

  it('fails the decoder that would overspend a shared budget with LimitError, and gives back what a finished or released frame held', () => {
    const budget = new FrameBudget(300 * 1024);
    const decoders = Array.from({ length: 5 }, () => new FrameDecoder({ maxFrameBytes: 1 << 20, budget }));
    const partial = encodeFrame(new Uint8Array(200_000)).subarray(0, 100_000);
    const results = decoders.map((d) => {
      try {
        d.push(partial, () => expect.fail('no frame'));
        return 'held';
      } catch (error) {
        return error;
      }
    });
    expect(results.filter((r) => r === 'held').length).toBeGreaterThanOrEqual(1);
    const refused = results.filter((r) => r !== 'held');
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const error of refused) expect(error).toBeInstanceOf(LimitError);
    expect(budget.used).toBeLessThanOrEqual(budget.limit);
    for (const d of decoders) d.release();
    expect(budget.used).toBe(0);
    // A frame that completes gives its bytes back at once.
    const whole = new FrameDecoder({ maxFrameBytes: 1 << 20, budget });
    const stream = encodeFrame(new Uint8Array(150_000));
    let got = 0;
    whole.push(stream.subarray(0, 70_000), () => got++);
    expect(budget.used).toBeGreaterThan(0);
    whole.push(stream.subarray(70_000), () => got++);
    expect(got).toBe(1);
    expect(budget.used).toBe(0);
  });

  it('fuzz: random byte streams give frames or typed errors, never anything else (5000 cases)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 }),
        fc.integer({ min: 0, max: 64 }),
        (chunks, max) => {
          const budget = new FrameBudget(48);
          const decoder = new FrameDecoder({ maxFrameBytes: max, budget });
          try {
            for (const chunk of chunks) decoder.push(chunk, (frame) => expect(frame.length).toBeLessThanOrEqual(max));
            decoder.end();
          } catch (error) {
            expect(
              error instanceof BadFrameError || error instanceof FrameTooLargeError || error instanceof LimitError,
              String(error),
            ).toBe(true);
            // Failed for good: the same error again.
            expect(() => decoder.push(new Uint8Array([0]), () => {})).toThrow();
          }
          decoder.release();
          expect(budget.used).toBe(0);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

/** A channel whose receive fails with `error` after `messages`, as a transport does when its peer goes. */
function endingWith(messages: unknown[], error: IpcError, endsChannel = false): Channel<unknown> & { sent: unknown[] } {
  let ended = false;
  const queue = [...messages];
  const sent: unknown[] = [];
  const channel = {
    sent,
    receive: async (): Promise<unknown> => {
      if (queue.length > 0) return queue.shift();
      ended = endsChannel;
      throw error;
    },
    tryReceive: () => undefined,
    send: async (m: unknown): Promise<void> => void sent.push(m),
    trySend: () => true,
    get closed() {
      return ended;
    },
    close: async (): Promise<void> => {},
    [Symbol.asyncIterator]: () => iterate(channel.receive, () => channel.closed),
    [Symbol.asyncDispose]: async (): Promise<void> => {},
  };
  return channel;
}

describe('servers survive their clients', () => {
  it('serve resolves (no unhandled rejection) when the peer goes, and tells onError once', async () => {
    const gone = new PeerGoneError('client');
    const channel = endingWith([[0, 1, 'a']], gone);
    const errors: unknown[] = [];
    await expect(serve(channel, (x) => x, { onError: (e) => errors.push(e) })).resolves.toBeUndefined();
    expect(errors).toEqual([gone]);
  });

  it('serve resolves when bad bytes ended the connection, instead of spinning on the same error', async () => {
    const bad = new BadFrameError('garbage');
    const channel = endingWith([], bad, true);
    const errors: unknown[] = [];
    await expect(serve(channel, (x) => x, { onError: (e) => errors.push(e) })).resolves.toBeUndefined();
    expect(errors).toEqual([bad]);
  });

  it('for await ends quietly when the peer goes, and when an error ended the channel', async () => {
    const seen: unknown[] = [];
    for await (const m of iterate(endingWith([1, 2], new PeerGoneError()).receive)) seen.push(m);
    const ended = endingWith([3], new BadFrameError('x'), true);
    for await (const m of iterate(ended.receive, () => ended.closed)) seen.push(m);
    expect(seen).toEqual([1, 2, 3]);
    const open = endingWith([], new BadFrameError('x'), false);
    await expect(iterate(open.receive, () => open.closed).next()).rejects.toThrow(BadFrameError);
  });
});

describe('names', () => {
  it('fuzz: checkIpcName returns a valid name or throws InvalidNameError, never anything else (10000 cases)', async () => {
    const { checkIpcName, InvalidNameError } = await import('@ipcx/core');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.constantFrom('/', '/.', '/..', '', '//', '/a/b', '/\0'),
        ),
        fc.constantFrom('required', 'added'),
        (name, slash) => {
          try {
            const checked = checkIpcName(name, 'thing', slash as 'required' | 'added');
            const bare = checked.slice(1);
            expect(checked.startsWith('/')).toBe(true);
            expect(bare.length).toBeGreaterThan(0);
            expect(bare.includes('/') || bare.includes('\0') || bare === '.' || bare === '..').toBe(false);
            expect(Buffer.byteLength(bare)).toBeLessThanOrEqual(250);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidNameError);
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });
});
