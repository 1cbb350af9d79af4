import { describe, expect, it } from 'vitest';
import { ClosedError, PeerGoneError } from '@ipcx/core';
import { SendQueue } from '@ipcx/core/transport';

const settled = async (promise: Promise<unknown>): Promise<string> => {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise.then(
      () => 'resolved',
      (e: unknown) => `rejected:${(e as Error).name}`,
    ),
    Promise.resolve().then(() => marker),
  ]);
  return result === marker ? 'pending' : (result as string);
};

describe('SendQueue', () => {
  it('hands payloads out oldest first while the writer has room, and resolves each send as it goes', async () => {
    const queue = new SendQueue<string>();
    const a = queue.enqueue('a');
    const b = queue.enqueue('b');
    const c = queue.enqueue('c');
    expect(queue.size).toBe(3);
    const written: string[] = [];
    let room = 2;
    expect(queue.flush((p) => room-- > 0 && (written.push(p), true))).toBe(2);
    expect(written).toEqual(['a', 'b']);
    await expect(a).resolves.toBeUndefined();
    await expect(b).resolves.toBeUndefined();
    expect(await settled(c)).toBe('pending');
    expect(queue.oldest()).toBe('c');
    room = 1;
    queue.flush((p) => room-- > 0 && (written.push(p), true));
    await c;
    expect(written).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it('rejects only the send whose write threw, and goes on with the next', async () => {
    const queue = new SendQueue<number>();
    const bad = queue.enqueue(1);
    const good = queue.enqueue(2);
    queue.flush((p) => {
      if (p === 1) throw new RangeError('bad payload');
      return true;
    });
    await expect(bad).rejects.toThrow('bad payload');
    await expect(good).resolves.toBeUndefined();
  });

  it('removes a send whose timeout or signal fired, so that nothing is sent late, and tells onCancel', async () => {
    let cancelled = 0;
    const queue = new SendQueue<string>(() => cancelled++);
    const timedOut = queue.enqueue('late', { timeout: 1 });
    await expect(timedOut).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const controller = new AbortController();
    const aborted = queue.enqueue('aborted', { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    expect(queue.size).toBe(0);
    expect(cancelled).toBe(2);
    const written: string[] = [];
    queue.flush((p) => (written.push(p), true));
    expect(written).toEqual([]);
  });

  it('rejects every waiting send with the given error, and drained() resolves once none waits', async () => {
    const queue = new SendQueue<string>();
    await expect(queue.drained()).resolves.toBeUndefined();
    const sends = [queue.enqueue('a'), queue.enqueue('b')];
    const drained = queue.drained();
    expect(await settled(drained)).toBe('pending');
    queue.resolveOldest();
    await expect(sends[0]).resolves.toBeUndefined();
    expect(await settled(drained)).toBe('pending');
    queue.rejectAll(new PeerGoneError());
    await expect(sends[1]).rejects.toBeInstanceOf(PeerGoneError);
    await expect(drained).resolves.toBeUndefined();
  });

  it('lets a pump that waits for room check its send and settle it (has, oldest, rejectOldest)', async () => {
    const queue = new SendQueue<Uint8Array>();
    const bytes = new Uint8Array([1]);
    const send = queue.enqueue(bytes);
    expect(queue.has(bytes)).toBe(true);
    queue.rejectOldest(new ClosedError());
    await expect(send).rejects.toBeInstanceOf(ClosedError);
    expect(queue.has(bytes)).toBe(false);
    expect(queue.oldest()).toBeUndefined();
  });

  it('rejects a bad timeout like any failure of the wait, without queueing', async () => {
    const queue = new SendQueue<string>();
    await expect(queue.enqueue('x', { timeout: -1 })).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_OPTION' });
    expect(queue.size).toBe(0);
  });

  it('drainedWithin resolves as soon as the queue drains, and rejects what still waits once the linger passes', async () => {
    const drains = new SendQueue<number>();
    const sent = drains.enqueue(1);
    const closing = drains.drainedWithin(60_000, () => new ClosedError('late'));
    drains.flush(() => true);
    await sent;
    await closing; // well before the 60 s linger: it followed the drain

    const stuck = new SendQueue<number>();
    const waiting = stuck.enqueue(2).then(
      () => 'sent',
      (error: unknown) => error,
    );
    await stuck.drainedWithin(20, () => new ClosedError('the peer took nothing'));
    expect(stuck.size).toBe(0);
    const outcome = await waiting;
    expect(outcome).toBeInstanceOf(ClosedError);
  });
});
