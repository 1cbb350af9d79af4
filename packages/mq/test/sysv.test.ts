import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownedKernelObjects, rawCodec } from '@ipcx/core';
import {
  childLines,
  compileC,
  describeChannelConformance,
  exited,
  killChild,
  killTrackedChildren,
  spawnNode,
  trackChild,
  within,
} from '@ipcx/core/testing';
import { sysv } from '@ipcx/native';
import { SysvChannel, SysvMessageQueue, sysvMaxMessageBytes } from '@ipcx/mq';

const ids = new Set<number>();
const keys = new Set<number>();

function uniqueKey(): number {
  return randomInt(0x1000_0000, 0x7fff_ffff);
}

function track<Q extends { id: number } | SysvChannel<unknown>>(q: Q): Q {
  ids.add(q instanceof SysvChannel ? q.queue.id : (q as { id: number }).id);
  if (q instanceof SysvChannel && q.queue.key !== 0) keys.add(q.queue.key); // and its liveness semaphores
  return q;
}

/** Removes and reports every queue a test made that still exists: nothing may be left in `ipcs -q`. */
function leftovers(): number[] {
  const left: number[] = [];
  for (const id of ids) {
    try {
      sysv.msg.stat(id);
    } catch {
      continue;
    }
    left.push(id);
    try {
      sysv.msg.remove(id);
    } catch {
      // raced away
    }
  }
  ids.clear();
  for (const key of keys) {
    let id: number;
    try {
      id = sysv.sem.get(key, 0, 0);
    } catch {
      continue;
    }
    left.push(id);
    sysv.sem.remove(id);
  }
  keys.clear();
  return left;
}

afterEach(async () => {
  await killTrackedChildren();
  expect(leftovers()).toEqual([]);
});

describeChannelConformance(
  'SysvChannel',
  async () => {
    const key = uniqueKey();
    const creator = track(await SysvChannel.create({ key }));
    // The suite closes the first end first: the opening end, whose close leaves the queue to the creator.
    return [await SysvChannel.open({ key }), creator];
  },
  {
    maxMessageBytes: Math.min(sysvMaxMessageBytes(), 16384),
    killablePeer: async () => {
      const key = uniqueKey();
      const channel = track(await SysvChannel.create({ key, peerCheckInterval: 50 }));
      const child = spawnNode([new URL('./fixtures/sysv-echo.mjs', import.meta.url).pathname, String(key)]);
      expect(await childLines(child).next()).toBe('ready');
      return {
        channel,
        kill: () => killChild(child),
      };
    },
    garbagePeer: async () => {
      const key = uniqueKey();
      const receiver = track(await SysvChannel.create({ key }));
      return [receiver, await SysvChannel.open<Uint8Array>({ key, codec: rawCodec })];
    },
  },
);

