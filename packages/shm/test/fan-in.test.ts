import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerGoneError, TooLargeError, rawCodec } from '@ipcx/core';
import { FanIn } from '@ipcx/shm';
import { MpscRingReader, MpscRingWriter } from '../src/mpsc-ring.js';
import { type Waker, atomicsWaker } from '../src/internal/waker.js';
import { segmentExists, uniqueName } from './helpers.js';

const fixture = new URL('./fixtures/fan-in-sender.mjs', import.meta.url);
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

async function collect(inbox: FanIn<Uint8Array>, total: number): Promise<Map<number, number>> {
  const next = new Map<number, number>();
  for (let i = 0; i < total; i++) {
    const m = await inbox.receive({ timeout: 10_000 });
    const id = m[0]!;
    const n = new DataView(m.buffer, m.byteOffset).getUint32(1);
    expect(n, `sender ${id} out of order`).toBe(next.get(id) ?? 0);
    next.set(id, n + 1);
  }
  return next;
}

describe('FanIn', () => {
  it('takes messages from four worker threads at once, in order per sender, none lost', {
    timeout: 60_000,
  }, async () => {
    const inbox = new FanIn<Uint8Array>({ bufferBytes: 4096, codec: rawCodec });
    const count = 20_000;
    for (let id = 0; id < 4; id++)
      workers.push(new Worker(fixture, { workerData: { handle: inbox.handle(), id, count } }));
    const next = await collect(inbox, 4 * count);
    expect([...next.entries()].sort()).toEqual([0, 1, 2, 3].map((id) => [id, count]));
    expect(inbox.tryReceive()).toBeUndefined();
    await inbox.close();
  });

  it('for await waits for messages from worker threads, takes them in order per sender, and ends on close', {
    timeout: 60_000,
  }, async () => {
    const inbox = new FanIn<Uint8Array>({ bufferBytes: 1024, codec: rawCodec });
    const count = 5_000;
    const next = new Map<number, number>();
    let total = 0;
    const loop = (async () => {
      for await (const m of inbox) {
        const id = m[0]!;
        const n = new DataView(m.buffer, m.byteOffset).getUint32(1);
        if (n !== (next.get(id) ?? 0)) throw new Error(`sender ${id}: message ${n}, expected ${next.get(id) ?? 0}`);
        next.set(id, n + 1);
        if (++total === 2 * count) break;
      }
    })();
    await Promise.resolve(); // the loop waits before any sender exists
    for (let id = 0; id < 2; id++)
      workers.push(new Worker(fixture, { workerData: { handle: inbox.handle(), id, count } }));
    await loop;
    expect([...next.entries()].sort()).toEqual([
      [0, count],
      [1, count],
    ]);
    const ended = (async () => {
      for await (const _ of inbox) return 'message';
      return 'ended';
    })();
    await inbox.close();
    expect(await ended).toBe('ended');
  });

  it('takes messages from two processes on a named ring and unlinks it on close', async () => {
    const name = uniqueName('fanin');
    const inbox = await FanIn.create<Uint8Array>(name, { bufferBytes: 1024, codec: rawCodec });
    try {
      const children = [7, 8].map((id) =>
        spawn(process.execPath, [fixture.pathname, name, String(id), '2000'], { stdio: 'inherit' }),
      );
      const next = await collect(inbox, 4000);
      expect(next.get(7)).toBe(2000);
      expect(next.get(8)).toBe(2000);
      for (const child of children) if (child.exitCode === null) await once(child, 'exit');
    } finally {
      await inbox.close();
    }
    expect(segmentExists(name)).toBe(false);
  }, 60_000);

  it('refuses an oversized message and fails senders once the receiver closed', async () => {
    const inbox = new FanIn<Uint8Array>({ bufferBytes: 1024, codec: rawCodec });
    const sender = FanIn.from<Uint8Array>(inbox.handle());
    expect(() => sender.trySend(new Uint8Array(600))).toThrow(TooLargeError);
    const pending = inbox.receive();
    await sender.send(new Uint8Array([1, 2]));
    expect([...(await pending)]).toEqual([1, 2]);
    await inbox.close();
    await expect(sender.send(new Uint8Array(1))).rejects.toBeInstanceOf(PeerGoneError);
  });

  it('hands frames out in reservation order, only once committed, whatever the interleaving', () => {
    // Several producers reserve and commit in random interleavings; the consumer reads whenever it may.
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ producer: fc.nat(3), size: fc.nat(40), act: fc.constantFrom('reserve', 'commit', 'read') }),
          { maxLength: 200 },
        ),
        (ops) => {
          const capacity = 1024;
          const buffer = new SharedArrayBuffer(256 + capacity);
          const writer = new MpscRingWriter(buffer, 0, capacity, atomicsWaker);
          const reader = new MpscRingReader(buffer, 0, capacity, atomicsWaker);
          let serial = 0;
          const reserved: { pos: number; payload: Uint8Array; serial: number; committed: boolean }[] = [];
          const open = new Map<number, (typeof reserved)[number]>();
          let expectedNext = 0;
          const readAll = (): void => {
            while (reader.next() >= 0) {
              const got = reader.copy();
              const want = reserved[expectedNext]!;
              expect(want.committed).toBe(true);
              expect([...got]).toEqual([...want.payload]);
              reader.advance();
              expectedNext++;
            }
            // Everything committed before the first uncommitted reservation was read.
            const firstOpen = reserved.findIndex((r) => !r.committed);
            expect(expectedNext).toBe(firstOpen === -1 ? reserved.length : firstOpen);
          };
          for (const op of ops) {
            if (op.act === 'reserve' && !open.has(op.producer)) {
              const payload = new Uint8Array(op.size).map((_, i) => (serial * 7 + i) & 255);
              const pos = writer.reserve(payload.length);
              if (pos >= 0) {
                const r = { pos, payload, serial: serial++, committed: false };
                reserved.push(r);
                open.set(op.producer, r);
              }
            } else if (op.act === 'commit' && open.has(op.producer)) {
              const r = open.get(op.producer)!;
              writer.commit(r.pos, r.payload);
              r.committed = true;
              open.delete(op.producer);
            } else if (op.act === 'read') {
              readAll();
            }
          }
          for (const r of open.values()) {
            writer.commit(r.pos, r.payload);
            r.committed = true;
          }
          readAll();
          expect(expectedNext).toBe(reserved.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a producer that found the ring full does not sleep through room freed before it waits', async () => {
    // The consumer empties the ring between the failed write and the wait: the wait must see the room. It
    // once read the tail only when it began to wait, slept on that tail of an empty ring, and never woke.
    const capacity = 1024;
    const buffer = new SharedArrayBuffer(256 + capacity);
    const writer = new MpscRingWriter(buffer, 0, capacity, atomicsWaker);
    const reader = new MpscRingReader(buffer, 0, capacity, atomicsWaker);
    const payload = new Uint8Array(100);
    let written = 0;
    while (writer.tryWrite(payload)) written++;
    expect(written).toBeGreaterThan(0);
    for (let i = 0; i < written; i++) {
      expect(reader.next()).toBe(payload.length);
      reader.advance();
    }
    expect(await writer.waitForRoom(payload.length, 5_000, () => false)).toBe('not-equal');
    expect(writer.tryWrite(payload)).toBe(true);
    // Still full of others' frames: it does sleep (and times out, nobody frees room).
    while (writer.tryWrite(payload));
    expect(await writer.waitForRoom(payload.length, 20, () => false)).toBe('timed-out');
  });

  it('a producer about to sleep for room is not lost to a close or a release that comes just before its wait', async () => {
    // The waker lets the consumer act after the producer's last look (stop() false, no room) and before its
    // wait, as a preemption there would. Each wake-up must change the word the producer sleeps on: a notify
    // that changes nothing reaches nobody yet, and the producer slept until its timeout (for ever, in a worker).
    const capacity = 1024;
    for (const act of ['close', 'release'] as const) {
      const buffer = new SharedArrayBuffer(256 + capacity);
      let closed = false;
      let beforeWait: (() => void) | undefined;
      const waker: Waker = {
        ...atomicsWaker,
        waitAsync(i32, index, value, timeout) {
          beforeWait?.();
          beforeWait = undefined;
          return atomicsWaker.waitAsync(i32, index, value, timeout);
        },
      };
      const writer = new MpscRingWriter(buffer, 0, capacity, waker);
      const reader = new MpscRingReader(buffer, 0, capacity, waker);
      const payload = new Uint8Array(100);
      while (writer.tryWrite(payload));
      beforeWait =
        act === 'close'
          ? () => {
              closed = true;
              reader.wakeProducers();
            }
          : () => {
              while (reader.next() >= 0) reader.advance();
            };
      expect(await writer.waitForRoom(payload.length, 5_000, () => closed), act).toBe('not-equal');
    }
  });
});
