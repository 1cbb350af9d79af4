import { describe, expect, it } from 'vitest';
import { MemoryChannel, msgpackCodec, rawCodec } from '@ipcx/core';
import { describeChannelConformance } from '@ipcx/core/testing';

describeChannelConformance('memory (msgpack)', () => MemoryChannel.pair({ capacity: 8, maxMessageBytes: 4096 }), {
  capacity: 8,
  maxMessageBytes: 4096,
});

describeChannelConformance(
  'memory (raw bytes)',
  () => MemoryChannel.pair({ capacity: 3, codec: rawCodec, maxMessageBytes: 100 }),
  {
    encoding: 'bytes',
    capacity: 3,
    maxMessageBytes: 100,
  },
);

describe('MemoryChannel.pair', () => {
  it('gives each end its own copy of a message', async () => {
    const [a, b] = MemoryChannel.pair<{ list: number[] }>();
    const sent = { list: [1] };
    await a.send(sent);
    sent.list.push(2);
    expect(await b.receive()).toEqual({ list: [1] });
  });

  it('rejects a send waiting for room with PeerGoneError when the peer closes', async () => {
    const [a, b] = MemoryChannel.pair({ capacity: 1 });
    await a.send(1);
    const waiting = a.send(2);
    await b.close();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await expect(a.send(3)).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it('refuses a capacity below one', () => {
    expect(() => MemoryChannel.pair({ capacity: 0 })).toThrow(RangeError);
  });
});

describe('a send that waits for room', () => {
  it('keeps its own copy of the encoding: later encodes by the same codec cannot change it', async () => {
    const [a, b] = MemoryChannel.pair({ capacity: 1 });
    // encodeInto moves msgpackr back to the start of its own buffer, so the next encodes land there.
    msgpackCodec.encodeInto({ other: 'x'.repeat(3000) }, new Uint8Array(4096));
    await a.send('first');
    const waiting = a.send({ second: 'message', n: 2 });
    msgpackCodec.encodeInto({ other: 'x'.repeat(3000) }, new Uint8Array(4096));
    msgpackCodec.encode({ overwrite: 'y'.repeat(200) });
    expect(await b.receive()).toBe('first');
    await waiting;
    expect(await b.receive()).toEqual({ second: 'message', n: 2 });
    await a.close();
    await b.close();
  });
});

describe('for await over a memory channel', () => {
  it('yields a message that decodes to undefined (the fast path tells it from no message)', async () => {
    const [a, b] = MemoryChannel.pair();
    await a.send(1);
    await a.send(undefined);
    await a.send(3);
    await a.close();
    const seen: unknown[] = [];
    for await (const m of b) seen.push(m);
    expect(seen).toEqual([1, undefined, 3]);
  });

  it('takes what is there without calling receive, and waits in receive only when empty', async () => {
    const [a, b] = MemoryChannel.pair();
    // The iterator waits in `waitForNext` (a receive that settles the iterator's result itself), never `receive`.
    let receives = 0;
    let waits = 0;
    const receive = b.receive.bind(b);
    b.receive = (options) => (receives++, receive(options));
    const waiting = b as unknown as { waitForNext: (...args: unknown[]) => Promise<unknown> };
    const waitForNext = waiting.waitForNext.bind(b);
    waiting.waitForNext = (...args) => (waits++, waitForNext(...args));
    for (let i = 0; i < 10; i++) await a.send(i);
    const seen: unknown[] = [];
    for await (const m of b) {
      seen.push(m);
      if (seen.length === 10) break;
    }
    expect(waits).toBe(0);
    const next = (async () => {
      for await (const m of b) return m;
    })();
    await a.send('late');
    expect(await next).toBe('late');
    expect(waits).toBe(1);
    expect(receives).toBe(0);
    await a.close();
  });
});
