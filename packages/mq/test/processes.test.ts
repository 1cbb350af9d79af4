import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import {
  childLines,
  compileC,
  exited,
  killChild,
  killTrackedChildren,
  pendingAfterTurns,
  spawnNode,
  trackChild,
} from '@ipcx/core/testing';
import { MessageQueue, MqChannel } from '@ipcx/mq';
import { queueName, unlinkAll } from './helpers.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;
function run(name: string, args: string[]): ChildProcess {
  return spawnNode([fixture(name), ...args]);
}

afterEach(async () => {
  await killTrackedChildren();
  await unlinkAll();
});

describe('MessageQueue across processes', () => {
  it('merges senders in several processes by priority, keeping each sender order', async () => {
    const name = queueName('multi');
    await using q = await MessageQueue.create(name, { capacity: 10, maxMessageBytes: 32 });
    const senders = [
      ['1', 'low'],
      ['5', 'mid'],
      ['9', 'high'],
    ].map(([priority, tag]) => exited(run('sender.mjs', [name, priority!, '3', tag!])));
    for (const { code } of await Promise.all(senders)) expect(code).toBe(0);
    const got: string[] = [];
    for (let i = 0; i < 9; i++) {
      const { data, priority } = await q.receive({ timeout: 5000 });
      got.push(`${Buffer.from(data).toString()}@${priority}`);
    }
    expect(got).toEqual([
      'high:0@9',
      'high:1@9',
      'high:2@9',
      'mid:0@5',
      'mid:1@5',
      'mid:2@5',
      'low:0@1',
      'low:1@1',
      'low:2@1',
    ]);
  });

  it('releases a sender blocked on a full queue when a receiver in another process takes a message', async () => {
    const name = queueName('block');
    await using q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 32 });
    await q.send(Buffer.from('first'), { priority: 2 });
    const blocked = q.send(Buffer.from('second'));
    // The send must still be waiting for room after the loop turned, the queue still holding one message.
    expect(await pendingAfterTurns(blocked)).toBe(true);
    expect(q.attributes().currentMessages).toBe(1);
    const { code, stdout: out } = await exited(run('receiver.mjs', [name]));
    expect(code).toBe(0);
    expect(out.trim()).toBe('first@2');
    await blocked;
    expect(Buffer.from((await q.receive({ timeout: 1000 })).data).toString()).toBe('second');
  });

  it('ends a receive with AbortedError when a POSIX signal aborts it in another process', async () => {
    const name = queueName('abort');
    await using q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 32 });
    const child = run('abortable.mjs', [name]);
    expect(await childLines(child).next()).toBe('ready');
    child.kill('SIGUSR1');
    const { code, stdout: out } = await exited(child);
    expect(code).toBe(0);
    expect(out).toContain('IPCX_ERR_ABORTED SIGUSR1');
    expect(q.attributes().currentMessages).toBe(0);
  });
});

/** Starts one end of a duplex channel in a child process; resolves once it is up (and has sent `messages`). */
async function startEnd(role: 'create' | 'open', name: string, ...messages: string[]): Promise<ChildProcess> {
  const child = run('duplex-end.mjs', [role, name, ...messages]);
  expect(await childLines(child).next()).toBe('ready');
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  await killChild(child);
}

