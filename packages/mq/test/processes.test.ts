import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageQueue } from '@ipcx/mq';
import { queueName, unlinkAll } from './helpers.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const children: ChildProcess[] = [];

function run(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

async function output(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = await once(child, 'exit');
  return { code, out };
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  unlinkAll();
});

describe('MessageQueue across processes', () => {
  it('merges senders in several processes by priority, keeping each sender order', async () => {
    const name = queueName('multi');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 10, messageSize: 32 });
    const senders = [
      ['1', 'low'],
      ['5', 'mid'],
      ['9', 'high'],
    ].map(([priority, tag]) => output(run('sender.mjs', [name, priority!, '3', tag!])));
    for (const { code } of await Promise.all(senders)) expect(code).toBe(0);
    const got: string[] = [];
    for (let i = 0; i < 9; i++) {
      const { data, priority } = await q.receive({ timeout: 5000 });
      got.push(`${Buffer.from(data).toString()}@${priority}`);
    }
    expect(got).toEqual(['high:0@9', 'high:1@9', 'high:2@9', 'mid:0@5', 'mid:1@5', 'mid:2@5', 'low:0@1', 'low:1@1', 'low:2@1']);
  });

  it('releases a sender blocked on a full queue when a receiver in another process takes a message', async () => {
    const name = queueName('block');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 32 });
    await q.send(Buffer.from('first'), { priority: 2 });
    let sent = false;
    const blocked = q.send(Buffer.from('second')).then(() => (sent = true));
    // Let the loop turn: the send must still be waiting for room, the queue still holding one message.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toBe(false);
    expect(q.attributes().currentMessages).toBe(1);
    const { code, out } = await output(run('receiver.mjs', [name]));
    expect(code).toBe(0);
    expect(out.trim()).toBe('first@2');
    await blocked;
    expect(Buffer.from((await q.receive({ timeout: 1000 })).data).toString()).toBe('second');
  });

  it('ends a receive with AbortedError when a POSIX signal aborts it in another process', async () => {
    const name = queueName('abort');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 32 });
    const child = run('abortable.mjs', [name]);
    const result = output(child);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGUSR1');
    const { code, out } = await result;
    expect(code).toBe(0);
    expect(out).toContain('IPCX_ERR_ABORTED SIGUSR1');
    expect(q.attributes().currentMessages).toBe(0);
  });
});

describe('MessageQueue with a C program', () => {
  it('exchanges messages with priorities in both directions with a peer compiled from C', async (context) => {
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-mq-c-'));
    try {
      const binary = join(dir, 'mq-peer');
      try {
        await promisify(execFile)('cc', ['-O2', '-o', binary, fixture('mq-peer.c'), '-lrt']);
      } catch (error) {
        context.skip(`no C compiler could build the peer: ${(error as Error).message}`);
      }
      const toC = queueName('toc');
      const fromC = queueName('fromc');
      await using out = MessageQueue.open(toC, { create: true, maxMessages: 4, messageSize: 64, read: false });
      await using back = MessageQueue.open(fromC, { create: true, maxMessages: 4, messageSize: 64, write: false });
      const peer = spawn(binary, [toC, fromC, '4'], { stdio: ['ignore', 'inherit', 'inherit'] });
      children.push(peer);
      const exited = once(peer, 'exit');
      for (const [text, priority] of [['job a', 3], ['job b', 7], ['job c', 0], ['job d', 7]] as const) {
        await out.send(Buffer.from(text), { priority });
      }
      const replies: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { data, priority } = await back.receive({ timeout: 5000 });
        replies.push(`${Buffer.from(data).toString()}@${priority}`);
      }
      expect((await exited)[0]).toBe(0);
      expect(replies.sort()).toEqual(['JOB A@4', 'JOB B@8', 'JOB C@1', 'JOB D@8']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
