import { describe, expect, it } from 'vitest';

import { futex, isErrnoError, shm } from '../src/index.js';
import { defer, fixture, ignoring, succeeds, uniqueName } from './helpers.js';

function segment(label: string, size = 4096) {
  const name = `/${uniqueName(label)}`;
  const seg = shm.open(name, { create: true, exclusive: true, size });
  defer(() => ignoring(['ENOENT'], () => shm.unlink(name)));
  return seg;
}

describe('shm', () => {
  it('creates a zero-filled segment of the asked size and reports that it created it', () => {
    const seg = segment('size', 8192);
    expect(seg.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(seg.size).toBe(8192);
    expect(seg.buffer.byteLength).toBe(8192);
    expect(seg.created).toBe(true);
    expect(new Uint8Array(seg.buffer).every((b) => b === 0)).toBe(true);
  });

  it('maps the same memory on a second open, which did not create it', () => {
    const a = segment('twice');
    const b = shm.open(a.name, { create: true, size: 123 });
    expect(b.created).toBe(false);
    expect(b.size).toBe(4096); // the existing object's size, not the one asked for
    new Int32Array(a.buffer)[5] = 42;
    expect(new Int32Array(b.buffer)[5]).toBe(42);
  });

  it('accepts a name without the leading slash and normalizes it', () => {
    const a = segment('slash');
    const b = shm.open(a.name.slice(1));
    expect(b.name).toBe(a.name);
  });

  it('fails with EEXIST on an exclusive create of an existing name, and ENOENT on opening a missing one', () => {
    const a = segment('excl');
    expect(() => shm.open(a.name, { create: true, exclusive: true, size: 16 })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'shm_open' }),
    );
    let caught: unknown;
    try {
      shm.open(`/${uniqueName('missing')}`);
    } catch (error) {
      caught = error;
    }
    expect(isErrnoError(caught, 'ENOENT')).toBe(true);
    expect((caught as { errno: number }).errno).toBe(2);
  });

  it('stats size, owner and the default owner-only mode', () => {
    const a = segment('stat', 1000);
    const st = shm.stat(a.name);
    expect(st).toEqual({ size: 1000, uid: process.getuid!(), gid: process.getgid!(), mode: 0o600 });
  });

  it('maps a zero-size object as an empty SharedArrayBuffer', () => {
    const name = `/${uniqueName('empty')}`;
    const seg = shm.open(name, { create: true });
    defer(() => ignoring(['ENOENT'], () => shm.unlink(name)));
    expect(seg.size).toBe(0);
    expect(seg.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('rejects invalid names and sizes before any syscall', () => {
    expect(() => shm.open('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => shm.open('/')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => shm.open('x'.repeat(300))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const name = `/${uniqueName('neg')}`;
    defer(() => ignoring(['ENOENT'], () => shm.unlink(name))); // were validation to regress
    expect(() => shm.open(name, { create: true, size: -1 })).toThrow(RangeError);
  });

  it('refuses a size tmpfs cannot hold with ENOSPC at once, leaving no segment (not SIGBUS on a later write)', () => {
    const name = `/${uniqueName('huge')}`;
    defer(() => ignoring(['ENOENT'], () => shm.unlink(name)));
    // Far beyond any tmpfs here; ftruncate alone would have made a sparse segment of this size.
    expect(() => shm.open(name, { create: true, exclusive: true, size: 2 ** 50 })).toThrow(
      expect.objectContaining({ code: 'ENOSPC' }),
    );
    expect(() => shm.unlink(name)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('gives two processes adding to one counter the exact sum', async () => {
    const seg = segment('counter');
    const i32 = new Int32Array(seg.buffer);
    const iterations = 200_000;
    const a = fixture('shm-counter.mjs', [seg.name, String(iterations)]);
    const b = fixture('shm-counter.mjs', [seg.name, String(iterations)]);
    await Promise.all([a.line((l) => l === 'ready'), b.line((l) => l === 'ready')]);
    // Start both at once so that their increments interleave.
    Atomics.store(i32, 1, 1);
    futex.notify(i32, 1);
    await Promise.all([succeeds(a, 15_000, 'counter a'), succeeds(b, 15_000, 'counter b')]);
    expect(Atomics.load(i32, 0)).toBe(2 * iterations);
  });

  it('keeps the mapping while a worker holds the buffer and unmaps it after the last one is collected', async () => {
    const seg = segment('lifetime');
    const run = fixture('shm-lifetime.mjs', [seg.name], ['--expose-gc']);
    const out = await succeeds(run, 15_000, 'lifetime fixture');
    const steps = Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => {
          const { step, mapped } = JSON.parse(l) as { step: string; mapped: boolean };
          return [step, mapped];
        }),
    );
    expect(steps).toEqual({ opened: true, 'main-dropped': true, 'worker-wrote': true, 'all-dropped': false });
    // The worker's write went to the shared object.
    expect(new Int32Array(seg.buffer)[0]).toBe(1234);
  });
});
