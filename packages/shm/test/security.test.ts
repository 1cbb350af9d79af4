// Owner-only and never adopted (issue 12): a process of another uid cannot open our 0600 segments, and a
// segment another uid planted, or one with wider permissions than asked, is never used as ours. The child
// runs inline code (`node -e`), so the test does not depend on where the repository was cloned.
import { spawn } from 'node:child_process';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PermissionError } from '@ipcx/core';
import { Mutex, SharedState, ShmChannel } from '@ipcx/shm';
import { uniqueName } from './helpers.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const names: string[] = [];

afterEach(() => {
  for (const n of names.splice(0)) if (existsSync(`/dev/shm${n}`)) unlinkSync(`/dev/shm${n}`);
});

function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

/** Runs `code` in a Node process as uid/gid 65534; resolves with its exit code and output. */
function asNobody(code: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code], {
      uid: NOBODY,
      gid: NOBODY,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (status) => resolve({ status, out }));
  });
}

describe.skipIf(!isRoot)('another uid', () => {
  it('cannot open, map or write our segments (mode 0600, whatever the umask)', async () => {
    const n = name('sec-open');
    const previous = process.umask(0);
    try {
      const channel = await ShmChannel.create(n, { bufferBytes: 1024 });
      const state = await SharedState.create(name('sec-state'));
      const mutex = await Mutex.create(name('sec-mutex'));
      for (const target of [n, names.at(-2)!, names.at(-1)!]) {
        expect(statSync(`/dev/shm${target}`).mode & 0o777).toBe(0o600);
        const { status, out } = await asNobody(
          `try { require('fs').openSync(${JSON.stringify(`/dev/shm${target}`)}, 'r'); console.log('opened'); } catch (e) { console.log(e.code); process.exit(3); }`,
        );
        expect(status, out).toBe(3);
        expect(out).toContain('EACCES');
      }
      await channel.close();
      await state.close();
      await mutex.close();
    } finally {
      process.umask(previous);
    }
  });

  it('a segment another uid planted under our name (mode 0666) is never adopted: PermissionError says what was found', async () => {
    const n = name('sec-squat');
    const { status, out } = await asNobody(
      `process.umask(0); const fs = require('fs'); fs.writeFileSync(${JSON.stringify(`/dev/shm${n}`)}, Buffer.alloc(8192), { mode: 0o666 });`,
    );
    expect(status, out).toBe(0);
    expect(statSync(`/dev/shm${n}`).uid).toBe(NOBODY);
    for (const attempt of [
      () => ShmChannel.create(n, { bufferBytes: 1024 }),
      () => ShmChannel.open(n),
      () => SharedState.create(n),
      () => SharedState.open(n),
      () => Mutex.create(n),
      () => Mutex.open(n),
    ]) {
      const error = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PermissionError);
      expect((error as Error).message).toMatch(/uid 65534/);
      expect((error as Error).message).toMatch(/remove \/dev\/shm/);
    }
    // Untouched: still theirs, still their size.
    expect(statSync(`/dev/shm${n}`).uid).toBe(NOBODY);
    expect(statSync(`/dev/shm${n}`).size).toBe(8192);
  });
});

describe('permissions wider than asked', () => {
  it('open refuses our own segment when its mode is wider than the mode accepted, and says how to accept it', async () => {
    const n = name('sec-wide');
    const channel = await ShmChannel.create(n, { bufferBytes: 1024, mode: 0o644 });
    await expect(ShmChannel.open(n)).rejects.toThrow(/mode 0o644, wider than the 0o600/);
    await expect(ShmChannel.open(n)).rejects.toBeInstanceOf(PermissionError);
    const other = await ShmChannel.open(n, { mode: 0o644 });
    await other.close();
    await channel.close();
  });

  it('create refuses a segment of ours with a wider mode than asked before looking at anything else', async () => {
    const n = name('sec-wide-stale');
    const channel = await ShmChannel.create(n, { bufferBytes: 1024, mode: 0o666 });
    // Left behind (as by a crash): the name stays, nobody holds its locks once this end is gone.
    await expect(ShmChannel.create(n, { bufferBytes: 1024 })).rejects.toBeInstanceOf(PermissionError);
    await channel.close();
  });
});
