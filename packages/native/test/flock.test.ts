import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { native } from '../src/binding.js';
import { flock, flockAsync } from '../src/index.js';
import { defer, fixture, within } from './helpers.js';

function lockFile(): string {
  const dir = mkdtempSync(join(tmpdir(), `ipcx-${process.pid}-`));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'lock');
}

/** A new open file description of `path` (flock locks belong to those). */
function openFd(path: string): number {
  const fd = openSync(path, 'a+');
  defer(() => closeSync(fd));
  return fd;
}

describe('flock', () => {
  it('excludes a second description, shares shared locks, and reports would-block as false', () => {
    const path = lockFile();
    const a = openFd(path);
    const b = openFd(path);
    expect(flock(a, 'shared')).toBe(true);
    expect(flock(b, 'shared', { nonBlocking: true })).toBe(true);
    expect(flock(b, 'exclusive', { nonBlocking: true })).toBe(false);
    expect(flock(b, 'unlock')).toBe(true);
    expect(flock(a, 'exclusive', { nonBlocking: true })).toBe(true);
    expect(flock(b, 'shared', { nonBlocking: true })).toBe(false);
  });

  it('resolves flockAsync when the holder unlocks, without blocking the event loop', async () => {
    const path = lockFile();
    const a = openFd(path);
    const b = openFd(path);
    flock(a, 'exclusive');
    let got = false;
    const waiting = flockAsync(b, 'exclusive').then(() => (got = true));
    await new Promise((r) => setTimeout(r, 5)); // the loop runs while the lock is awaited
    expect(got).toBe(false);
    flock(a, 'unlock');
    await within(waiting, 5000, 'lock after unlock');
    expect(flock(a, 'exclusive', { nonBlocking: true })).toBe(false);
  });

  it('rejects flockAsync with ETIMEDOUT after timeoutMs and with the reason on abort, freeing the thread', async () => {
    const path = lockFile();
    const a = openFd(path);
    const b = openFd(path);
    flock(a, 'exclusive');
    await expect(within(flockAsync(b, 'exclusive', { timeoutMs: 30 }), 5000, 'timeout')).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      syscall: 'flock',
    });
    const ac = new AbortController();
    const aborted = flockAsync(b, 'shared', { signal: ac.signal });
    ac.abort(new Error('no lock for you'));
    await expect(within(aborted, 5000, 'abort')).rejects.toThrow('no lock for you');
    expect(native.waiterStats()[2]).toBe(0);
    // Neither cancelled call left a lock behind.
    flock(a, 'unlock');
    expect(flock(a, 'exclusive', { nonBlocking: true })).toBe(true);
  });

  it('gets the lock when the process holding it is killed', async () => {
    const path = lockFile();
    const holder = fixture('flock-holder.mjs', [path]);
    await within(
      holder.line((l) => l === 'locked'),
      10_000,
      'holder locked',
    );
    const b = openFd(path);
    expect(flock(b, 'exclusive', { nonBlocking: true })).toBe(false);
    const waiting = flockAsync(b, 'exclusive', { timeoutMs: 10_000 });
    holder.child.kill('SIGKILL');
    await within(waiting, 10_000, 'lock after holder died');
  });

  it('validates the operation', () => {
    const fd = openFd(lockFile());
    expect(() => flock(fd, 'both' as 'shared')).toThrow(TypeError);
    expect(() => flockAsync(fd, 'unlock' as 'shared')).toThrow(TypeError);
  });
});