describe('MqChannel when the other end dies', () => {
  it('delivers what a killed opening end sent, then fails the waiting receive with PeerGoneError', async () => {
    const name = queueName('gone-opener');
    await using channel = await MqChannel.create<string>(name, {
      capacity: 4,
      maxMessageBytes: 64,
      peerCheckInterval: 20,
    });
    const first = channel.receive({ timeout: 10_000 }); // waiting before the other end exists: not an error
    first.catch(() => {}); // (awaited below; a failing startEnd must not leave it unhandled)
    const child = await startEnd('open', name, 'one', 'two');
    expect(await first).toBe('one');
    await kill(child);
    expect(await channel.receive({ timeout: 10_000 })).toBe('two'); // sent before it died: still delivered
    await expect(channel.receive({ timeout: 10_000 })).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await expect(channel.send('anyone?')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it("fails the opening end's waiting receive with PeerGoneError when the creator is killed", async () => {
    const name = queueName('gone-creator');
    const child = await startEnd('create', name);
    await using channel = await MqChannel.open<string>(name, { peerCheckInterval: 20 });
    const waiting = expect(channel.receive({ timeout: 10_000 })).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await kill(child);
    await waiting;
  });

  it('fails a send waiting for room with PeerGoneError when the receiving end is killed', async () => {
    const name = queueName('gone-full');
    await using channel = await MqChannel.create<string>(name, {
      capacity: 1,
      maxMessageBytes: 64,
      peerCheckInterval: 20,
    });
    const child = await startEnd('open', name);
    await channel.send('fills the queue');
    const blocked = expect(channel.send('waits for room', { timeout: 10_000 })).rejects.toMatchObject({
      code: 'IPCX_ERR_PEER_GONE',
    });
    await kill(child);
    await blocked;
  });

  it('refuses a second creator or opener while the first lives, and takes over the queues of a creator that died', async () => {
    const name = queueName('owners');
    {
      await using a = await MqChannel.create<string>(name, { capacity: 2, maxMessageBytes: 64 });
      await expect(MqChannel.create(name)).rejects.toThrow(
        expect.objectContaining({ code: 'IPCX_ERR_ALREADY_EXISTS' }),
      );
      await using b = await MqChannel.open<string>(name);
      await expect(MqChannel.open(name)).rejects.toThrow(expect.objectContaining({ code: 'IPCX_ERR_ALREADY_EXISTS' }));
      await a.send('still one pair');
      expect(await b.receive({ timeout: 1000 })).toBe('still one pair');
    }
    const dead = await startEnd('create', name);
    await kill(dead); // leaves its queues behind
    await using creator = await MqChannel.create<string>(name, { capacity: 4, maxMessageBytes: 64, exclusive: false });
    await using opener = await MqChannel.open<string>(name);
    await opener.send('taken over');
    expect(await creator.receive({ timeout: 1000 })).toBe('taken over');
  });
});

describe('MessageQueue with a C program', () => {
  it('exchanges messages with priorities in both directions with a peer compiled from C', async (context) => {
    const { binary, remove } = await compileC(new URL('./fixtures/mq-peer.c', import.meta.url), {
      libraries: ['-lrt'],
      context,
    });
    try {
      const toC = queueName('toc');
      const fromC = queueName('fromc');
      await using out = await MessageQueue.create(toC, { capacity: 4, maxMessageBytes: 64, read: false });
      await using back = await MessageQueue.create(fromC, { capacity: 4, maxMessageBytes: 64, write: false });
      const peer = trackChild(spawn(binary, [toC, fromC, '4'], { stdio: ['ignore', 'inherit', 'inherit'] }));
      for (const [text, priority] of [
        ['job a', 3],
        ['job b', 7],
        ['job c', 0],
        ['job d', 7],
      ] as const) {
        await out.send(Buffer.from(text), { priority });
      }
      const replies: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { data, priority } = await back.receive({ timeout: 5000 });
        replies.push(`${Buffer.from(data).toString()}@${priority}`);
      }
      expect((await exited(peer)).code).toBe(0);
      expect(replies.sort()).toEqual(['JOB A@4', 'JOB B@8', 'JOB C@1', 'JOB D@8']);

      // A C program as the other end of a duplex channel takes no lock: it is never reported gone,
      // and a receive after it exits ends by its timeout.
      const name = queueName('cduplex');
      await using channel = await MqChannel.create<Uint8Array>(name, {
        capacity: 4,
        maxMessageBytes: 64,
        codec: rawCodec,
        peerCheckInterval: 10,
      });
      const duplexPeer = trackChild(
        spawn(binary, [`${name}.0`, `${name}.1`, '1'], { stdio: ['ignore', 'inherit', 'inherit'] }),
      );
      await channel.send(Buffer.from('ping'));
      expect(Buffer.from(await channel.receive({ timeout: 5000 })).toString()).toBe('PING');
      expect((await exited(duplexPeer)).code).toBe(0);
      await expect(channel.receive({ timeout: 100 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    } finally {
      remove();
    }
  });
});
