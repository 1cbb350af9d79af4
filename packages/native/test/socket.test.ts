import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { FdWatcher, peerCredentials, receiveFds, sendFds, socket, socketPair, tryReceiveFds } from '../src/index.js';
import { defer, fixture, succeeds, uniqueName, within } from './helpers.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function open(type: 'dgram' | 'seqpacket'): number {
  const fd = socket(type);
  defer(() => socket.close(fd));
  return fd;
}

function pair(type: 'dgram' | 'seqpacket' | 'stream'): [number, number] {
  const fds = socketPair(type);
  defer(() => {
    for (const fd of fds) socket.close(fd);
  });
  return fds;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `ipcx-${process.pid}-`));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves when fd becomes readable (FdWatcher, closed afterwards). */
function readable(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new FdWatcher(fd, (e) => {
      w.close();
      if (e.error) reject(e.error);
      else resolve();
    });
    defer(() => w.close()); // also when the event never comes (closing twice is harmless)
    w.start({ readable: true });
  });
}

describe('datagram sockets', () => {
  it('delivers a datagram between abstract names and tells who sent it', async () => {
    const a = open('dgram');
    const b = open('dgram');
    const nameA = uniqueName('dga');
    const nameB = uniqueName('dgb');
    socket.bind(a, { abstract: nameA });
    socket.bind(b, { abstract: nameB });
    const arrived = readable(b);
    expect(socket.send(a, enc.encode('ping'), { abstract: nameB })).toBe(4);
    await within(arrived, 5000, 'datagram');
    const buf = new Uint8Array(64);
    const r = socket.receive(b, buf);
    expect(r).toEqual({ length: 4, truncated: false, from: { abstract: nameA } });
    expect(dec.decode(buf.subarray(0, r.length))).toBe('ping');
  });

  it('reports a path sender, an unbound sender as undefined, and truncation', () => {
    const dir = tempDir();
    const path = join(dir, 's');
    const server = open('dgram');
    socket.bind(server, path);
    const bound = open('dgram');
    socket.bind(bound, join(dir, 'c'));
    const unbound = open('dgram');
    socket.send(bound, enc.encode('from-path'), path);
    socket.send(unbound, new Uint8Array(100).fill(7), path);
    const buf = new Uint8Array(10);
    expect(socket.receive(server, buf)).toEqual({ length: 9, truncated: false, from: join(dir, 'c') });
    const r = socket.receive(server, buf);
    expect(r).toEqual({ length: 10, truncated: true });
    expect(r.from).toBeUndefined();
    expect(() => socket.receive(server, buf)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'recvmsg' }));
  });

  it('uses the connected default destination and fails with ECONNREFUSED/ENOENT for nobody', () => {
    const [a, b] = pair('dgram');
    socket.send(a, enc.encode('x'));
    expect(socket.receive(b, new Uint8Array(4)).length).toBe(1);
    const c = open('dgram');
    expect(() => socket.connect(c, { abstract: uniqueName('nobody') })).toThrow(
      expect.objectContaining({ code: 'ECONNREFUSED' }),
    );
    expect(() => socket.send(c, enc.encode('x'), join(tmpdir(), uniqueName('nofile')))).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });

  it('rejects addresses longer than sun_path and unknown types', () => {
    const a = open('dgram');
    expect(() => socket.bind(a, 'x'.repeat(108))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => socket.bind(a, { abstract: '' })).toThrow(RangeError);
    expect(() => socket('stream' as 'dgram')).toThrow(TypeError);
  });
});