describe('SysvMessageQueue', () => {
  it('selects messages a C program sent by type: one type, the lowest up to a bound, all but one, the first', async (context) => {
    const { binary, remove } = await compileC(new URL('./fixtures/sysv-msg-peer.c', import.meta.url), { context });
    try {
      const key = uniqueKey();
      await using q = track(await SysvMessageQueue.create({ key }));
      const peer = trackChild(spawn(binary, [String(key)], { stdio: ['ignore', 'inherit', 'inherit'] }));
      const text = (m: { data: Uint8Array }): string => Buffer.from(m.data).toString();
      const two = await q.receive({ type: 2, timeout: 5000 });
      expect([two.type, text(two)]).toEqual([2, 'two']);
      const lowest = await q.receive({ type: -5, timeout: 5000 });
      expect([lowest.type, text(lowest)]).toEqual([1, 'one']);
      const notThree = await q.receive({ type: 3, except: true, timeout: 5000 });
      expect([notThree.type, text(notThree)]).toEqual([5, 'five']);
      const first = await q.receive({ timeout: 5000 });
      expect([first.type, text(first)]).toEqual([3, 'three']);
      await q.send(10, Buffer.from('reply please'));
      const reply = await q.receive({ type: 11, timeout: 5000 });
      expect(text(reply)).toBe('REPLY PLEASE');
      expect((await exited(peer)).code).toBe(0);
      expect(q.stat()).toMatchObject({ messages: 0, lastSendPid: peer.pid, lastReceivePid: process.pid, mode: 0o600 });
    } finally {
      remove();
    }
  });

  it('waits for a matching type without taking others, and serves waiting receives in order', async () => {
    await using q = track(await SysvMessageQueue.create({ key: uniqueKey(), pollInterval: 5 }));
    const wantTwo = q.receive({ type: 2, timeout: 5000 });
    const anyA = q.receive({ timeout: 5000 });
    const anyB = q.receive({ timeout: 5000 });
    await q.send(7, Buffer.from('a'));
    await q.send(2, Buffer.from('b'));
    await q.send(7, Buffer.from('c'));
    const got = await Promise.all([wantTwo, anyA, anyB]);
    expect(got.map((m) => `${m.type}:${Buffer.from(m.data).toString()}`)).toEqual(['2:b', '7:a', '7:c']);
    expect(q.tryReceive()).toBeUndefined();
  });

  it('makes a send wait while the queue is full, and times out or aborts waits without losing anything', async () => {
    await using q = track(await SysvMessageQueue.create({ bufferBytes: 64, pollInterval: 5 }));
    expect(q.maxMessageBytes).toBe(64);
    expect(q.trySend(1, new Uint8Array(64))).toBe(true);
    expect(q.trySend(1, new Uint8Array(1))).toBe(false);
    await expect(q.send(1, new Uint8Array(65))).rejects.toMatchObject({ code: 'IPCX_ERR_TOO_LARGE' });
    await expect(q.send(1, new Uint8Array(8), { timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const waiting = q.send(2, new Uint8Array([9]), { timeout: 5000 });
    expect((await q.receive({ timeout: 1000 })).data.length).toBe(64);
    await waiting;
    expect(await q.receive({ timeout: 1000 })).toMatchObject({ type: 2, data: new Uint8Array([9]) });
    await expect(q.receive({ timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const controller = new AbortController();
    const aborted = q.receive({ signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    await expect(q.send(0, new Uint8Array(1))).rejects.toBeInstanceOf(RangeError);
  });

  it('close() with nobody reading waits lingerTimeout, then the waiting send is ClosedError; a bad lingerTimeout is refused', async () => {
    const q = track(await SysvMessageQueue.create({ bufferBytes: 64, pollInterval: 5, lingerTimeout: 50 }));
    expect(q.trySend(1, new Uint8Array(64))).toBe(true);
    const stuck = q.send(1, new Uint8Array(8), { timeout: 60_000 });
    const outcome = stuck.catch((error: unknown) => error);
    await within(q.close(), 10_000, 'close() bounded by lingerTimeout');
    expect(await outcome).toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    for (const lingerTimeout of [-1, 1.5, Number.NaN]) {
      await expect(SysvMessageQueue.create({ lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
      await expect(SysvChannel.create({ key: uniqueKey(), lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
    }
  });

  it('fails waits with ClosedError when the queue is removed, and removes what it created on close', async () => {
    const q = track(await SysvMessageQueue.create({ key: uniqueKey(), pollInterval: 5 }));
    const mine = (): boolean =>
      ownedKernelObjects().some(
        (o) => o.kind === 'sysv-msg' && o.name === `key 0x${(q.key >>> 0).toString(16).padStart(8, '0')}`,
      );
    expect(mine()).toBe(true);
    const other = await SysvMessageQueue.open({ id: q.id, pollInterval: 5 });
    const waiting = other.receive({ timeout: 5000 });
    q.remove();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await q.close();
    await other.close();
    expect(mine()).toBe(false);
    const r = track(await SysvMessageQueue.create());
    await r.close();
    await r.close();
    expect(() => sysv.msg.stat(r.id)).toThrow();
    await expect(r.receive()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('never adopts a queue owned by another uid or open wider than asked', async () => {
    const key = uniqueKey();
    await using q = track(await SysvMessageQueue.create({ key }));
    q.set({ mode: 0o622 });
    await expect(SysvMessageQueue.open({ key })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_PERMISSION' }),
    );
    const wider = await SysvMessageQueue.open({ key, mode: 0o622 });
    await wider.close();
    q.set({ mode: 0o600, uid: 31337 });
    await expect(SysvMessageQueue.open({ key, mode: 0o777 })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_PERMISSION' }),
    );
    await expect(SysvMessageQueue.open({ key: uniqueKey() })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_NOT_FOUND' }),
    );
    await expect(SysvMessageQueue.create({ key })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_ALREADY_EXISTS' }),
    );
    await expect(SysvMessageQueue.create({ key: 0 })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_INVALID_NAME' }),
    );
  });

  it('finds a queue by path and id through ftok', async () => {
    const path = join(tmpdir(), `ipcx-ftok-mq-${process.pid}-${uniqueKey()}`);
    writeFileSync(path, '');
    try {
      await using q = track(await SysvMessageQueue.create({ path, id: 3 }));
      expect(q.key).toBe(sysv.ftok(path, 3));
      await using o = await SysvMessageQueue.open({ path, id: 3 });
      expect(o.id).toBe(q.id);
    } finally {
      rmSync(path, { force: true });
    }
  });
});

describe('SysvChannel', () => {
  it('keeps what the creating end sent before it closed for the opening end, which then removes the queue', async () => {
    const key = uniqueKey();
    const creator = track(await SysvChannel.create<string>({ key }));
    const opener = await SysvChannel.open<string>({ key });
    await creator.send('before close');
    await creator.close();
    expect(await opener.receive({ timeout: 1000 })).toBe('before close');
    await expect(opener.receive({ timeout: 1000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await opener.close();
    expect(() => sysv.msg.stat(creator.queue.id)).toThrow();
  });

  it('after the other end closed: send is PeerGoneError, receive gives what arrived then ClosedError, closed is true', async () => {
    const key = uniqueKey();
    const creator = track(await SysvChannel.create<string>({ key }));
    const opener = await SysvChannel.open<string>({ key });
    await opener.send('last words');
    await opener.close();
    await expect(creator.send('to nobody')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    expect(await creator.receive({ timeout: 1000 })).toBe('last words');
    await expect(creator.receive({ timeout: 1000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(creator.closed).toBe(true);
    await creator.close();
  });

  it('removes the queue at once when an end closes with nothing left for the other, whose receive then ends', async () => {
    const key = uniqueKey();
    const creator = track(await SysvChannel.create<string>({ key, pollInterval: 5 }));
    const opener = await SysvChannel.open<string>({ key, pollInterval: 5 });
    const waiting = opener.receive({ timeout: 5000 });
    await creator.close();
    expect(() => sysv.msg.stat(creator.queue.id)).toThrow();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await opener.close();
  });

  it('refuses a second opening end while the first lives, and notices a killed creator', async () => {
    const key = uniqueKey();
    const creator = track(await SysvChannel.create<string>({ key }));
    const opener = await SysvChannel.open<string>({ key, peerCheckInterval: 20 });
    await expect(SysvChannel.open({ key })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_ALREADY_EXISTS' }),
    );
    await expect(SysvChannel.create({ key })).rejects.toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_ALREADY_EXISTS' }),
    );
    await creator.send('hello');
    expect(await opener.receive({ timeout: 1000 })).toBe('hello');
    // Give back the creator's unit as the kernel does for a dead process (undo), without closing it.
    const live = sysv.sem.get(key, 0, 0);
    sysv.sem.setValue(live, 0, 0);
    await expect(opener.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await expect(opener.send('anyone?')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await opener.close(); // the other end is gone: removes queue and semaphores
    expect(() => sysv.msg.stat(creator.queue.id)).toThrow();
    await creator.close();
  });

  it('leaves other types on the queue alone', async () => {
    const key = uniqueKey();
    await using a = track(await SysvChannel.create<string>({ key, types: [10, 11] }));
    await using b = await SysvChannel.open<string>({ key, types: [10, 11] });
    await a.queue.send(3, Buffer.from('other traffic'));
    await a.send('hello');
    expect(await b.receive({ timeout: 1000 })).toBe('hello');
    expect(a.queue.tryReceive({ type: 3 })?.type).toBe(3);
  });
});
