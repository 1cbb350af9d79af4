import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { recordLock, recordLockAsync, recordLockHolder, sysv, sysvConstants as C } from '../src/index.js';
import { defer } from './helpers.js';

const { IPC_CREAT, IPC_EXCL, IPC_PRIVATE } = C;

describe('sysv.shm', () => {
  it('attaches a segment as a SharedArrayBuffer that another attachment sees, and detaches to private zeros', () => {
    const id = sysv.shm.get(IPC_PRIVATE, 4096, IPC_CREAT | IPC_EXCL | 0o600);
    defer(() => sysv.shm.remove(id));
    const a = sysv.shm.attach(id);
    const b = sysv.shm.attach(id);
    expect(a).toBeInstanceOf(SharedArrayBuffer);
    expect(a.byteLength).toBe(4096);
    Atomics.store(new Int32Array(a), 0, 42);
    expect(Atomics.load(new Int32Array(b), 0)).toBe(42);
    expect(sysv.shm.stat(id)).toMatchObject({
      size: 4096,
      attachCount: 2,
      mode: 0o600,
      creatorPid: process.pid,
      removed: false,
    });
    sysv.shm.detach(a);
    expect(new Int32Array(a)[0]).toBe(0);
    expect(sysv.shm.stat(id).attachCount).toBe(1);
    expect(() => sysv.shm.attach(-1 as number)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('sysv.msg', () => {
  it('sends and receives by type without blocking, and reports an empty selection as undefined', () => {
    const id = sysv.msg.get(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0o600);
    defer(() => sysv.msg.remove(id));
    expect(sysv.msg.trySend(id, 5, Buffer.from('five'))).toBe(true);
    expect(sysv.msg.trySend(id, 2, Buffer.from('two'))).toBe(true);
    const target = Buffer.alloc(16);
    expect(sysv.msg.tryReceive(id, target, 3)).toBeUndefined();
    expect(sysv.msg.tryReceive(id, target, -9)).toEqual({ length: 3, type: 2 });
    expect(target.subarray(0, 3).toString()).toBe('two');
    expect(sysv.msg.tryReceive(id, target, 2, true)).toEqual({ length: 4, type: 5 });
    expect(sysv.msg.stat(id)).toMatchObject({ messages: 0, lastSendPid: process.pid, mode: 0o600 });
  });
});

describe('sysv.sem', () => {
  it('applies operations atomically and waits on a waiter thread, bounded by a timeout', async () => {
    const id = sysv.sem.get(IPC_PRIVATE, 2, IPC_CREAT | IPC_EXCL | 0o600);
    defer(() => sysv.sem.remove(id));
    sysv.sem.setAll(id, [1, 0]);
    expect(
      sysv.sem.tryOp(id, [
        { index: 0, delta: -1 },
        { index: 1, delta: -1 },
      ]),
    ).toBe(false);
    expect(sysv.sem.getAll(id, 2)).toEqual([1, 0]);
    expect(await sysv.sem.opAsync(id, [{ index: 1, delta: -1 }], { timeoutMs: 20 })).toBe(false);
    const waiting = sysv.sem.opAsync(id, [{ index: 1, delta: -1, undo: true }], { timeoutMs: 5000 });
    sysv.sem.setValue(id, 1, 1);
    expect(await waiting).toBe(true);
    expect(sysv.sem.getPid(id, 1)).toBe(process.pid);
    const controller = new AbortController();
    const aborted = sysv.sem.opAsync(id, [{ index: 1, delta: -1 }], { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
  });
});

describe('record locks', () => {
  it('takes, tests and waits for byte-range locks, OFD and classic', async () => {
    const dir = mkdtempSync(join(tmpdir(), `ipcx-${process.pid}-`));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'file');
    writeFileSync(path, Buffer.alloc(8));
    const a = openSync(path, 'r+');
    const b = openSync(path, 'r+');
    defer(() => closeSync(a));
    defer(() => closeSync(b));
    expect(recordLock(a, 'write', { start: 0, length: 4, ofd: true })).toBe(true);
    expect(recordLock(b, 'read', { start: 2, length: 1, ofd: true })).toBe(false);
    expect(recordLock(b, 'read', { start: 4, length: 4, ofd: true })).toBe(true);
    expect(recordLockHolder(b, 'read', { start: 0, length: 1, ofd: true })).toEqual({
      type: 'write',
      start: 0,
      length: 4,
      pid: -1,
    });
    await expect(recordLockAsync(b, 'write', { start: 0, length: 1, ofd: true, timeoutMs: 20 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
    });
    const waiting = recordLockAsync(b, 'write', { start: 0, length: 1, ofd: true });
    recordLock(a, 'unlock', { start: 0, length: 4, ofd: true });
    await waiting;
    expect(recordLockHolder(a, 'write', { start: 0, length: 1, ofd: true })).toMatchObject({
      type: 'write',
      start: 0,
      length: 1,
    });
    // OFD and classic locks conflict with each other; classic locks of one process never do.
    expect(recordLock(a, 'write', { start: 0, length: 0 })).toBe(false);
    recordLock(b, 'unlock', { start: 0, length: 0, ofd: true });
    expect(recordLock(a, 'write', { start: 0, length: 0 })).toBe(true);
    expect(recordLock(b, 'write', { start: 0, length: 0 })).toBe(true);
    expect(() => recordLock(a, 'exclusive' as 'write')).toThrow(TypeError);
  });
});
