import { afterEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, ClosedError, InvalidNameError, LimitError, NotFoundError, TooLargeError } from '@ipcx/core';
import { MessageQueue } from '@ipcx/mq';
import { queueName, unlinkAll } from './helpers.js';

afterEach(unlinkAll);

const bytes = (text: string): Uint8Array => Buffer.from(text);
const text = (data: Uint8Array): string => Buffer.from(data).toString();

describe('MessageQueue', () => {
  it('hands out the highest priority first and the oldest first within a priority', async () => {
    const name = queueName('prio');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 8, messageSize: 64 });
    for (const [m, p] of [['low1', 1], ['high1', 9], ['low2', 1], ['mid', 5], ['high2', 9], ['zero', 0]] as const) {
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
    await using q = MessageQueue.open(name, { create: true, maxMessages: 2, messageSize: 16 });
    expect(q.tryReceive()).toBeUndefined();
    expect(q.trySend(bytes('a'))).toBe(true);
    expect(q.trySend(bytes('b'))).toBe(true);
    expect(q.trySend(bytes('c'))).toBe(false);
    expect(q.attributes()).toEqual({ maxMessages: 2, messageSize: 16, currentMessages: 2 });
    expect(text(q.tryReceive()!.data)).toBe('a');
  });

  it('refuses a message over the queue message size with TooLargeError before the kernel sees it', async () => {
    const name = queueName('big');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 8 });
    await expect(q.send(new Uint8Array(9))).rejects.toBeInstanceOf(TooLargeError);
    expect(() => q.trySend(new Uint8Array(9))).toThrow(TooLargeError);
    expect(q.attributes().currentMessages).toBe(0);
  });

  it('keeps a queue alive after its creator closes, until unlinked; unlink removes only the name', async () => {
    const name = queueName('life');
    const a = MessageQueue.open(name, { create: true, maxMessages: 2, messageSize: 16 });
    await a.send(bytes('kept'));
    await a.close();
    const b = MessageQueue.open(name);
    expect(MessageQueue.unlink(name)).toBe(true);
    expect(() => MessageQueue.open(name)).toThrow(NotFoundError);
    expect(text((await b.receive()).data)).toBe('kept');
    await b.close();
    expect(MessageQueue.unlink(name)).toBe(false);
    expect(() => MessageQueue.open(name)).toThrow(NotFoundError);
  });

  it('rejects waiting calls with ClosedError when closed, and every later call', async () => {
    const name = queueName('close');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 16 });
    const receiving = q.receive();
    await q.close();
    await expect(receiving).rejects.toBeInstanceOf(ClosedError);
    await expect(q.send(bytes('x'))).rejects.toBeInstanceOf(ClosedError);
    expect(() => q.tryReceive()).toThrow(ClosedError);
    await q.close();
  });

  it('gives typed errors for bad names, an existing queue and limits the kernel enforces', async () => {
    expect(() => MessageQueue.open('no-slash', { create: true })).toThrow(InvalidNameError);
    expect(() => MessageQueue.open('/a/b', { create: true })).toThrow(InvalidNameError);
    expect(() => MessageQueue.open(`/${'x'.repeat(300)}`, { create: true })).toThrow(InvalidNameError);
    expect(() => MessageQueue.open(`/${'x'.repeat(251)}`, { create: true })).toThrow(InvalidNameError);
    expect(() => MessageQueue.open('/..', { create: true })).toThrow(InvalidNameError);
    const name = queueName('excl');
    // A bad option is refused before the queue is made: nothing is left to unlink.
    expect(() => MessageQueue.open(name, { create: true, spinMicroseconds: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(MessageQueue.unlink(name)).toBe(false);
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 16 });
    expect(() => MessageQueue.open(name, { create: true, exclusive: true })).toThrow(AlreadyExistsError);
    const huge = queueName('huge');
    // Over the hard ceiling even root has (HARD_MSGMAX 65536 messages).
    expect(() => MessageQueue.open(huge, { create: true, maxMessages: 100_000, messageSize: 16 })).toThrow(LimitError);
    try {
      MessageQueue.open(huge, { create: true, maxMessages: 100_000, messageSize: 16 });
    } catch (error) {
      expect((error as Error).message).toMatch(/msg_max/);
    }
  });

  it('times out and aborts waits, losing no message', async () => {
    const name = queueName('wait');
    await using q = MessageQueue.open(name, { create: true, maxMessages: 1, messageSize: 16 });
    await expect(q.receive({ timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await q.send(bytes('one'));
    await expect(q.send(bytes('two'), { timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await expect(q.send(bytes('three'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    expect(text((await q.receive()).data)).toBe('one');
    expect(q.tryReceive()).toBeUndefined();
  });
});
