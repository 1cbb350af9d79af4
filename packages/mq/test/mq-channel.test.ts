import { afterEach, describe, expect, it } from 'vitest';
import { rawCodec, request, serve } from '@ipcx/core';
import {
  childLines,
  describeChannelConformance,
  killChild,
  killTrackedChildren,
  spawnNode,
  within,
  type KillablePeer,
} from '@ipcx/core/testing';
import { MessageQueue, MqChannel, TypedMessageQueue } from '@ipcx/mq';
import { queueName, unlinkAll } from './helpers.js';

afterEach(async () => {
  await killTrackedChildren();
  await unlinkAll();
});

/** This end of a duplex channel, the other end echoing in a child process the suite may kill. */
async function killablePeer(): Promise<KillablePeer> {
  const name = queueName('conf-kill');
  const channel = await MqChannel.create(name, { capacity: 5, maxMessageBytes: 1024, peerCheckInterval: 20 });
  const child = spawnNode([new URL('./fixtures/duplex-echo.mjs', import.meta.url).pathname, name]);
  expect(await childLines(child).next()).toBe('ready');
  return {
    channel,
    kill: () => killChild(child),
  };
}

describeChannelConformance(
  'MqChannel duplex',
  async () => {
    const name = queueName('conf');
    const a = await MqChannel.create(name, { capacity: 5, maxMessageBytes: 1024 });
    return [a, await MqChannel.open(name)];
  },
  {
    capacity: 5,
    maxMessageBytes: 1024,
    killablePeer,
    garbagePeer: async () => {
      const name = queueName('conf-garbage');
      const receiver = await MqChannel.create(name, { capacity: 5, maxMessageBytes: 1024 });
      return [receiver, await MqChannel.open(name, { codec: rawCodec })];
    },
  },
);

describe('MqChannel', () => {
  it('carries request/serve from core', async () => {
    const name = queueName('rpc');
    await using client = await MqChannel.create(name, { capacity: 4, maxMessageBytes: 256 });
    await using server = await MqChannel.open(name);
    const serving = serve<{ a: number; b: number }, number>(server, ({ a, b }) => a * b);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request<number>(client, { a: i, b: 3 }, { timeout: 5000 })),
    );
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
    await client.close();
    await serving;
  });

  it('a TypedMessageQueue takes messages from several senders in priority order', async () => {
    const name = queueName('fan');
    await using receiver = await TypedMessageQueue.create<string>(name, {
      capacity: 8,
      maxMessageBytes: 64,
      write: false,
    });
    await using low = await TypedMessageQueue.open<string>(name, { read: false, priority: 1 });
    await using high = await TypedMessageQueue.open<string>(name, { read: false, priority: 7 });
    await low.send('l1');
    await low.send('l2');
    await high.send('h1');
    await low.send('urgent', { priority: 9 });
    const got = [
      await receiver.receive(),
      await receiver.receive(),
      await receiver.receive(),
      await receiver.receive(),
    ];
    expect(got).toEqual(['urgent', 'h1', 'l1', 'l2']);
  });

  it('turns closed once the other end closed and what it sent was received; a send after that is PeerGoneError', async () => {
    const name = queueName('ended');
    await using a = await MqChannel.create<string>(name, { capacity: 4, maxMessageBytes: 64 });
    const b = await MqChannel.open<string>(name);
    await b.send('last words');
    await b.close();
    expect(a.closed).toBe(false);
    await expect(a.send('to nobody')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    expect(await a.receive({ timeout: 1000 })).toBe('last words');
    await expect(a.receive({ timeout: 1000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(a.closed).toBe(true);
  });

  it("destroy rejects a send waiting for room with its error and unlinks the creator's queues", async () => {
    const name = queueName('destroy');
    const a = await MqChannel.create<string>(name, { capacity: 1, maxMessageBytes: 64 });
    await using b = await MqChannel.open<string>(name);
    await a.send('fills');
    const stuck = a.send('waits');
    const reason = new Error('stop');
    a.destroy(reason);
    await expect(stuck).rejects.toBe(reason);
    expect(a.closed).toBe(true);
    expect(await MessageQueue.unlink(`${name}.0`)).toBe(false);
    expect(await b.receive({ timeout: 1000 })).toBe('fills'); // an open end keeps what was there
  });

  it('close() with a peer that does not read waits lingerTimeout, then the waiting send is ClosedError', async () => {
    const name = queueName('linger');
    const a = await MqChannel.create<string>(name, { capacity: 1, maxMessageBytes: 64, lingerTimeout: 50 });
    await using _b = await MqChannel.open<string>(name);
    await a.send('fills');
    const stuck = a.send('waits', { timeout: 60_000 });
    const outcome = stuck.catch((error: unknown) => error);
    await within(a.close(), 10_000, 'close() bounded by lingerTimeout');
    expect(await outcome).toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('refuses a bad lingerTimeout before any queue exists', async () => {
    const name = queueName('linger-option');
    for (const lingerTimeout of [-1, 1.5, Number.NaN, 2 ** 31]) {
      await expect(MqChannel.create(name, { lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
      await expect(MessageQueue.create(name, { lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
    }
    expect(await MessageQueue.unlink(name)).toBe(false);
    expect(await MessageQueue.unlink(`${name}.0`)).toBe(false);
  });

  it('refuses a bad peerCheckInterval before any queue exists', async () => {
    const name = queueName('interval');
    for (const peerCheckInterval of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(MqChannel.create(name, { peerCheckInterval })).rejects.toThrow(RangeError);
    }
    expect(await MessageQueue.unlink(`${name}.0`)).toBe(false);
    expect(await MessageQueue.unlink(`${name}.1`)).toBe(false);
  });
});
