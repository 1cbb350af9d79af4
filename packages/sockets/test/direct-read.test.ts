import { readdirSync } from 'node:fs';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import { until } from '@ipcx/core/testing';
import { TcpServer, TcpSocket, UnixServer, UnixSocket, type StreamChannel } from '@ipcx/sockets';
import { uniqueNames } from './helpers.js';

// The stream channels ipcx connects or accepts read their socket directly (node:net's `onread` into one reused
// buffer, see internal/direct-read.ts). These cases check what that must not change.

const names = uniqueNames();

const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

/** A message whose bytes say which one it is: `size` bytes of `i % 251`. */
const message = (i: number, size: number): Uint8Array => new Uint8Array(size).fill(i % 251);

function intact(got: Uint8Array, i: number, size: number): boolean {
  return got.length === size && got.every((b) => b === i % 251);
}

type Pair = { a: StreamChannel<Uint8Array, unknown>; b: StreamChannel<Uint8Array, unknown>; close(): Promise<void> };

const transports: [string, () => Promise<Pair>][] = [
  [
    'Unix stream',
    async () => {
      const options = { codec: rawCodec, maxMessageBytes: 1 << 20 };
      const path = names.path('direct.sock');
      const server = await UnixServer.listen(path, options);
      const a = await UnixSocket.connect(path, { ...options, timeout: 5000 });
      const b = await server.accept({ timeout: 5000 });
      return { a, b, close: () => server.close().then(() => a.close()) };
    },
  ],
  [
    'TCP',
    async () => {
      const options = { codec: rawCodec, maxMessageBytes: 1 << 20 };
      const server = await TcpServer.listen({}, options);
      const a = await TcpSocket.connect({ port: server.port }, { ...options, timeout: 5000 });
      const b = await server.accept({ timeout: 5000 });
      return { a, b, close: () => server.close().then(() => a.close()) };
    },
  ],
];

describe('descriptors of directly read sockets', () => {
  it('leaves no descriptor open once both ends of 20 connections are closed', async () => {
    const path = names.path('fds.sock');
    await using server = await UnixServer.listen(path, { codec: rawCodec });
    let before = 0;
    // The first round opens what the process keeps for good (libuv's own descriptors): count after it.
    for (let i = 0; i <= 20; i++) {
      if (i === 1) before = openDescriptors();
      const client = await UnixSocket.connect(path, { codec: rawCodec, timeout: 5000 });
      const accepted = await server.accept({ timeout: 5000 });
      await client.send(message(i, 10));
      expect(intact(await accepted.receive({ timeout: 5000 }), i, 10)).toBe(true);
      await client.close();
      await expect(accepted.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
      await accepted.close();
      if (!accepted.socket.destroyed) await once(accepted.socket, 'close');
      if (!client.socket.destroyed) await once(client.socket, 'close');
    }
    expect(openDescriptors()).toBe(before);
    expect(server.clients).toEqual([]);
  });
});

describe('clients of one server reading directly', () => {
  it('keep every message intact while their reads share one buffer', async () => {
    const path = names.path('shared.sock');
    await using server = await UnixServer.listen(path, { codec: rawCodec });
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => UnixSocket.connect(path, { codec: rawCodec, timeout: 5000 })),
    );
    try {
      const accepted = await Promise.all(clients.map(() => server.accept({ timeout: 5000 })));
      const kept: Uint8Array[][] = accepted.map(() => []);
      // Each client's messages carry its own byte; reads of the four connections interleave in every round.
      for (let round = 0; round < 10; round++) {
        clients.forEach((client, c) => {
          for (let i = 0; i < 20; i++) client.trySend(message(c, 50 + i));
        });
        for (let i = 0; i < 20; i++)
          for (const [c, channel] of accepted.entries()) kept[c]!.push(await channel.receive({ timeout: 5000 }));
      }
      expect(kept.map((got, c) => got.every((m, i) => intact(m, c, 50 + (i % 20))))).toEqual([true, true, true, true]);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});

describe('closing a directly read channel whose read-ahead is full', () => {
  it('reads and drops what the peer still sends, and ends at its FIN rather than at the linger timeout', async () => {
    const path = names.path('drain.sock');
    // The server's channels stop reading after one message and would linger a minute: far past the test's limit.
    await using server = await UnixServer.listen(path, {
      codec: rawCodec,
      receiveBufferBytes: 1,
      lingerTimeout: 60_000,
    });
    const client = await UnixSocket.connect(path, { codec: rawCodec, timeout: 5000 });
    const receiver = await server.accept({ timeout: 5000 });
    // 400 KB: more than the kernel buffers hold, so the client is still sending when the receiver closes.
    const sent = Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => client.send(message(i, 10_000), { timeout: 10_000 })),
    );
    try {
      const clientClosed = client.close(); // FIN once everything is out
      await until(() => receiver.socket.isPaused(), 5000, 'the receiver to stop reading');
      const gone = once(receiver.socket, 'close');
      await receiver.close();
      await gone;
      await clientClosed;
      expect((await sent).every((r) => r.status === 'fulfilled')).toBe(true);
    } finally {
      client.destroy();
    }
  });
});

describe.each(transports)('%s channel reading its socket directly', (_name, open) => {
  it('keeps every received message intact while later reads reuse the read buffer', async () => {
    const pair = await open();
    try {
      const kept: Uint8Array[] = [];
      // Rounds of many small messages, each round read (and the buffer reused) while the earlier ones are held.
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 50; i++) pair.a.trySend(message(round * 50 + i, 100));
        for (let i = 0; i < 50; i++) kept.push(await pair.b.receive({ timeout: 5000 }));
      }
      expect(kept.every((got, i) => intact(got, i, 100))).toBe(true);
    } finally {
      await pair.close();
    }
  });

  it('delivers messages larger than the read buffer whole, in both directions', async () => {
    const pair = await open();
    try {
      const sizes = [200_000, 65_536, 65_535, 1, 300_000];
      const sent = Promise.all(sizes.map((size, i) => pair.a.send(message(i, size), { timeout: 5000 })));
      const got: Uint8Array[] = [];
      for (let i = 0; i < sizes.length; i++) got.push(await pair.b.receive({ timeout: 5000 }));
      await sent;
      expect(got.map((m, i) => intact(m, i, sizes[i]!))).toEqual(sizes.map(() => true));
      await pair.b.send(message(7, 150_000));
      expect(intact(await pair.a.receive({ timeout: 5000 }), 7, 150_000)).toBe(true);
    } finally {
      await pair.close();
    }
  });

  it('ends with ClosedError after the last message when the peer closes', async () => {
    const pair = await open();
    try {
      pair.a.trySend(message(1, 10));
      await pair.a.close();
      expect(intact(await pair.b.receive({ timeout: 5000 }), 1, 10)).toBe(true);
      await expect(pair.b.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    } finally {
      await pair.close();
    }
  });
});
