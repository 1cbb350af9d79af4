import { existsSync, lstatSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import { UnixDatagram } from '@ipcx/sockets';
import { pendingAfterTurns } from '@ipcx/core/testing';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();

describe('UnixDatagram', () => {
  it('sends to a path, keeps message boundaries, and tells the receiver who sent', async () => {
    const serverPath = names.path('dg-server.sock');
    const clientPath = names.path('dg-client.sock');
    await using server = await UnixDatagram.bind(serverPath);
    await using client = await UnixDatagram.bind(clientPath);
    expect(lstatSync(serverPath).mode & 0o777).toBe(0o600);
    // More than the kernel queues for an unread socket (net.unix.max_dgram_qlen, 10 by default): the sender waits.
    const sending = (async () => {
      for (let i = 0; i < 50; i++)
        await client.send({ i, pad: 'x'.repeat(i * 100) }, { to: serverPath, timeout: 5000 });
    })();
    for (let i = 0; i < 50; i++) {
      const { data, from } = await server.receive({ timeout: 5000 });
      expect(data).toEqual({ i, pad: 'x'.repeat(i * 100) });
      expect(from).toBe(clientPath);
    }
    await sending;
    const { from } = await (async () => {
      await client.send('ping', { to: serverPath });
      return server.receive({ timeout: 5000 });
    })();
    await server.send('pong', { to: from! });
    expect((await client.receive({ timeout: 5000 })).data).toBe('pong');
  });

  it('works with abstract names, and unbound senders arrive without a from', async () => {
    const address = names.abstract('dg');
    await using server = await UnixDatagram.bind(address);
    await using bound = await UnixDatagram.bind(names.abstract('dg-client'));
    await using unbound = await UnixDatagram.unbound();
    await bound.send(1, { to: address });
    await unbound.send(2, { to: address });
    const a = await server.receive({ timeout: 5000 });
    const b = await server.receive({ timeout: 5000 });
    expect(a).toEqual({ data: 1, from: { abstract: bound.address!.name } });
    expect(b).toEqual({ data: 2, from: undefined });
  });

  it('refuses an oversized datagram on send, and rejects the receive of one that arrives cut', async () => {
    const address = names.abstract('dg-big');
    await using server = await UnixDatagram.bind(address, { codec: rawCodec, maxMessageBytes: 1000 });
    await using client = await UnixDatagram.unbound({ codec: rawCodec, maxMessageBytes: 5000 });
    await using strict = await UnixDatagram.unbound({ codec: rawCodec, maxMessageBytes: 1000 });
    await expect(strict.send(new Uint8Array(1001), { to: address })).rejects.toMatchObject({
      code: 'IPCX_ERR_TOO_LARGE',
    });
    await client.send(new Uint8Array(1001), { to: address });
    await client.send(new Uint8Array([1, 2, 3]), { to: address });
    await expect(server.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_TOO_LARGE' });
    expect([...(await server.receive({ timeout: 5000 })).data]).toEqual([1, 2, 3]);
  });

  it('makes a sender wait while the receiver does not read, and delivers everything in order once it does', async () => {
    const address = names.abstract('dg-full');
    await using server = await UnixDatagram.bind(address);
    await using client = await UnixDatagram.unbound();
    client.connect(address);
    let sent = 0;
    while (client.trySend(sent)) sent++;
    expect(sent).toBeGreaterThan(0);
    const waiting = client.send(sent, { timeout: 10_000 });
    const viaAddress = await UnixDatagram.unbound();
    const byTimer = viaAddress.send('extra', { to: address, timeout: 10_000 });
    expect(await pendingAfterTurns(waiting)).toBe(true);
    const seen: unknown[] = [];
    for (let i = 0; i <= sent; i++) seen.push((await server.receive({ timeout: 5000 })).data);
    await waiting;
    await byTimer;
    const rest = (await server.receive({ timeout: 5000 })).data;
    expect(seen.filter((x) => x !== 'extra').concat(rest === 'extra' ? [] : [rest])).toEqual(
      Array.from({ length: sent + 1 }, (_, i) => i),
    );
    await viaAddress.close();
  });

  it('turns missing destinations, taken names and closed sockets into typed errors, and removes its file on close', async () => {
    const path = names.path('dg-file.sock');
    const socket = await UnixDatagram.bind(path);
    await expect(UnixDatagram.bind(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    await expect(socket.send('x', { to: names.path('nobody.sock') })).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    expect(() => socket.connect(names.abstract('nobody'))).toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_NOT_FOUND' }),
    );
    await expect(socket.receive({ timeout: 10 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const pending = socket.receive();
    await socket.close();
    await expect(pending).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await expect(socket.send('x', { to: path })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(existsSync(path)).toBe(false);
  });
});
