import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rawCodec, type Channel } from '@ipcx/core';
import { describeChannelConformance, type KillablePeer } from '@ipcx/core/testing';
import { NatsChannel, NatsChannelServer } from '@ipcx/nats';
import { childLines, describeNats, fixtures, killChild, natsServer, spawnNode, uniqueName, within } from './helpers.js';

const MAX = 8192;
const CAPACITY = 16;
/** Short, so that the "peer that dies" case notices within its 4 s (5 silent intervals). */
const INTERVAL = 100;

describeNats('NatsChannel over a real nats-server', () => {
  const server = natsServer();
  let listener: NatsChannelServer<unknown>;
  let subject: string;
  beforeAll(async () => {
    subject = uniqueName('conformance');
    listener = await NatsChannelServer.listen(subject, {
      servers: server().url,
      capacity: CAPACITY,
      maxMessageBytes: MAX,
      peerCheckInterval: INTERVAL,
    });
  });
  afterAll(async () => {
    await listener?.close();
  });

  const connect = <T>(options: Parameters<typeof NatsChannel.connect<T>>[1] = {}): Promise<NatsChannel<T>> =>
    NatsChannel.connect<T>(subject, {
      servers: server().url,
      capacity: CAPACITY,
      maxMessageBytes: MAX,
      peerCheckInterval: INTERVAL,
      timeout: 5000,
      ...options,
    });

  /** The server's end of a connection from a child process that echoes, for the case that SIGKILLs it. */
  async function killableClient(): Promise<KillablePeer> {
    const child = spawnNode([join(fixtures, 'echo-client.mjs'), server().url, subject, String(INTERVAL)]);
    expect(await childLines(child).next()).toBe('ready');
    return {
      channel: await listener.accept({ timeout: 5000 }),
      kill: () => killChild(child),
    };
  }

  describeChannelConformance(
    'NatsChannel',
    async () => {
      const client = await connect();
      const accepted = await listener.accept({ timeout: 5000 });
      return [client, accepted];
    },
    {
      maxMessageBytes: MAX,
      capacity: CAPACITY,
      killablePeer: killableClient,
      garbagePeer: async (): Promise<[Channel<unknown>, Channel<Uint8Array>]> => {
        const raw = await connect<Uint8Array>({ codec: rawCodec });
        return [await listener.accept({ timeout: 5000 }), raw];
      },
    },
  );
});

describeNats('NatsChannel.connect and NatsChannelServer', () => {
  const server = natsServer();

  it('after the peer closed, a send is PeerGoneError and closed turns true once what it sent was received', async () => {
    const subject = uniqueName('peer-closed');
    const listener = await NatsChannelServer.listen<string>(subject, { servers: server().url });
    const client = await NatsChannel.connect<string>(subject, { servers: server().url, timeout: 5000 });
    try {
      const accepted = await listener.accept({ timeout: 5000 });
      await accepted.send('last');
      await accepted.close();
      expect(await client.receive({ timeout: 5000 })).toBe('last');
      await expect(client.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
      expect(client.closed).toBe(true);
      await expect(client.send('late')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    } finally {
      client.destroy();
      await listener.close();
    }
  });

  it('close lets a send waiting for room go out first; destroy rejects it', async () => {
    const subject = uniqueName('drain');
    const listener = await NatsChannelServer.listen<number>(subject, { servers: server().url, capacity: 1 });
    const client = await NatsChannel.connect<number>(subject, { servers: server().url, capacity: 1, timeout: 5000 });
    try {
      const accepted = await listener.accept({ timeout: 5000 });
      await client.send(1);
      const waiting = client.send(2); // no room until the peer reads
      const closing = client.close();
      expect(await accepted.receive({ timeout: 5000 })).toBe(1);
      expect(await accepted.receive({ timeout: 5000 })).toBe(2);
      await within(waiting, 5000, 'the waiting send');
      await within(closing, 5000, 'close');
      const other = await NatsChannel.connect<number>(subject, { servers: server().url, capacity: 1, timeout: 5000 });
      await other.send(1);
      const dropped = other.send(2);
      other.destroy(new Error('gone now'));
      await expect(dropped).rejects.toThrow('gone now');
    } finally {
      client.destroy();
      await listener.close();
    }
  });

  it('connect fails with NotFoundError when nobody listens, and ends at its signal', async () => {
    const subject = uniqueName('nobody');
    await expect(NatsChannel.connect(subject, { servers: server().url, timeout: 2000 })).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    await expect(
      NatsChannel.connect(subject, { servers: server().url, signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    await expect(NatsChannel.connect('bad subject', { servers: server().url })).rejects.toMatchObject({
      code: 'IPCX_ERR_INVALID_NAME',
    });
    await expect(NatsChannel.connect('a.>', { servers: server().url })).rejects.toMatchObject({
      code: 'IPCX_ERR_INVALID_NAME',
    });
    await expect(NatsChannel.connect(subject, { servers: server().url, capacity: 0 })).rejects.toThrow(RangeError);
    for (const lingerTimeout of [-1, 1.5, Number.NaN]) {
      await expect(NatsChannel.connect(subject, { servers: server().url, lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
      await expect(NatsChannelServer.listen(subject, { servers: server().url, lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
    }
  });

  it('servers in one queue group share the connections, and close ends accept and every accepted channel', async () => {
    const subject = uniqueName('group');
    const a = await NatsChannelServer.listen<string>(subject, { servers: server().url });
    const b = await NatsChannelServer.listen<string>(subject, { servers: server().url });
    const clients: NatsChannel<string>[] = [];
    try {
      for (let i = 0; i < 20; i++)
        clients.push(await NatsChannel.connect<string>(subject, { servers: server().url, timeout: 5000 }));
      const taken: NatsChannel<string>[] = [];
      const drain = async (s: NatsChannelServer<string>): Promise<void> => {
        for (;;) {
          const channel = await s.accept({ timeout: 300 }).catch(() => undefined);
          if (!channel) return;
          taken.push(channel);
        }
      };
      const before = taken.length;
      await drain(a);
      const fromA = taken.length - before;
      await drain(b);
      expect(taken.length).toBe(20);
      expect(fromA).toBeGreaterThan(0);
      expect(fromA).toBeLessThan(20);
      // Each accepted channel talks to its own client.
      await clients[0]!.send('hello');
      const received = await Promise.any(taken.map((c) => c.receive({ timeout: 2000 })));
      expect(received).toBe('hello');
      const pending = a.accept();
      await a.close();
      await expect(pending).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
      await a.close();
      expect(taken.filter((c) => c.closed).length).toBe(fromA);
    } finally {
      await Promise.all([...clients.map((c) => c.close()), a.close(), b.close()]);
    }
  });
});
