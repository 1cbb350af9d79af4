import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadFrameError, FrameTooLargeError, isIpcError } from '@ipcx/core';
import { FrameDecoder, encodeFrame } from '@ipcx/core/transport';

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  return out;
}

describe('framing', () => {
  it('writes a 4-byte big-endian length then the payload', () => {
    expect([...encodeFrame(new Uint8Array([7, 8, 9]))]).toEqual([0, 0, 0, 3, 7, 8, 9]);
    expect([...encodeFrame(new Uint8Array(0))]).toEqual([0, 0, 0, 0]);
  });

  it('decodes any sequence of frames whatever the chunking, every byte checked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
          const decoder = new FrameDecoder({ maxFrameBytes: 300 });
          const got: Uint8Array[] = [];
          for (const piece of chunk(stream, cuts)) decoder.push(piece, (frame) => got.push(Uint8Array.from(frame)));
          decoder.end();
          expect(got).toEqual(messages.map((m) => Uint8Array.from(m)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a length over maxFrameBytes with FrameTooLargeError and stays failed', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 10 });
    expect(() => decoder.push(new Uint8Array([0, 0, 0, 11]), () => {})).toThrow(FrameTooLargeError);
    expect(() => decoder.push(new Uint8Array([0, 0, 0, 1, 5]), () => {})).toThrow(FrameTooLargeError);
  });

  it('reports a stream that ends inside a frame as BadFrameError', () => {
    const decoder = new FrameDecoder();
    decoder.push(new Uint8Array([0, 0, 0, 5, 1, 2]), () => {});
    expect(() => decoder.end()).toThrow(BadFrameError);
  });

  it('gives garbage only BadFrameError or FrameTooLargeError, never another exception', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder({ maxFrameBytes: 1000 });
        try {
          for (const c of chunks) decoder.push(c, (frame) => expect(frame.length).toBeLessThanOrEqual(1000));
          decoder.end();
        } catch (error) {
          expect(isIpcError(error)).toBe(true);
          expect(['IPCX_ERR_BAD_FRAME', 'IPCX_ERR_TOO_LARGE']).toContain((error as { code: string }).code);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
