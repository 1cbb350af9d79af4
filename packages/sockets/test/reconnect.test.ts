import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { UnixServer, UnixSocket } from '@ipcx/sockets';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();

describe('reconnecting clients', () => {
  it('retries the first connection until the server appears', async () => {
    const path = names.path('late.sock');
    const connecting = UnixSocket.connect(path, {
      reconnect: { retries: 100, minDelay: 5, maxDelay: 20 },
      timeout: 10_000,
    });
    await using server = await UnixServer.listen(path);
    await using client = await connecting;
    expect(client.connected).toBe(true);
    await client.send('hello');
    expect(await (await server.accept({ timeout: 5000 })).receive({ timeout: 5000 })).toBe('hello');
  });

  it('redials when the server restarts; send and receive wait for the new connection', async () => {
    const path = names.path('restart.sock');
    let server = await UnixServer.listen(path);
    const reconnected: number[] = [];
    await using client = await UnixSocket.connect(path, {
      reconnect: { retries: 100, minDelay: 5, maxDelay: 20, onReconnect: (n) => reconnected.push(n) },
      timeout: 5000,
    });
    const first = await server.accept({ timeout: 5000 });
    await first.send('before');
    expect(await client.receive({ timeout: 5000 })).toBe('before');
    const receiving = client.receive({ timeout: 10_000 });
    await server.close();
    server = await UnixServer.listen(path);
    try {
      const second = await server.accept({ timeout: 10_000 });
      await second.send('after');
      expect(await receiving).toBe('after');
      await client.send('me too', { timeout: 5000 });
      expect(await second.receive({ timeout: 5000 })).toBe('me too');
      expect(client.reconnects).toBe(1);
      expect(reconnected).toEqual([1]);
    } finally {
      await server.close();
    }
  });

  it('gives up after its retries with PeerGoneError, and a send times out meanwhile', async () => {
    const path = names.path('gone.sock');
    const server = await UnixServer.listen(path);
    const client = await UnixSocket.connect(path, {
      reconnect: { retries: 3, minDelay: 20, maxDelay: 20 },
      timeout: 5000,
    });
    await server.accept({ timeout: 5000 });
    const receiving = client.receive({ timeout: 10_000 });
    await server.close();
    await expect(receiving).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    expect(client.closed).toBe(true);
    await expect(client.send('x')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await client.close();
    await expect(client.send('x')).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('hands a bad frame to the caller instead of redialling a server that sends garbage', async () => {
    const path = names.path('garbage.sock');
    let connections = 0;
    // An absurd frame: length 3, then bytes msgpack cannot read.
    const server = net.createServer((socket) => {
      connections++;
      socket.end(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]));
    });
    server.listen(path);
    await once(server, 'listening');
    try {
      await using client = await UnixSocket.connect(path, {
        reconnect: { retries: 3, minDelay: 50, maxDelay: 50 },
        timeout: 5000,
      });
      await expect(client.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_BAD_FRAME' });
      expect(connections).toBe(1);
    } finally {
      server.close();
    }
  });

  it('fails the first connection after its retries with the last error', async () => {
    await expect(
      UnixSocket.connect(names.path('never.sock'), { reconnect: { retries: 2, minDelay: 1 } }),
    ).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    await expect(
      UnixSocket.connect(names.path('never.sock'), { reconnect: { retries: 1000, minDelay: 10 }, timeout: 50 }),
    ).rejects.toMatchObject({
      code: 'IPCX_ERR_TIMEOUT',
    });
  });
});
