import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import { compileC, trackChild } from '@ipcx/core/testing';
import { UdpSocket } from '@ipcx/sockets';
import { childLines, within } from './helpers.js';

const open: UdpSocket<any>[] = [];
function track<T>(s: UdpSocket<T>): UdpSocket<T> {
  open.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** Binds on `address`, or skips with a note when the host lacks it (IPv6 switched off). */
async function bindOrSkip(address: string, context: { skip(note: string): void }): Promise<UdpSocket<any>> {
  try {
    return track(await UdpSocket.bind({ address, port: 0 }));
  } catch (error) {
    if ((error as { code?: string }).code === 'IPCX_ERR_NOT_FOUND')
      context.skip(`${address} does not exist on this host: ${(error as Error).message}`);
    throw error;
  }
}

for (const [family, loopback] of [
  ['IPv4', '127.0.0.1'],
  ['IPv6', '::1'],
] as const) {
  describe(`UdpSocket over ${family} loopback`, () => {
    it('sends to an address and receives with the sender address, then replies to it', async (context) => {
      const server = await bindOrSkip(loopback, context);
      const client = track(await UdpSocket.bind({ address: loopback, port: 0 }));
      expect(server.address).toMatchObject({ address: loopback, family });
      expect(server.address.port).toBeGreaterThan(0);
      await client.send({ ping: 1 }, { to: server.address });
      const { data, from } = await server.receive({ timeout: 5000 });
      expect(data).toEqual({ ping: 1 });
      expect(from).toEqual(client.address);
      await server.send({ pong: 2 }, { to: from });
      expect((await client.receive({ timeout: 5000 })).data).toEqual({ pong: 2 });
    });

    it('exchanges datagrams with a C program', async (context) => {
      await bindOrSkip(loopback, context);
      const { binary, remove } = await compileC(new URL('./fixtures/udp-echo.c', import.meta.url), { context });
      try {
        const peer = childLines(trackChild(spawn(binary, [loopback, '2'], { stdio: ['ignore', 'pipe', 'inherit'] })));
        const port = Number(await peer.next());
        const s = track(await UdpSocket.bind<Uint8Array>({ address: loopback, port: 0 }, { codec: rawCodec }));
        await s.send(Buffer.from('first'), { to: { address: loopback, port } });
        const one = await s.receive({ timeout: 5000 });
        expect(Buffer.from(one.data).toString()).toBe('FIRST');
        expect(one.from).toEqual({ address: loopback, port, family });
        await s.connect({ address: loopback, port });
        await s.send(Buffer.from('second'));
        expect(Buffer.from((await s.receive({ timeout: 5000 })).data).toString()).toBe('SECOND');
        expect((await within(peer.exited, 10_000, 'the C peer to exit')).code).toBe(0);
      } finally {
        remove();
      }
    });

    it('talks in connected mode to a plain dgram peer and reports a port nobody listens on', async (context) => {
      await bindOrSkip(loopback, context);
      const peer = createSocket(family === 'IPv4' ? 'udp4' : 'udp6');
      await new Promise<void>((resolve) => peer.bind(0, loopback, resolve));
      try {
        const s = track(await UdpSocket.bind<Uint8Array>({ address: loopback, port: 0 }, { codec: rawCodec }));
        await s.connect({ address: loopback, port: peer.address().port });
        const got = once(peer, 'message');
        await s.send(Buffer.from('hello'));
        const [message, rinfo] = (await got) as [Buffer, { port: number }];
        expect(message.toString()).toBe('hello');
        peer.send(Buffer.from('back'), rinfo.port, loopback);
        expect(Buffer.from((await s.receive({ timeout: 5000 })).data).toString()).toBe('back');
        await expect(s.send(Buffer.from('x'), { to: { address: loopback, port: 9 } })).rejects.toBeInstanceOf(
          TypeError,
        );
      } finally {
        peer.close();
      }
      // Connected to a closed port: the kernel's ICMP answer fails a receive (or a later send) with NotFoundError.
      const lonely = track(await UdpSocket.bind<Uint8Array>({ address: loopback, port: 0 }, { codec: rawCodec }));
      const dead = createSocket(family === 'IPv4' ? 'udp4' : 'udp6');
      await new Promise<void>((resolve) => dead.bind(0, loopback, resolve));
      const deadPort = dead.address().port;
      await new Promise<void>((resolve) => dead.close(() => resolve()));
      await lonely.connect({ address: loopback, port: deadPort });
      const outcome = await (async () => {
        for (let i = 0; i < 50; i++) {
          try {
            await lonely.send(Buffer.from('anyone?'));
            return await lonely.receive({ timeout: 100 });
          } catch (error) {
            if ((error as { code?: string }).code !== 'IPCX_ERR_TIMEOUT') return error;
          }
        }
        return 'no error';
      })();
      expect(outcome).toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
    });

    it('refuses a datagram over the size limit and fails only the receive of an oversized or undecodable one', async (context) => {
      const server = await bindOrSkip(loopback, context);
      const small = track(
        await UdpSocket.bind<Uint8Array>({ address: loopback, port: 0 }, { codec: rawCodec, maxMessageBytes: 16 }),
      );
      await expect(small.send(new Uint8Array(17), { to: server.address })).rejects.toMatchObject({
        code: 'IPCX_ERR_TOO_LARGE',
      });
      expect(() => small.trySend(new Uint8Array(17), server.address)).toThrow(
        expect.objectContaining({ code: 'IPCX_ERR_TOO_LARGE' }),
      );
      const raw = track(await UdpSocket.bind<Uint8Array>({ address: loopback, port: 0 }, { codec: rawCodec }));
      await raw.send(new Uint8Array(32), { to: small.address });
      await raw.send(new Uint8Array([1, 2]), { to: small.address });
      await expect(small.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_TOO_LARGE' });
      expect([...(await small.receive({ timeout: 5000 })).data]).toEqual([1, 2]);
      await raw.send(new Uint8Array([0xd9, 0x10, 0x61]), { to: server.address });
      await raw.send(new Uint8Array([0x01]), { to: server.address });
      await expect(server.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_BAD_FRAME' });
      expect((await server.receive({ timeout: 5000 })).data).toBe(1);
      await expect(UdpSocket.bind({ address: loopback, port: 0 }, { maxMessageBytes: 70_000 })).rejects.toBeInstanceOf(
        RangeError,
      );
    });

    it('times out, aborts, ends pending receives on close, and refuses calls after close', async (context) => {
      const s = await bindOrSkip(loopback, context);
      await expect(s.receive({ timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
      await expect(s.receive({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
      expect(s.tryReceive()).toBeUndefined();
      const pending = s.receive();
      await s.close();
      await s.close();
      await expect(pending).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
      expect(() => s.trySend({}, { address: loopback, port: 9 })).toThrow(
        expect.objectContaining({ code: 'IPCX_ERR_CLOSED' }),
      );
    });
  });
}

describe('UdpSocket', () => {
  it('drops datagrams beyond receiveBufferMessages and counts them, and refuses a port in use', async () => {
    const s = track(await UdpSocket.bind<number>({ address: '127.0.0.1', port: 0 }, { receiveBufferMessages: 2 }));
    const c = track(await UdpSocket.unbound<number>());
    for (let i = 0; i < 5; i++) await c.send(i, { to: s.address });
    for (let i = 0; i < 200 && s.dropped < 3; i++) await new Promise((r) => setImmediate(r));
    expect(s.dropped).toBe(3);
    expect((await s.receive({ timeout: 1000 })).data).toBe(0);
    expect((await s.receive({ timeout: 1000 })).data).toBe(1);
    await expect(UdpSocket.bind({ address: '127.0.0.1', port: s.address.port })).rejects.toMatchObject({
      code: 'IPCX_ERR_ALREADY_EXISTS',
    });
    await expect(UdpSocket.bind({ address: 'localhost', port: 0 })).rejects.toBeInstanceOf(TypeError);
  });
});
