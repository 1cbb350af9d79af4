// Finding 9 of issue 12: corrupt memory gives typed errors, never a RangeError or phantom messages.
// fast-check drives ring indices, frame headers and segment headers (thousands of cases, bounded time);
// every "[ipcx-fuzz]" line records what was fuzzed and how many cases ran.
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BadFrameError, isIpcError, rawCodec } from '@ipcx/core';
import { Mutex, SharedState, ShmChannel } from '@ipcx/shm';
import {
  Header,
  Kind,
  MAGIC,
  RING_HEAD,
  RING_TAIL,
  VERSION,
  Wake,
  channelBytes,
  initHeader,
  ringOffset,
} from '../src/layout.js';
import { uniqueName } from './helpers.js';

const names: string[] = [];
afterEach(() => {
  for (const n of names.splice(0)) {
    try {
      unlinkSync(`/dev/shm${n}`);
    } catch {
      // not there
    }
  }
});

/** Only ipcx's typed errors may come out of corrupt memory. */
function expectTyped(error: unknown): void {
  if (!isIpcError(error)) throw new Error(`untyped error from corrupt memory: ${String(error)}`, { cause: error });
}

const CAPACITY = 1024;
const RING_CASES = 5000;
const HEADER_CASES = 5000;
const NAMED_CASES = 300;

describe('fuzzing', () => {
  it(`ring indices and frame lengths (${RING_CASES} cases): data, nothing, or BadFrameError; never more bytes than were published`, () => {
    let corrupt = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        // Half the cases within the ring on the 8-byte grid (where frame lengths decide), half anywhere.
        fc.oneof(
          fc.integer({ min: 0, max: CAPACITY / 8 }).map((x) => x * 8),
          fc.integer({ min: -4096, max: 4096 }),
        ),
        fc.array(fc.tuple(fc.nat(CAPACITY / 8 - 1), fc.integer({ min: -2, max: 2 * CAPACITY })), { maxLength: 8 }),
        fc.boolean(),
        (tail, delta, frames, aligned) => {
          const buffer = new SharedArrayBuffer(channelBytes(CAPACITY));
          initHeader(new Int32Array(buffer, 0, 16), Kind.Channel, CAPACITY, Wake.Atomics);
          const ring = ringOffset(CAPACITY, 'a');
          const ctl = new Int32Array(buffer, ring, 64);
          const t = aligned ? tail & ~7 : tail;
          const head = (t + (aligned ? delta & ~7 : delta)) | 0;
          ctl[RING_TAIL] = t | 0;
          ctl[RING_HEAD] = head;
          const words = new Int32Array(buffer, ring + 256, CAPACITY / 4);
          for (const [slot, length] of frames) words[slot * 2] = length;
          const available = (head - (t | 0)) >>> 0;
          const reader = ShmChannel.from<Uint8Array>({ buffer, side: 'b', codec: 'raw' }, { codec: rawCodec });
          const writer = ShmChannel.from<Uint8Array>({ buffer, side: 'a', codec: 'raw' }, { codec: rawCodec });
          let delivered = 0;
          try {
            for (let i = 0; i < 300; i++) {
              const message = reader.tryReceive();
              if (message === undefined) break;
              delivered += 8 + ((message.length + 7) & ~7);
            }
          } catch (error) {
            expectTyped(error);
            expect(error).toBeInstanceOf(BadFrameError);
            corrupt++;
          }
          if (available > CAPACITY || (available & 7) !== 0) expect(delivered).toBe(0);
          else expect(delivered).toBeLessThanOrEqual(available);
          try {
            writer.trySend(new Uint8Array(16));
          } catch (error) {
            expectTyped(error);
          }
          void reader.close();
          void writer.close();
        },
      ),
      { numRuns: RING_CASES },
    );
    console.log(
      `[ipcx-fuzz] ShmChannel ring indices + frame lengths: ${RING_CASES} cases, ${corrupt} reported as BadFrameError`,
    );
  }, 60_000);

  it(`segment headers of thread objects (${HEADER_CASES} cases): IncompatibleError and friends, never a RangeError`, () => {
    const header = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 512 }),
      // A plausible header: magic and version right, the rest random, the memory any size.
      fc
        .tuple(
          fc.integer({ min: 0, max: 6 }),
          fc.integer(),
          fc.integer({ min: 0, max: 1 }),
          fc.integer({ min: 0, max: 4096 }),
        )
        .map(([kind, size, wake, bytes]) => {
          const memory = new Uint8Array(Math.max(bytes, 64));
          const i32 = new Int32Array(memory.buffer, 0, 16);
          i32[Header.Magic] = MAGIC;
          i32[Header.Version] = VERSION;
          i32[Header.Kind] = kind;
          i32[Header.Size] = size;
          i32[Header.Wake] = wake;
          return memory.subarray(0, bytes);
        }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(header, fc.constantFrom<'a' | 'b'>('a', 'b'), (bytes, side) => {
        const buffer = new SharedArrayBuffer(bytes.length);
        new Uint8Array(buffer).set(bytes);
        for (const attach of [
          () => ShmChannel.from({ buffer, side, codec: 'msgpack' }),
          () => SharedState.from({ buffer }),
        ]) {
          try {
            const object = attach();
            accepted++;
            if (object instanceof SharedState) {
              try {
                object.get();
              } catch (error) {
                expectTyped(error);
              }
            } else {
              try {
                object.tryReceive();
              } catch (error) {
                expectTyped(error);
              }
            }
            void object.close();
          } catch (error) {
            expectTyped(error);
          }
        }
      }),
      { numRuns: HEADER_CASES },
    );
    console.log(
      `[ipcx-fuzz] ShmChannel/SharedState segment headers (attach): ${HEADER_CASES} cases x 2 readers, ${accepted} accepted as valid`,
    );
  }, 60_000);

  it(`named segments of random bytes and sizes (${NAMED_CASES} cases): open gives typed errors only`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 400 }), fc.boolean(), async (bytes, plausible) => {
        const n = uniqueName('fuzz');
        names.push(n);
        if (plausible && bytes.length >= 16) {
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          view.setInt32(0, MAGIC, true);
          view.setInt32(4, VERSION, true);
        }
        const fd = openSync(`/dev/shm${n}`, 'wx', 0o600);
        writeSync(fd, bytes);
        closeSync(fd);
        for (const open of [() => ShmChannel.open(n), () => SharedState.open(n), () => Mutex.open(n)]) {
          try {
            const object = await open();
            await object.close();
          } catch (error) {
            expectTyped(error);
          }
        }
        unlinkSync(`/dev/shm${n}`);
        names.pop();
      }),
      { numRuns: NAMED_CASES },
    );
    console.log(
      `[ipcx-fuzz] named segments (ShmChannel.open, SharedState.open, Mutex.open): ${NAMED_CASES} cases x 3 openers`,
    );
  }, 60_000);
});
