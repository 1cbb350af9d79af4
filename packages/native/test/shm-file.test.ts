import { existsSync, statSync, unlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { atThreadExit, ofd, shmFile } from '../src/index.js';
import { defer } from './helpers.js';

function name(): string {
  const n = `/ipcx-shmfile-${process.pid}-${Math.random().toString(16).slice(2)}`;
  defer(() => {
    if (existsSync(`/dev/shm${n}`)) unlinkSync(`/dev/shm${n}`);
  });
  return n;
}

describe('shmFile', () => {
  it('creates an unnamed segment with exactly the mode asked, and links it once: a second link is EEXIST', () => {
    const n = name();
    const previous = process.umask(0o077);
    const a = shmFile.createUnnamed(4096, 0o640);
    process.umask(previous);
    const b = shmFile.createUnnamed(4096);
    defer(() => {
      shmFile.close(a);
      shmFile.close(b);
    });
    const buffer = shmFile.map(a);
    new Int32Array(buffer)[0] = 42;
    expect(existsSync(`/dev/shm${n}`)).toBe(false);
    shmFile.link(a, n);
    expect(statSync(`/dev/shm${n}`).mode & 0o777).toBe(0o640);
    expect(() => shmFile.link(b, n)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    const c = shmFile.open(n);
    defer(() => shmFile.close(c));
    expect(new Int32Array(shmFile.map(c))[0]).toBe(42);
  });
});

describe('ofd locks', () => {
  it('conflict between two descriptions of one process, byte by byte, and report who holds them', () => {
    const a = shmFile.createUnnamed(64);
    const n = name();
    shmFile.link(a, n);
    const b = shmFile.open(n);
    defer(() => {
      shmFile.close(a);
      shmFile.close(b);
    });
    expect(ofd.lock(a, 'write', 0)).toBe(true);
    expect(ofd.lock(b, 'write', 0)).toBe(false);
    expect(ofd.lock(b, 'write', 1)).toBe(true); // another byte, far past nothing: no conflict
    expect(ofd.held(b, 0)).toBe('write');
    expect(ofd.held(a, 0)).toBe('none'); // a description never conflicts with itself
    expect(ofd.lock(a, 'read', 5000)).toBe(true); // past the end of the file is fine
    expect(ofd.held(b, 5000)).toBe('read');
    ofd.lock(a, 'unlock', 0);
    expect(ofd.held(b, 0)).toBe('none');
  });

  it('are dropped when a worker thread that registered atThreadExit ends without closing', async () => {
    const a = shmFile.createUnnamed(64);
    const n = name();
    shmFile.link(a, n);
    defer(() => shmFile.close(a));
    const word = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.native).then(({ shmFile, ofd, atThreadExit }) => {
         const fd = shmFile.open(workerData.name);
         ofd.lock(fd, 'write', 0);
         atThreadExit({ fd, i32: workerData.word, index: 0, value: 7 });
         parentPort.postMessage('locked');
       });
       setInterval(() => {}, 1000);`,
      { eval: true, workerData: { name: n, word, native: new URL('../dist/index.js', import.meta.url).href } },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    expect(ofd.held(a, 0)).toBe('write');
    await worker.terminate();
    expect(ofd.held(a, 0)).toBe('none');
    expect(word[0]).toBe(7);
  });

  it('atThreadExit cancelled with run performs the action now, and only once', () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const registration = atThreadExit({ i32: word, index: 0, value: 3 });
    registration.cancel(true);
    expect(word[0]).toBe(3);
    word[0] = 0;
    registration.cancel(true);
    expect(word[0]).toBe(0);
  });
});
