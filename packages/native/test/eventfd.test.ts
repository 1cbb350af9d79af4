import { describe, expect, it } from 'vitest';

import { eventfd, FdWatcher } from '../src/index.js';
import { defer, within } from './helpers.js';

function create(...args: Parameters<typeof eventfd.create>): number {
  const fd = eventfd.create(...args);
  defer(() => eventfd.close(fd));
  return fd;
}

describe('eventfd', () => {
  it('adds writes and reads back the sum, resetting to zero', () => {
    const fd = create(1);
    eventfd.write(fd, 3);
    eventfd.write(fd, 4n);
    expect(eventfd.read(fd)).toBe(8n);
    expect(() => eventfd.read(fd)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'read' }));
  });

  it('counts down one at a time in semaphore mode', () => {
    const fd = create(0, { semaphore: true });
    eventfd.write(fd, 2);
    expect(eventfd.read(fd)).toBe(1n);
    expect(eventfd.read(fd)).toBe(1n);
    expect(() => eventfd.read(fd)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });

  it('carries 64-bit values and refuses the ones the kernel cannot hold', () => {
    const fd = create();
    eventfd.write(fd, 0xfffffffffffffffen);
    expect(eventfd.read(fd)).toBe(0xfffffffffffffffen);
    expect(() => eventfd.write(fd, 0xffffffffffffffffn)).toThrow(RangeError);
    expect(() => eventfd.write(fd, -1)).toThrow(RangeError);
  });

  it('wakes an FdWatcher when written from a worker thread', async () => {
    const fd = create();
    const woke = new Promise<void>((resolve) => {
      const w = new FdWatcher(fd, () => {
        w.close();
        resolve();
      });
      defer(() => w.close());
      w.start({ readable: true });
    });
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(new URL('./fixtures/eventfd-writer.mjs', import.meta.url), { workerData: fd });
    defer(() => worker.terminate().then(() => undefined));
    await within(woke, 5000, 'readable');
    expect(eventfd.read(fd)).toBe(5n);
  });
});