describe('seqpacket sockets', () => {
  it('accepts a connection, keeps message boundaries, and reports the peer closing as length 0', async () => {
    const server = open('seqpacket');
    const name = uniqueName('sp');
    socket.bind(server, { abstract: name });
    socket.listen(server);
    expect(() => socket.accept(server)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    const client = socket('seqpacket');
    let clientOpen = true;
    defer(() => {
      if (clientOpen) socket.close(client);
    });
    socket.connect(client, { abstract: name });
    const conn = socket.accept(server);
    defer(() => socket.close(conn));
    socket.send(client, enc.encode('one'));
    socket.send(client, enc.encode('two-two'));
    await within(readable(conn), 5000, 'message');
    const buf = new Uint8Array(64);
    expect(socket.receive(conn, buf).length).toBe(3);
    expect(socket.receive(conn, buf).length).toBe(7);
    socket.close(client);
    clientOpen = false;
    expect(socket.receive(conn, buf)).toEqual({ length: 0, truncated: false });
  });

  it('knows the credentials of the peer', () => {
    const [a, b] = pair('seqpacket');
    expect(peerCredentials(a)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(peerCredentials(b).pid).toBe(process.pid);
  });
});

describe('peer credentials of a node:net connection', () => {
  it('names the process on the other end of a socket accepted by net', async () => {
    const dir = tempDir();
    const path = join(dir, 'net.sock');
    const conns: Socket[] = [];
    const server = createServer((c) => conns.push(c));
    defer(
      () =>
        new Promise<void>((resolve) => {
          for (const c of conns) c.destroy();
          server.close(() => resolve());
        }),
    );
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const peer = fixture('net-client.mjs', [path]);
    const conn = await within(accepted, 10_000, 'connection');
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    expect(peerCredentials(fd)).toEqual({ pid: peer.child.pid, uid: process.getuid!(), gid: process.getgid!() });
    conn.end();
    await succeeds(peer, 10_000, 'net client');
  });
});

describe('descriptor passing', () => {
  it('passes an open file to the other end, which reads it', () => {
    const dir = tempDir();
    const file = join(dir, 'data.txt');
    writeFileSync(file, 'passed along');
    const [a, b] = pair('seqpacket');
    const fd = openSync(file, 'r');
    sendFds(a, enc.encode('here'), [fd]);
    closeSync(fd);
    const buf = new Uint8Array(16);
    const r = receiveFds(b, buf);
    expect(r.length).toBe(4);
    expect(r.truncated).toBe(false);
    expect(r.fds).toHaveLength(1);
    const got = r.fds[0]!;
    const content = Buffer.alloc(32);
    const n = readSync(got, content, 0, 32, 0);
    closeSync(got);
    expect(content.subarray(0, n).toString()).toBe('passed along');
  });

  it('refuses descriptors with no data to carry them, which a stream socket would drop', () => {
    const [a] = pair('stream');
    const fd = openSync(tempDir(), 'r');
    defer(() => closeSync(fd));
    expect(() => sendFds(a, new Uint8Array(0), [fd])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('refuses a view of a detached buffer instead of sending an empty message', () => {
    const [a] = pair('seqpacket');
    const view = new Uint8Array(new ArrayBuffer(8));
    structuredClone(view.buffer, { transfer: [view.buffer] });
    expect(() => socket.send(a, view)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('passes a descriptor to another process', async () => {
    const dir = tempDir();
    const file = join(dir, 'cross.txt');
    writeFileSync(file, 'across processes');
    const name = uniqueName('fdpass');
    const peer = fixture('fd-receiver.mjs', [name]);
    await within(
      peer.line((l) => l === 'listening'),
      10_000,
      'receiver listening',
    );
    const c = open('seqpacket');
    socket.connect(c, { abstract: name });
    const fd = openSync(file, 'r');
    sendFds(c, enc.encode('file'), [fd]);
    closeSync(fd);
    expect(await succeeds(peer, 10_000, 'receiver')).toContain('read: across processes');
  });

  it('sends several descriptors in one message and receives none when none were sent', () => {
    const [a, b] = pair('dgram');
    const [x, y] = pair('stream');
    sendFds(a, enc.encode('2'), [x, y]);
    const r = receiveFds(b, new Uint8Array(4));
    expect(r.fds).toHaveLength(2);
    for (const fd of r.fds) socket.close(fd);
    sendFds(a, enc.encode('0'), []);
    expect(receiveFds(b, new Uint8Array(4))).toEqual({ length: 1, fds: [], truncated: false });
    expect(() => sendFds(a, enc.encode('x'), Array(254).fill(x))).toThrow(RangeError);
  });
});

describe('trySend', () => {
  it('returns the bytes sent, or a negative errno without throwing', () => {
    const { errno } = constants;
    const [a, b] = socketPair('stream');
    let bOpen = true;
    defer(() => {
      socket.close(a);
      if (bOpen) socket.close(b);
    });
    expect(socket.trySend(a, enc.encode('hello'))).toBe(5);
    const target = new Uint8Array(16);
    expect(socket.spinReceive(b, target, 0)).toBe(5);
    // Fill the buffer: the kernel takes part of the last chunk, then nothing (EAGAIN).
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    let last = 0;
    for (let i = 0; i < 10_000 && (last = socket.trySend(a, chunk)) > 0; i++) sent += last;
    expect(sent).toBeGreaterThan(0);
    expect(last).toBe(-errno.EAGAIN);
    socket.close(b);
    bOpen = false;
    expect([-errno.EPIPE, -errno.ECONNRESET]).toContain(socket.trySend(a, chunk));
    const dir = tempDir();
    const file = openSync(join(dir, 'not-a-socket'), 'w');
    defer(() => closeSync(file));
    expect(socket.trySend(file, chunk)).toBe(-errno.ENOTSOCK);
  });
});

describe('duplicate', () => {
  it('gives a second descriptor of the same socket, which keeps the connection open once the first is closed', () => {
    const [a, b] = socketPair('stream');
    const copy = socket.duplicate(a);
    let aOpen = true;
    defer(() => {
      if (aOpen) socket.close(a);
      socket.close(copy);
      socket.close(b);
    });
    expect(copy).not.toBe(a);
    socket.close(a);
    aOpen = false;
    expect(socket.trySend(copy, enc.encode('still here'))).toBe(10);
    const target = new Uint8Array(16);
    expect(socket.spinReceive(b, target, 0)).toBe(10);
    expect(() => socket.duplicate(999_999)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('spinReceive, tryReceive, tryReceiveFds', () => {
  it('spinReceive reads what is there, waits at most its bound for what is not, and tells the end apart', () => {
    const [a, b] = socketPair('stream');
    let aOpen = true;
    defer(() => {
      if (aOpen) socket.close(a);
      socket.close(b);
    });
    const target = new Uint8Array(16);
    const start = performance.now();
    expect(socket.spinReceive(b, target, 2000)).toBe(-1);
    expect(performance.now() - start).toBeLessThan(2 + 1000); // its bound, with a generous margin
    expect(socket.spinReceive(b, target, 0)).toBe(-1);
    socket.send(a, enc.encode('hello'));
    // A peek leaves the bytes for the next read.
    expect(socket.spinReceive(b, target.subarray(0, 1), 100, true)).toBe(1);
    expect(socket.spinReceive(b, target, 100)).toBe(5);
    expect(dec.decode(target.subarray(0, 5))).toBe('hello');
    socket.close(a);
    aOpen = false;
    expect(socket.spinReceive(b, target, 100)).toBe(0);
    expect(() => socket.spinReceive(-5 as number, target, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('tryReceive and tryReceiveFds return undefined when nothing is queued, and a message when one is', () => {
    const [a, b] = pair('seqpacket');
    const target = new Uint8Array(16);
    expect(tryReceiveFds(b, target)).toBeUndefined();
    socket.send(a, enc.encode('x'));
    expect(tryReceiveFds(b, target)).toEqual({ length: 1, fds: [], truncated: false });
    const [c, d] = pair('dgram');
    expect(socket.tryReceive(d, target)).toBeUndefined();
    socket.send(c, enc.encode('yz'));
    expect(socket.tryReceive(d, target)).toEqual({ length: 2, truncated: false });
    expect(() => socket.tryReceive(999_999, target)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('with spinMicroseconds, tryReceive and tryReceiveFds spin for a packet and read it in the same call', async () => {
    for (const kind of ['seqpacket', 'dgram'] as const) {
      const [a, b] = pair(kind);
      const target = new Uint8Array(16);
      const read = (spin: number) =>
        kind === 'seqpacket' ? tryReceiveFds(b, target, spin)?.length : socket.tryReceive(b, target, spin)?.length;
      // Nothing comes: the call returns undefined once its bound has passed, not before.
      const start = performance.now();
      expect(read(3000)).toBeUndefined();
      expect(performance.now() - start).toBeGreaterThanOrEqual(3);
      // A packet that another thread sends while the call spins is read by it (the spin is bounded by 1 s).
      const { Worker } = await import('node:worker_threads');
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(new URL('./fixtures/socket-late-sender.mjs', import.meta.url), {
        workerData: { fd: a, flag: flag.buffer },
      });
      defer(() => worker.terminate().then(() => undefined));
      await within(new Promise((resolve) => worker.once('online', resolve)), 5000, 'worker online');
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      expect(read(1_000_000)).toBe(3);
      expect(read(0)).toBeUndefined();
    }
  });
});
