#!/usr/bin/env node
// npm run bench:cost — nanoseconds per call of each @ipcx/native function, measured in this process
// against the built package (dist + build/Release). Numbers vary with the machine; compare runs on one.
//   node bench/cost.mjs [--quick]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  eventfd,
  FdWatcher,
  flock,
  futex,
  mq,
  peerCredentials,
  receiveFds,
  sem,
  sendFds,
  shm,
  signals,
  sigqueue,
  socket,
  socketPair,
} from '../dist/index.js';

const quick = process.argv.includes('--quick');
// Child modes (IPCX_FUTEX_WAITER=thread in their environment): the futex waits of a waiter thread.
if (process.argv.includes('--thread-waits')) {
  const local = new Int32Array(new SharedArrayBuffer(4));
  const n = 5000;
  for (let i = 0; i < 200; i++) await futex.waitAsync(local, 0, 0, 0.001);
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await futex.waitAsync(local, 0, 0, 0.001);
  const timedOut = Number(process.hrtime.bigint() - t0) / n;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await wokenWait(local);
  console.log(JSON.stringify({ timedOut, woken: Number(process.hrtime.bigint() - t0) / n }));
  process.exit(0);
}

/** A futex.waitAsync woken by a notify: keep notifying until the waiter is in the kernel. */
async function wokenWait(local) {
  const p = futex.waitAsync(local, 0, 0);
  let settled = false;
  void p.then(() => (settled = true));
  while (futex.notify(local, 0) === 0 && !settled) await null;
  await p;
}

const scale = quick ? 0.1 : 1;
const tag = `ipcx-${process.pid}-bench`;
const rows = [];
const cleanups = [];

function report(name, nsPerOp, note = '') {
  rows.push({ name, nsPerOp, note });
  console.log(`${name.padEnd(48)} ${nsPerOp.toFixed(0).padStart(9)} ns/op  ${note}`);
}

