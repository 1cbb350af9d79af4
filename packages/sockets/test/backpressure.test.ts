import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { msgpackCodec, rawCodec } from '@ipcx/core';
import { UnixServer, UnixSocket } from '@ipcx/sockets';
import { pendingAfterTurns } from '@ipcx/core/testing';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();

describe('backpressure', () => {
  it('fills the kernel buffers, then trySend says false and send waits until the receiver reads; nothing is lost or reordered', async () => {
    const path = names.path('bp.sock');
    await using server = await UnixServer.listen(path, { codec: rawCodec });
    await using client = await UnixSocket.connect(path, { codec: rawCodec, sendBufferBytes: 64 * 1024, timeout: 5000 });
    const receiver = await server.accept({ timeout: 5000 });

    const message = (i: number): Uint8Array => {
      const bytes = new Uint8Array(64);
      new DataView(bytes.buffer).setUint32(0, i);
      return bytes;
    };
    let sent = 0;
    // Fill in rounds: each round lets the batch reach the kernel, until the kernel is full too.
    for (let round = 0; round < 1000; round++) {
      while (client.trySend(message(sent))) sent++;
      await nextTurn();
      if (!client.trySend(message(sent))) break;
      sent++;
    }
    expect(client.trySend(message(sent))).toBe(false);
    expect(client.writableLength).toBeGreaterThanOrEqual(64 * 1024);
    // Far more than our own queue: the kernel's buffers on both ends are full as well.
    expect(sent * 68).toBeGreaterThan(3 * 64 * 1024);

    const waiting = client.send(message(sent), { timeout: 10_000 });
    expect(await pendingAfterTurns(waiting)).toBe(true);
    for (let i = 0; i <= sent; i++) {
      const got = (await receiver.receive({ timeout: 5000 })) as Uint8Array;
      expect(new DataView(got.buffer, got.byteOffset).getUint32(0)).toBe(i);
    }
    await waiting;
  });

  it('a send that waits keeps its own copy of the encoding, whatever the codec encodes meanwhile', async () => {
    const path = names.path('copy.sock');
    await using server = await UnixServer.listen(path);
    await using client = await UnixSocket.connect(path, { sendBufferBytes: 16 * 1024, timeout: 5000 });
    const receiver = await server.accept({ timeout: 5000 });
    const filler = 'f'.repeat(4000);
    let sent = 0;
    // Fill our queue and the kernel's buffers, as the first test does, until a send has to wait.
    for (let round = 0; round < 1000; round++) {
      while (client.trySend(filler)) sent++;
      await nextTurn();
      if (!client.trySend(filler)) break;
      sent++;
    }
    // encodeInto moves msgpackr back to the start of its own buffer, so the next encodes land there.
    msgpackCodec.encodeInto({ other: 'x'.repeat(3000) }, new Uint8Array(4096));
    const waiting = client.send({ keep: 'me', n: 7 }, { timeout: 5000 });
    expect(await pendingAfterTurns(waiting, 1)).toBe(true);
    msgpackCodec.encodeInto({ other: 'x'.repeat(3000) }, new Uint8Array(4096));
    msgpackCodec.encode({ overwrite: 'y'.repeat(200) });
    for (let i = 0; i < sent; i++) expect(await receiver.receive({ timeout: 5000 })).toBe(filler);
    expect(await receiver.receive({ timeout: 5000 })).toEqual({ keep: 'me', n: 7 });
    await waiting;
  });

  it('coalesces many small messages into few writes', async () => {
    const path = names.path('batch.sock');
    await using server = await UnixServer.listen(path);
    await using client = await UnixSocket.connect(path, { timeout: 5000 });
    const receiver = await server.accept({ timeout: 5000 });
    let writes = 0;
    const socket = client.socket;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    (socket as { write: unknown }).write = (...args: unknown[]) => {
      writes++;
      return write(...args);
    };
    const n = 10_000;
    const receiving = (async () => {
      for (let i = 0; i < n; i++) expect(await receiver.receive({ timeout: 5000 })).toEqual({ i });
    })();
    for (let i = 0; i < n; i++) await client.send({ i });
    await receiving;
    // About 10 bytes a message: one write per 64 KiB batch or per tick, not one per message.
    expect(writes).toBeLessThan(50);
  });

  it('carries a message larger than the high-water mark, and refuses one over maxMessageBytes with TooLargeError', async () => {
    const path = names.path('big.sock');
    await using server = await UnixServer.listen(path, { codec: rawCodec, maxMessageBytes: 4 << 20 });
    await using client = await UnixSocket.connect(path, {
      codec: rawCodec,
      maxMessageBytes: 4 << 20,
      sendBufferBytes: 1024,
      timeout: 5000,
    });
    const receiver = await server.accept({ timeout: 5000 });
    const big = new Uint8Array(3 << 20).map((_, i) => i * 7);
    const receiving = receiver.receive({ timeout: 10_000 });
    await client.send(big, { timeout: 10_000 });
    expect(Buffer.compare(Buffer.from((await receiving) as Uint8Array), Buffer.from(big))).toBe(0);
    const over = new Uint8Array((4 << 20) + 1);
    await expect(client.send(over)).rejects.toMatchObject({ code: 'IPCX_ERR_TOO_LARGE' });
    expect(() => client.trySend(over)).toThrow(expect.objectContaining({ code: 'IPCX_ERR_TOO_LARGE' }));
    await client.send(new Uint8Array([1, 2, 3]));
    expect([...((await receiver.receive({ timeout: 5000 })) as Uint8Array)]).toEqual([1, 2, 3]);
  });

  it('fails a send waiting for room with PeerGoneError when the peer goes away', async () => {
    const path = names.path('gone.sock');
    const server = await UnixServer.listen(path, { codec: rawCodec });
    const client = await UnixSocket.connect(path, { codec: rawCodec, sendBufferBytes: 1024, timeout: 5000 });
    const receiver = await server.accept({ timeout: 5000 });
    const chunk = new Uint8Array(16 * 1024);
    for (let round = 0; round < 1000 && client.trySend(chunk); round++) await nextTurn();
    const waiting = client.send(chunk);
    expect(await pendingAfterTurns(waiting)).toBe(true);
    receiver.destroy();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await expect(client.send(chunk)).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await client.close();
    await server.close();
  });
});
