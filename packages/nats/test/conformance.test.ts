import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { rawCodec, type Channel } from '@ipcx/core';
import { describeChannelConformance, type KillablePeer } from '@ipcx/core/testing';
import { NatsChannel, NatsChannelServer } from '@ipcx/nats';
import { children, describeNats, exited, fixtures, lineFrom, natsServer, unique } from './helpers.js';

const MAX = 8192;
const CAPACITY = 16;
/** Short, so that the "peer that dies" case notices within its 4 s (5 silent intervals). */
const INTERVAL = 100;

describeNats('NatsChannel over a real nats-server', () => {
  const server = natsServer();
  const kids = children();
  let listener: NatsChannelServer<unknown>;
  let subject: string;
  beforeAll(async () => {
    subject = unique('conformance');
    listener = await NatsChannelServer.listen(subject, { servers: server().url, capacity: CAPACITY, maxMessageBytes: MAX, peerCheckInterval: INTERVAL });
  });
  afterAll(async () => {
    await listener?.close();
  });

  const connect = <T>(options: Parameters<typeof NatsChannel.connect<T>>[1] = {}): Promise<NatsChannel<T>> =>
    NatsChannel.connect<T>(subject, { servers: server().url, capacity: CAPACITY, maxMessageBytes: MAX, peerCheckInterval: INTERVAL, timeout: 5000, ...options });

  /** The server's end of a connection from a child process that echoes, for the case that SIGKILLs it. */
  async function killableClient(): Promise<KillablePeer> {
    const child = kids.spawn([join(fixtures, 'echo-client.mjs'), server().url, subject, String(INTERVAL)]);
    expect(await lineFrom(child)).toBe('ready');
    return {
      channel: await listener.accept({ timeout: 5000 }),
      kill: async () => {
        child.kill('SIGKILL');
        await exited(child);
      },
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
