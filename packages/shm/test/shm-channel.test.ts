import { describe, expect, it } from 'vitest';
import { IncompatibleError, TooLargeError, rawCodec } from '@ipcx/core';
import { describeChannelConformance } from '@ipcx/core/testing';
import { ShmChannel } from '@ipcx/shm';

describeChannelConformance('ShmChannel between threads (msgpack)', () => ShmChannel.pair({ bufferBytes: 4096 }), {
  maxMessageBytes: 2040,
});

describeChannelConformance(
  'ShmChannel between threads (raw bytes)',
  () => ShmChannel.pair({ bufferBytes: 1024, codec: rawCodec }),
  {
    encoding: 'bytes',
    maxMessageBytes: 504,
  },
);

describe('ShmChannel.pair', () => {
  it('refuses a capacity that is not a power of two', () => {
    expect(() => ShmChannel.pair({ bufferBytes: 3000 })).toThrow(RangeError);
  });

  it('refuses to attach memory that is not a channel with IncompatibleError', () => {
    const buffer = new SharedArrayBuffer(4096);
    expect(() => ShmChannel.from({ buffer, side: 'b', codec: 'msgpack' })).toThrow(IncompatibleError);
    const [a] = ShmChannel.pair({ bufferBytes: 1024 });
    const handle = a.transfer();
    new Int32Array(handle.buffer)[1] = 99; // layout version
    expect(() => ShmChannel.from(handle)).toThrow(/layout version 99/);
  });

  it('rejects a message larger than half the ring with TooLargeError instead of hanging', async () => {
    const [a, b] = ShmChannel.pair({ bufferBytes: 1024, codec: rawCodec });
    await expect(a.send(new Uint8Array(505))).rejects.toBeInstanceOf(TooLargeError);
    expect(() => a.trySend(new Uint8Array(2000))).toThrow(TooLargeError);
    await a.close();
    await b.close();
  });

  it('makes a handed-over end unusable here', async () => {
    const [a, b] = ShmChannel.pair();
    const handle = b.transfer();
    expect(b.closed).toBe(true);
    await expect(b.send(1)).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    const attached = ShmChannel.from(handle);
    await a.send('hi');
    expect(await attached.receive()).toBe('hi');
    await a.close();
    await attached.close();
  });
});

describe('ShmChannel ring indices', () => {
  // HEAD and TAIL count bytes modulo 2^32 in Int32 words: a long-lived channel passes 2^31 bytes (where
  // the stored word turns negative) and 2^32 (where it wraps). Start both rings just below each.
  for (const start of [2 ** 31 - 1000, 2 ** 32 - 1000]) {
    it(`carries every byte across index ${start + 1000} and never reads an empty ring as full`, async () => {
      const capacity = 4096;
      const [first, second] = ShmChannel.pair({ bufferBytes: capacity, codec: rawCodec });
      const handles = [first.transfer(), second.transfer()] as const;
      const ctl = new Int32Array(handles[0].buffer);
      for (const ring of [64, 64 + 256 + capacity]) {
        ctl[ring / 4] = start | 0; // HEAD
        ctl[ring / 4 + 16] = start | 0; // TAIL
      }
      const a = ShmChannel.from(handles[0]);
      const b = ShmChannel.from(handles[1]);
      try {
        for (let i = 0; i < 400; i++) {
          const message = new Uint8Array(1 + ((i * 37) % 900)).fill(i & 0xff);
          expect(a.trySend(message)).toBe(true);
          await Promise.resolve(); // the deferred publish
          expect(b.tryReceive()).toEqual(message);
          expect(b.tryReceive()).toBeUndefined();
          b.trySend(message);
          await Promise.resolve();
          expect(a.tryReceive()).toEqual(message);
          expect(a.tryReceive()).toBeUndefined();
        }
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});

describe('ShmChannel room', () => {
  it('takes the largest message into a ring its peer emptied, while the peer reads nothing more', async () => {
    // The receiver gives consumed bytes back lazily; the last of what it read must be given back even when it
    // stops reading. It once was not (less than a quarter of the ring since the last hand-back), and a send
    // that needs the wrap waited until its timeout for room in an empty ring.
    const [a, b] = ShmChannel.pair({ bufferBytes: 1024, codec: rawCodec });
    try {
      for (const size of [392, 192]) {
        await a.send(new Uint8Array(size));
        expect((await b.receive()).length).toBe(size);
      }
      await a.send(new Uint8Array(a.maxMessageBytes), { timeout: 2_000 });
      expect((await b.receive()).length).toBe(a.maxMessageBytes);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe('ShmChannel.tryReceiveBytes', () => {
  it('lends a view of each message until the next receive, then gives the bytes back to the sender', async () => {
    const [a, b] = ShmChannel.pair<Uint8Array>({ bufferBytes: 1024, codec: rawCodec });
    expect(b.tryReceiveBytes()).toBeUndefined();
    // Fill the ring twice over: only works if lent frames are released.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 4; i++) expect(a.trySend(new Uint8Array(100).fill(round * 4 + i))).toBe(true);
      for (let i = 0; i < 4; i++) {
        const view = b.tryReceiveBytes()!;
        expect(view.length).toBe(100);
        expect(view.every((x) => x === round * 4 + i)).toBe(true);
      }
    }
    await a.close();
    expect(() => b.tryReceiveBytes()).toThrow(expect.objectContaining({ code: 'IPCX_ERR_CLOSED' }));
    await b.close();
  });
});
