import { afterEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ClosedError,
  InvalidNameError,
  LimitError,
  NotFoundError,
  TooLargeError,
} from '@ipcx/core';
import { MessageQueue } from '@ipcx/mq';
import { queueName, unlinkAll } from './helpers.js';

afterEach(unlinkAll);

const bytes = (text: string): Uint8Array => Buffer.from(text);
const text = (data: Uint8Array): string => Buffer.from(data).toString();

describe('MessageQueue', () => {
  it('hands out the highest priority first and the oldest first within a priority', async () => {
    const name = queueName('prio');
    await using q = await MessageQueue.create(name, { capacity: 8, maxMessageBytes: 64 });
    for (const [m, p] of [
      ['low1', 1],
      ['high1', 9],
      ['low2', 1],
      ['mid', 5],
      ['high2', 9],
      ['zero', 0],
    ] as const) {
      await q.send(bytes(m), { priority: p });
    }
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { data, priority } = await q.receive();
      got.push(`${text(data)}@${priority}`);
    }
    expect(got).toEqual(['high1@9', 'high2@9', 'mid@5', 'low1@1', 'low2@1', 'zero@0']);
  });

  it('trySend returns false when full and tryReceive undefined when empty; attributes count messages', async () => {
    const name = queueName('full');
    await using q = await MessageQueue.create(name, { capacity: 2, maxMessageBytes: 16 });
    expect(q.tryReceive()).toBeUndefined();
    expect(q.trySend(bytes('a'))).toBe(true);
    expect(q.trySend(bytes('b'))).toBe(true);
    expect(q.trySend(bytes('c'))).toBe(false);
    expect(q.attributes()).toEqual({ capacity: 2, maxMessageBytes: 16, currentMessages: 2 });
    expect(text(q.tryReceive()!.data)).toBe('a');
  });

  it('refuses a message over the queue message size with TooLargeError before the kernel sees it', async () => {
    const name = queueName('big');
    await using q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 8 });
    await expect(q.send(new Uint8Array(9))).rejects.toBeInstanceOf(TooLargeError);
    expect(() => q.trySend(new Uint8Array(9))).toThrow(TooLargeError);
    expect(q.attributes().currentMessages).toBe(0);
  });

  it('unlinks the name when its creator closes, while an opener keeps the queue and its messages until it closes', async () => {
    const name = queueName('life');
    const a = await MessageQueue.create(name, { capacity: 2, maxMessageBytes: 16 });
    await a.send(bytes('kept'));
    const b = await MessageQueue.open(name);
    await b.close(); // an opener never unlinks
    const c = await MessageQueue.open(name);
    await a.close();
    await expect(MessageQueue.open(name)).rejects.toThrow(NotFoundError);
    expect(await MessageQueue.unlink(name)).toBe(false);
    expect(text((await c.receive()).data)).toBe('kept');
    await c.close();
  });

  it('create is exclusive; exclusive: false adopts a queue of this user; open never creates', async () => {
    const name = queueName('adopt');
    await expect(MessageQueue.open(name)).rejects.toThrow(NotFoundError);
    const a = await MessageQueue.create(name, { capacity: 2, maxMessageBytes: 16 });
    await expect(MessageQueue.create(name)).rejects.toThrow(AlreadyExistsError);
    await a.send(bytes('found'));
    const b = await MessageQueue.create(name, { exclusive: false });
    expect(b.capacity).toBe(2);
    expect(text((await b.receive()).data)).toBe('found');
    await b.close(); // it owns the name too: unlinked
    await expect(MessageQueue.open(name)).rejects.toThrow(NotFoundError);
    await a.close();
  });

  it('close lets a send waiting for room go in first; destroy rejects it with its error', async () => {
    const name = queueName('drain');
    const q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 16 });
    const reader = await MessageQueue.open(name);
    await q.send(bytes('one'));
    const waiting = q.send(bytes('two'));
    const closing = q.close();
    expect(q.close()).toBe(closing);
    expect(q.closed).toBe(true);
    await expect(q.send(bytes('three'))).rejects.toBeInstanceOf(ClosedError);
    expect(text((await reader.receive({ timeout: 5000 })).data)).toBe('one');
    await waiting;
    await closing;
    expect(text((await reader.receive({ timeout: 5000 })).data)).toBe('two');
    await reader.close();

    const other = queueName('destroy');
    const d = await MessageQueue.create(other, { capacity: 1, maxMessageBytes: 16 });
    await d.send(bytes('full'));
    const stuck = d.send(bytes('never'));
    const reason = new Error('stop');
    d.destroy(reason);
    await expect(stuck).rejects.toBe(reason);
    expect(d.closed).toBe(true);
    await expect(MessageQueue.open(other)).rejects.toThrow(NotFoundError);
  });

  it('rejects waiting calls with ClosedError when closed, and every later call', async () => {
    const name = queueName('close');
    await using q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 16 });
    const receiving = q.receive();
    await q.close();
    await expect(receiving).rejects.toBeInstanceOf(ClosedError);
    await expect(q.send(bytes('x'))).rejects.toBeInstanceOf(ClosedError);
    expect(() => q.tryReceive()).toThrow(ClosedError);
    await q.close();
  });

  it('gives typed errors for bad names, an existing queue and limits the kernel enforces', async () => {
    await expect(MessageQueue.create('no-slash')).rejects.toThrow(InvalidNameError);
    await expect(MessageQueue.create('/a/b')).rejects.toThrow(InvalidNameError);
    await expect(MessageQueue.create(`/${'x'.repeat(300)}`)).rejects.toThrow(InvalidNameError);
    await expect(MessageQueue.create(`/${'x'.repeat(251)}`)).rejects.toThrow(InvalidNameError);
    await expect(MessageQueue.create('/..')).rejects.toThrow(InvalidNameError);
    const name = queueName('excl');
    // A bad option is refused before the queue is made: nothing is left to unlink.
    await expect(MessageQueue.create(name, { spinMicroseconds: Number.POSITIVE_INFINITY })).rejects.toThrow(RangeError);
    expect(await MessageQueue.unlink(name)).toBe(false);
    await using _q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 16 });
    await expect(MessageQueue.create(name, { exclusive: true })).rejects.toThrow(AlreadyExistsError);
    const huge = queueName('huge');
    // Over the hard ceiling even root has (HARD_MSGMAX 65536 messages).
    await expect(MessageQueue.create(huge, { capacity: 100_000, maxMessageBytes: 16 })).rejects.toThrow(LimitError);
    try {
      await MessageQueue.create(huge, { capacity: 100_000, maxMessageBytes: 16 });
    } catch (error) {
      expect((error as Error).message).toMatch(/msg_max/);
    }
  });

  it('times out and aborts waits, losing no message', async () => {
    const name = queueName('wait');
    await using q = await MessageQueue.create(name, { capacity: 1, maxMessageBytes: 16 });
    await expect(q.receive({ timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await q.send(bytes('one'));
    await expect(q.send(bytes('two'), { timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await expect(q.send(bytes('three'), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'IPCX_ERR_ABORTED',
    });
    expect(text((await q.receive()).data)).toBe('one');
    expect(q.tryReceive()).toBeUndefined();
  });
});
