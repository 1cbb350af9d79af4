import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { mkfifo } from '../src/index.js';
import { defer } from './helpers.js';

describe('mkfifo', () => {
  it('creates an owner-only FIFO that carries bytes, and fails with EEXIST the second time', () => {
    const dir = mkdtempSync(join(tmpdir(), `ipcx-${process.pid}-`));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'fifo');
    mkfifo(path);
    const st = statSync(path);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(() => mkfifo(path)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo' }));
    // O_RDWR on a FIFO never blocks on Linux: one descriptor is both ends.
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    defer(() => closeSync(fd));
    writeSync(fd, 'through the pipe');
    const buf = Buffer.alloc(32);
    expect(buf.subarray(0, readSync(fd, buf)).toString()).toBe('through the pipe');
  });
});
