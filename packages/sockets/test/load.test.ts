import { describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { BadFrameError, PeerGoneError, type Channel } from '@ipcx/core';
import { SeqPacketServer, UnixDatagram, UnixServer } from '@ipcx/sockets';
import { childLines, exited, killChild, spawnCode, uniqueNames } from './helpers.js';

const names = uniqueNames();

/**
 * Receives `count` messages `{ n }` from a sender in `child`, SIGKILLs it, then receives what is left until the
 * channel ends: every `n` received, and the error that ended it.
 */
async function prefixThenEnd(
  client: Channel<unknown>,
  count: number,
  child: ChildProcess,
): Promise<{ got: number[]; end: unknown }> {
  const got: number[] = [];
  while (got.length < count) got.push(((await client.receive({ timeout: 5000 })) as { n: number }).n);
  child.kill('SIGKILL');
  try {
    for (;;) got.push(((await client.receive({ timeout: 10_000 })) as { n: number }).n);
  } catch (end) {
    return { got, end };
  }
}

describe('load: every message accounted for, memory flat', () => {
  it('256 clients x 1000 messages (4 processes of 64 clients): all arrive in order, none twice, server RSS bounded', {
    timeout: 90_000,
  }, async () => {
    const path = names.path('load.sock');
    const CLIENTS_PER_PROCESS = 64;
    const PROCESSES = 4;
    const MESSAGES = 1000;
    await using server = await UnixServer.listen(path, { maxClients: 512 });
    const next = new Map<number, number>();
    const problems: string[] = [];
    let received = 0;
    const serving = (async () => {
      for await (const client of server) {
        void (async () => {
          for await (const message of client) {
            const [id, n] = message as [number, number];
            const expected = next.get(id) ?? 0;
            if (n !== expected) problems.push(`client ${id}: got ${n}, expected ${expected}`);
            next.set(id, n + 1);
            received++;
            if (n === MESSAGES - 1) await client.send(['done', n + 1]);
          }
        })();
      }
    })();
    const rss = [process.memoryUsage().rss];
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 100);
    const started = performance.now();
    const children = Array.from({ length: PROCESSES }, (_, p) =>
      spawnCode(`import { UnixSocket } from '@ipcx/sockets';
        const clients = await Promise.all(Array.from({ length: ${CLIENTS_PER_PROCESS} }, () => UnixSocket.connect(${JSON.stringify(path)}, { timeout: 20000 })));
        await Promise.all(clients.map(async (c, i) => {
          const id = ${p * CLIENTS_PER_PROCESS} + i;
          for (let n = 0; n < ${MESSAGES}; n++) await c.send([id, n]);
          const [done, count] = await c.receive({ timeout: 60000 });
          if (done !== 'done' || count !== ${MESSAGES}) throw new Error('bad ack ' + done + ' ' + count);
          await c.close();
        }));
        process.stdout.write('all acknowledged\\n');`),
    );
    // Readers attached at once: a child that finishes first must not print to nobody.
    const readers = children.map((child) => childLines(child));
    try {
      for (const reader of readers) expect(await reader.next(80_000)).toBe('all acknowledged');
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    for (const child of children) await exited(child);
    expect(problems).toEqual([]);
    expect(received).toBe(PROCESSES * CLIENTS_PER_PROCESS * MESSAGES);
    expect([...next.values()].every((n) => n === MESSAGES)).toBe(true);
    const grown = Math.max(...rss) - rss[0]!;
    console.info(
      `load: ${received} messages from 256 clients in ${seconds.toFixed(1)} s; server RSS grew at most ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(grown).toBeLessThan(256 * 1024 * 1024);
    await server.close();
    await serving;
  });

  it('delivery promise: a client SIGKILLed mid-stream leaves an in-order, duplicate-free prefix, then a typed end', async () => {
    const path = names.path('prefix.sock');
    await using server = await UnixServer.listen(path);
    const child = spawnCode(`import { UnixSocket } from '@ipcx/sockets';
      const c = await UnixSocket.connect(${JSON.stringify(path)}, { timeout: 5000 });
      process.stdout.write('connected\\n');
      for (let n = 0; ; n++) await c.send({ n, pad: 'x'.repeat(n % 300) });`);
    expect(await childLines(child).next()).toBe('connected');
    const { got, end } = await prefixThenEnd(await server.accept({ timeout: 5000 }), 2000, child);
    expect(end instanceof PeerGoneError || end instanceof BadFrameError, String(end)).toBe(true);
    expect(got).toEqual(got.map((_, i) => i));
  });

  it('delivery promise (seqpacket): a client SIGKILLed mid-stream leaves an in-order, duplicate-free prefix, then PeerGoneError', async () => {
    const path = names.path('prefix.seqpacket');
    await using server = await SeqPacketServer.listen(path);
    const child = spawnCode(`import { SeqPacketSocket } from '@ipcx/sockets';
      const c = await SeqPacketSocket.connect(${JSON.stringify(path)});
      process.stdout.write('connected\\n');
      for (let n = 0; ; n++) await c.send({ n });`);
    expect(await childLines(child).next()).toBe('connected');
    const { got, end } = await prefixThenEnd(await server.accept({ timeout: 5000 }), 500, child);
    expect(end).toBeInstanceOf(PeerGoneError);
    expect(got).toEqual(got.map((_, i) => i));
  });

  it('delivery promise (datagrams): what a killed sender sent arrives, in order, once; a dead receiver is NotFoundError', async () => {
    const path = names.path('prefix.dgram');
    await using receiver = await UnixDatagram.bind(path, { maxMessageBytes: 256 });
    const child = spawnCode(`import { UnixDatagram } from '@ipcx/sockets';
      const d = await UnixDatagram.unbound();
      d.connect(${JSON.stringify(path)});
      process.stdout.write('ready\\n');
      for (let n = 0; ; n++) await d.send(n);`);
    expect(await childLines(child).next()).toBe('ready');
    const got: number[] = [];
    while (got.length < 300) got.push((await receiver.receive({ timeout: 5000 })).data as number);
    await killChild(child);
    for (let d = receiver.tryReceive(); d !== undefined; d = receiver.tryReceive()) got.push(d.data as number);
    expect(got).toEqual(got.map((_, i) => i));
    // A receiver that died: its file stays, nobody is bound to it.
    const deadPath = names.path('dead.dgram');
    const dead = spawnCode(`import { UnixDatagram } from '@ipcx/sockets';
      await UnixDatagram.bind(${JSON.stringify(deadPath)}); process.stdout.write('bound\\n'); setInterval(() => {}, 1e6);`);
    expect(await childLines(dead).next()).toBe('bound');
    await killChild(dead);
    const sender = await UnixDatagram.unbound();
    await expect(sender.send('anyone?', { to: deadPath, timeout: 2000 })).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    await sender.close();
  });
});
