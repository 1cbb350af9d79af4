import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';

import { FdWatcher, type FdEvents, mq, sem } from '../src/index.js';
import { defer, fixture, ignoring, succeeds, uniqueName, within } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const created: string[] = [];
afterAll(() => {
  // /dev/mqueue is not mounted here, so ask the kernel about each queue we made.
  for (const name of created)
    expect(() => mq.open(name), `${name} left behind`).toThrow(expect.objectContaining({ code: 'ENOENT' }));
});

/** A fresh queue (small: the per-user budget is 800 KB) that is closed and unlinked after the test. */
function queue(label: string, options: Parameters<typeof mq.open>[1] = {}) {
  const name = `/${uniqueName(label)}`;
  const fd = mq.open(name, { create: true, exclusive: true, maxMessages: 4, messageSize: 64, ...options });
  created.push(name);
  defer(() => ignoring(['ENOENT'], () => mq.unlink(name)));
  defer(() => mq.close(fd));
  return { name, fd };
}

describe('mq', () => {
  it('delivers the highest priority first, FIFO within a priority', () => {
    const { fd } = queue('prio');
    mq.send(fd, enc.encode('low'), 1);
    mq.send(fd, enc.encode('high'), 9);
    mq.send(fd, enc.encode('mid'), 5);
    mq.send(fd, enc.encode('high2'), 9);
    const buf = new Uint8Array(64);
    const got = [];
    for (let i = 0; i < 4; i++) {
      const { length, priority } = mq.receive(fd, buf);
      got.push(`${dec.decode(buf.subarray(0, length))}:${priority}`);
    }
    expect(got).toEqual(['high:9', 'high2:9', 'mid:5', 'low:1']);
  });

  it('throws EAGAIN when a non-blocking queue is full, and when it is empty', () => {
    const { fd } = queue('full', { maxMessages: 2 });
    mq.send(fd, enc.encode('a'));
    mq.send(fd, enc.encode('b'));
    expect(() => mq.send(fd, enc.encode('c'))).toThrow(
      expect.objectContaining({ code: 'EAGAIN', errno: 11, syscall: 'mq_send' }),
    );
    const buf = new Uint8Array(64);
    mq.receive(fd, buf);
    mq.receive(fd, buf);
    expect(() => mq.receive(fd, buf)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'mq_receive' }));
  });

  it('trySend and tryReceive answer a full or empty queue with false and undefined, not EAGAIN', () => {
    const { fd } = queue('try', { maxMessages: 1, messageSize: 16 });
    const buf = new Uint8Array(16);
    expect(mq.tryReceive(fd, buf)).toBeUndefined();
    expect(mq.trySend(fd, enc.encode('one'), 7)).toBe(true);
    expect(mq.trySend(fd, enc.encode('two'))).toBe(false);
    expect(mq.tryReceive(fd, buf)).toEqual({ length: 3, priority: 7 });
    expect(new TextDecoder().decode(buf.subarray(0, 3))).toBe('one');
    expect(mq.tryReceive(fd, buf)).toBeUndefined();
    // attempts retries an empty queue in C; it still answers undefined, and takes what comes.
    expect(mq.tryReceive(fd, buf, 100)).toBeUndefined();
    mq.send(fd, enc.encode('two'), 1);
    expect(mq.tryReceive(fd, buf, 100)).toEqual({ length: 3, priority: 1 });
    expect(() => mq.tryReceive(fd, buf, 0)).toThrow(RangeError);
    // Other failures still throw: a message over the queue's size.
    expect(() => mq.trySend(fd, new Uint8Array(17))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  });

  it('sends the exact bytes of short views (staged outside the heap), of offset views and of other typed arrays', () => {
    const { fd } = queue('views', { maxMessages: 4, messageSize: 64 });
    const buf = new Uint8Array(64);
    const received = () => {
      const { length } = mq.receive(fd, buf);
      return Array.from(buf.subarray(0, length));
    };
    // A fresh 64-byte array lives in V8's heap: it is staged, and the next send must not see its bytes.
    const small = Uint8Array.from({ length: 64 }, (_, i) => i);
    mq.send(fd, small);
    mq.send(fd, Uint8Array.of(9));
    expect(received()).toEqual(Array.from(small));
    expect(received()).toEqual([9]);
    // A view into a larger buffer, at an offset.
    const big = Uint8Array.from({ length: 200 }, (_, i) => i);
    mq.send(fd, big.subarray(100, 110));
    expect(received()).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    // Not a Uint8Array: sent as its bytes, unconverted.
    const floats = Float32Array.of(1.5, -2);
    // The typed API asks for bytes; a JavaScript caller may pass any view, and the addon sends its bytes.
    mq.send(fd, floats as unknown as Uint8Array);
    expect(received()).toEqual(Array.from(new Uint8Array(floats.buffer)));
    expect(small[0]).toBe(0); // the caller's bytes are untouched
  });
  it('reports its attributes and switches blocking mode', () => {
    const { fd } = queue('attr', { maxMessages: 3, messageSize: 32 });
    mq.send(fd, enc.encode('x'));
    expect(mq.getAttributes(fd)).toEqual({ flags: 2048, maxMessages: 3, messageSize: 32, currentMessages: 1 });
    mq.setNonBlocking(fd, false);
    expect(mq.getAttributes(fd).flags).toBe(0);
  });

  it('times out a timed receive on an empty blocking queue with ETIMEDOUT', () => {
    const { fd } = queue('timed', { nonBlocking: false });
    const t0 = performance.now();
    expect(() => mq.timedReceive(fd, new Uint8Array(64), 20)).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    mq.timedSend(fd, enc.encode('t'), 3, 20);
    expect(mq.timedReceive(fd, new Uint8Array(64), 20)).toEqual({ length: 1, priority: 3 });
  });

  it('rejects a message larger than messageSize and a target smaller than it (EMSGSIZE)', () => {
    const { fd } = queue('size', { messageSize: 16 });
    expect(() => mq.send(fd, new Uint8Array(17))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
    mq.send(fd, new Uint8Array(16));
    expect(() => mq.receive(fd, new Uint8Array(15))).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  });

  it('fails with EEXIST on an exclusive create of an existing queue and ENOENT on opening a missing one', () => {
    const { name } = queue('exists');
    expect(() => mq.open(name, { exclusive: true })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'mq_open' }),
    );
    expect(() => mq.open(`/${uniqueName('missing')}`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('validates names, priorities and buffers before any syscall', () => {
    const { fd } = queue('validate');
    expect(() => mq.open('a/b')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => mq.send(fd, enc.encode('x'), 32768)).toThrow(RangeError);
    expect(() => mq.send(fd, 'x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => mq.open('/x', { read: false, write: false })).toThrow(TypeError);
  });

  it('closes twice without throwing', () => {
    const name = `/${uniqueName('close')}`;
    const fd = mq.open(name, { create: true, maxMessages: 1, messageSize: 8 });
    mq.unlink(name);
    mq.close(fd);
    expect(() => mq.close(fd)).not.toThrow();
  });

  it('tells an FdWatcher when a message sent by another process arrives', async () => {
    const { name, fd } = queue('watch');
    const events: FdEvents[] = [];
    let arrived!: () => void;
    const readable = new Promise<void>((resolve) => (arrived = resolve));
    const watcher = new FdWatcher(fd, (e) => {
      events.push(e);
      if (e.readable) {
        watcher.stop();
        arrived();
      }
    });
    defer(() => watcher.close());
    watcher.start({ readable: true });
    const peer = fixture('mq-peer.mjs', [name, 'hello:2', 'world:7']);
    await within(readable, 10_000, 'readable');
    await succeeds(peer, 10_000, 'peer');
    const buf = new Uint8Array(64);
    const first = mq.receive(fd, buf);
    expect(dec.decode(buf.subarray(0, first.length))).toBe('world');
    expect(first.priority).toBe(7);
    expect(events[0]).toEqual({ readable: true, writable: false });
  });
});

describe('FdWatcher', () => {
  it('reports writable on a queue with room and stops reporting after stop()', async () => {
    const { fd } = queue('writable');
    let count = 0;
    let first!: (e: FdEvents) => void;
    const got = new Promise<FdEvents>((resolve) => (first = resolve));
    const watcher = new FdWatcher(fd, (e) => {
      count++;
      watcher.stop();
      first(e);
    });
    defer(() => watcher.close());
    watcher.start({ writable: true });
    expect(await within(got, 5000, 'writable')).toEqual({ readable: false, writable: true });
    // Level-triggered: had it not been stopped it would fire again on the next turn.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(count).toBe(1);
  });

  it('is idempotent to close, refuses start after close, and refuses a second watcher on one fd', () => {
    const { fd } = queue('closed');
    const a = new FdWatcher(fd, () => {});
    expect(() => new FdWatcher(fd, () => {})).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    a.close();
    a.close();
    expect(a.closed).toBe(true);
    expect(() => a.start({ readable: true })).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const b = new FdWatcher(fd, () => {});
    b.close();
  });

  it('lets the process exit when unref()d', async () => {
    const run = fixture('watcher-unref.mjs');
    expect(await succeeds(run, 10_000, 'unref fixture')).toContain('exiting');
  });

  it('survives a worker that exits with an active watcher', async () => {
    const { Worker } = await import('node:worker_threads');
    const url = new URL('./fixtures/watcher-worker.mjs', import.meta.url);
    const worker = new Worker(url);
    // Listen for 'exit' first: a worker that is gone before its message is read emits both in one turn.
    const exited = once(worker, 'exit');
    const [msg] = (await within(once(worker, 'message'), 10_000, 'worker ready')) as [string];
    expect(msg).toBe('watching');
    const [code] = (await within(exited, 10_000, 'worker exit')) as [number];
    expect(code).toBe(0);
  });

  it('outlives workers that load the addon alone and end with watchers and waits pending', async () => {
    const semName = `/${uniqueName('workers')}`;
    sem.open(semName, { create: true }).close();
    defer(() => ignoring(['ENOENT'], () => sem.unlink(semName)));
    const run = fixture('workers-only.mjs', ['40', semName]);
    expect(await succeeds(run, 60_000, 'workers-only fixture')).toContain('survived');
  });
});
