import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AbortedError, ClosedError, NotFoundError, TimeoutError, UnsupportedError } from '@ipcx/core';
import { FileLock } from '../src/file-lock.js';
import { killAll } from './helpers.js';

// Holders in other processes run plain Node and load the built package (the test target builds it first).
const fixture = new URL('./fixtures/sync-process.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), `ipcx-filelock-${process.pid}-`));
const children: ChildProcess[] = [];
let serial = 0;
const lockPath = (): string => join(dir, `lock-${serial++}`);

afterEach(() => killAll(children));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A process holding `path` (shared or exclusive) until it is killed; resolves once it holds it. */
async function holder(path: string, shared = false): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fixture, JSON.stringify({ scenario: 'fileHold', path, shared })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`file lock holder exited (${code ?? signal}) before it held the lock`)),
    );
  });
  return child;
}

describe('FileLock', () => {
  it('excludes between guards of one process: each lock is its own open file description', async () => {
    await using lock = await FileLock.open(lockPath());
    const first = lock.tryLock();
    expect(first).toBeDefined();
    expect(lock.tryLock()).toBeUndefined();
    expect(lock.tryLock({ shared: true })).toBeUndefined();
    const waiting = lock.lock({ timeout: 5000 });
    first!.release();
    first!.release(); // twice is harmless
    const second = await waiting;
    expect(lock.tryLock()).toBeUndefined();
    second.release();
    const a = lock.tryLock({ shared: true });
    const b = lock.tryLock({ shared: true });
    expect(a && b).toBeDefined();
    expect(lock.tryLock()).toBeUndefined();
    a!.release();
    b!.release();
    lock.tryLock()!.release();
  });

  it('times out and aborts a wait, and leaves the lock usable', async () => {
    await using lock = await FileLock.open(lockPath());
    const held = lock.tryLock()!;
    await expect(lock.lock({ timeout: 20 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const aborted = lock.lock({ signal: controller.signal });
    controller.abort(new Error('stop'));
    const error = await aborted.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortedError);
    expect((error as AbortedError).cause).toEqual(new Error('stop'));
    await expect(lock.lock({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    held.release();
    (await lock.lock({ timeout: 1000 })).release();
  });

  it('says what is wrong: a missing directory, a closed lock, a blocking call on the main thread, bad options', async () => {
    const missing = await FileLock.open(join(dir, 'no-such-dir', 'lock'));
    expect(() => missing.tryLock()).toThrow(NotFoundError);
    await expect(missing.lock()).rejects.toBeInstanceOf(NotFoundError);
    const lock = await FileLock.open(lockPath());
    expect(() => lock.lockSync()).toThrow(UnsupportedError);
    await lock.close();
    await lock.close();
    expect(lock.closed).toBe(true);
    expect(() => lock.tryLock()).toThrow(ClosedError);
    await expect(FileLock.open('')).rejects.toBeInstanceOf(TypeError);
    await expect(FileLock.open(lockPath(), { mode: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(lock.lock({ timeout: -5 })).rejects.toBeInstanceOf(TypeError);
  });

  it('is released by the kernel when its holder process is killed with SIGKILL', async () => {
    const path = lockPath();
    await using lock = await FileLock.open(path);
    const child = await holder(path);
    expect(lock.tryLock()).toBeUndefined();
    const waiting = lock.lock({ timeout: 10_000 });
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const guard = await waiting;
    expect(guard.released).toBe(false);
    guard.release();
  });

  it('shares with a shared holder in another process and excludes a writer until it dies', async () => {
    const path = lockPath();
    await using lock = await FileLock.open(path);
    const child = await holder(path, true);
    const reading = lock.tryLock({ shared: true });
    expect(reading).toBeDefined();
    reading!.release();
    expect(lock.tryLock()).toBeUndefined();
    await expect(lock.lock({ timeout: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    (await lock.lock({ timeout: 10_000 })).release();
  });
});