/** Runs fn `n` times after a warm-up and reports ns per call. */
function bench(name, n, fn, note) {
  n = Math.max(100, Math.round(n * scale));
  for (let i = 0; i < Math.min(n, 10_000); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  report(name, ns, note);
  return ns;
}

/** Same for an async operation awaited one at a time (a round trip through the event loop). */
async function benchAsync(name, n, fn, note) {
  n = Math.max(50, Math.round(n * scale));
  for (let i = 0; i < Math.min(n, 500); i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  const ns = Number(process.hrtime.bigint() - t0) / n;
  report(name, ns, note);
  return ns;
}

try {
  // mq first: later groups (20 000 mapped buffers from shm.open) leave GC work that slows what follows.
  // mq
  const qName = `/${tag}-mq`;
  const q = mq.open(qName, { create: true, exclusive: true, maxMessages: 10, messageSize: 8192 });
  cleanups.push(
    () => mq.close(q),
    () => mq.unlink(qName),
  );
  const msg = new Uint8Array(64).fill(7);
  const buf = new Uint8Array(8192);
  const js = bench('mq.send + mq.receive (64 B)', 500_000, () => {
    mq.send(q, msg, 1);
    mq.receive(q, buf);
  });
  bench('mq.getAttributes', 500_000, () => mq.getAttributes(q));
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const cc = spawnSync('cc', [
    '-O2',
    '-o',
    join(dir, 'mq-baseline'),
    fileURLToPath(new URL('./mq-baseline.c', import.meta.url)),
    '-lrt',
  ]);
  if (cc.status === 0) {
    const c = Number(
      spawnSync(join(dir, 'mq-baseline'), [`/${tag}-mqc`, String(Math.round(500_000 * scale))], { encoding: 'utf8' })
        .stdout,
    );
    report('C: mq_send + mq_receive (64 B)', c, `JS/C = ${(js / c).toFixed(2)}x`);
  } else {
    console.log('(no cc: C baseline skipped)');
  }

  // shm
  const segName = `/${tag}-shm`;
  const seg = shm.open(segName, { create: true, exclusive: true, size: 4096 });
  cleanups.push(() => shm.unlink(segName));
  bench('shm.open (existing, 4 KiB, mmap + SAB)', 20_000, () => shm.open(segName));
  bench('shm.stat', 100_000, () => shm.stat(segName));

  // futex
  const i32 = new Int32Array(seg.buffer);
  bench('futex.notify (no waiter)', 1_000_000, () => futex.notify(i32, 0));
  bench('futex.wait (not-equal)', 1_000_000, () => futex.wait(i32, 0, 1));
  bench('Atomics.notify (no waiter), for comparison', 1_000_000, () => Atomics.notify(i32, 0));
  const local = new Int32Array(new SharedArrayBuffer(4));
  // In this process futex waits go through io_uring where the kernel has it (Linux 6.7); the children below
  // measure waiter threads.
  await benchAsync('futex.waitAsync timed-out (io_uring round trip)', 20_000, () =>
    futex.waitAsync(local, 0, 0, 0.001),
  );
  await benchAsync('futex.waitAsync + notify (io_uring wake round trip)', 10_000, () => wokenWait(local));
  const threads = (extra) => {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--thread-waits'], {
      env: { ...process.env, IPCX_FUTEX_WAITER: 'thread', ...extra },
      encoding: 'utf8',
    });
    try {
      return JSON.parse(child.stdout.trim());
    } catch {
      return undefined;
    }
  };
  const pool = threads({});
  if (pool) {
    report('futex.waitAsync timed-out (waiter thread round trip)', pool.timedOut, 'IPCX_FUTEX_WAITER=thread');
    report('futex.waitAsync + notify (waiter thread wake round trip)', pool.woken, 'IPCX_FUTEX_WAITER=thread');
  }
  // A thread per wait instead of the pool: idle threads exit at once.
  const perWait = threads({ IPCX_NATIVE_WAITER_IDLE_MS: '0' });
  if (perWait)
    report('futex.waitAsync timed-out, thread per wait (no pool)', perWait.timedOut, 'IPCX_NATIVE_WAITER_IDLE_MS=0');

  // FdWatcher
  const efd = eventfd.create();
  cleanups.push(() => eventfd.close(efd));
  bench('new FdWatcher + start + close', 100_000, () => {
    const w = new FdWatcher(efd, () => {});
    w.start({ readable: true });
    w.close();
  });
  {
    let resolve;
    const w = new FdWatcher(efd, () => {
      eventfd.read(efd);
      resolve();
    });
    w.start({ readable: true });
    await benchAsync(
      'eventfd.write → FdWatcher callback',
      20_000,
      () =>
        new Promise((r) => {
          resolve = r;
          eventfd.write(efd, 1);
        }),
    );
    w.close();
  }
  bench('eventfd.write + eventfd.read', 500_000, () => {
    eventfd.write(efd, 1);
    eventfd.read(efd);
  });

  // sem
  const sName = `/${tag}-sem`;
  const s = sem.open(sName, { create: true, exclusive: true });
  cleanups.push(
    () => s.close(),
    () => sem.unlink(sName),
  );
  bench('sem post + tryWait', 1_000_000, () => {
    s.post();
    s.tryWait();
  });
  bench('sem.value', 1_000_000, () => s.value());
  await benchAsync('sem.waitAsync timed-out (pool thread round trip)', 20_000, () => s.waitAsync(0.001));

  // flock
  const lockPath = join(dir, 'lock');
  const lfd = openSync(lockPath, 'w');
  cleanups.push(() => closeSync(lfd));
  bench('flock exclusive + unlock (non-blocking)', 500_000, () => {
    flock(lfd, 'exclusive', { nonBlocking: true });
    flock(lfd, 'unlock');
  });

  // sockets
  const [da, db] = socketPair('dgram');
  cleanups.push(
    () => socket.close(da),
    () => socket.close(db),
  );
  bench('dgram socket.send + socket.receive (64 B, pair)', 500_000, () => {
    socket.send(da, msg);
    socket.receive(db, buf);
  });
  const ra = socket('dgram');
  const rb = socket('dgram');
  cleanups.push(
    () => socket.close(ra),
    () => socket.close(rb),
  );
  socket.bind(ra, { abstract: `${tag}-a` });
  socket.bind(rb, { abstract: `${tag}-b` });
  bench('dgram send to abstract name + receive with from', 300_000, () => {
    socket.send(ra, msg, { abstract: `${tag}-b` });
    socket.receive(rb, buf);
  });
  const [sa, sb] = socketPair('seqpacket');
  cleanups.push(
    () => socket.close(sa),
    () => socket.close(sb),
  );
  bench('seqpacket socket.send + socket.receive (64 B)', 500_000, () => {
    socket.send(sa, msg);
    socket.receive(sb, buf);
  });
  bench('sendFds + receiveFds (1 fd) + close it', 100_000, () => {
    sendFds(sa, msg, [lfd]);
    const r = receiveFds(sb, buf);
    socket.close(r.fds[0]);
  });
  bench('peerCredentials', 1_000_000, () => peerCredentials(sa));
  bench('socket() + close', 200_000, () => socket.close(socket('dgram')));

  // signals
  {
    let resolve;
    const r = signals.listen('SIGRTMIN+4', () => resolve());
    await benchAsync(
      'sigqueue → signals.listen callback',
      20_000,
      () =>
        new Promise((res) => {
          resolve = res;
          sigqueue(process.pid, 'SIGRTMIN+4', 1);
        }),
    );
    r.close();
  }
} finally {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      // best effort
    }
  }
}
