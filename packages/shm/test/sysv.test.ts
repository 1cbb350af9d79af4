import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ownedKernelObjects, unlinkOwnedKernelObjects } from '@ipcx/core';
import { sysv } from '@ipcx/native';
import { RecordLock, SharedState, ShmChannel, SysvLock, SysvSegment, SysvSemaphoreSet, ftok } from '@ipcx/shm';
import { killAll } from './helpers.js';
import { compileC, leftovers, made, uniqueKey } from './sysv-helpers.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
const binaries = new Map<string, { binary: string } | { error: string }>();

beforeAll(async () => {
  for (const c of ['sysv-shm-peer.c', 'sysv-sem-peer.c', 'record-lock-peer.c']) {
    const built = await compileC(c);
    if ('dir' in built) dirs.push(built.dir);
    binaries.set(c, built);
  }
  return () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
});

afterEach(async () => {
  await killAll(children);
  expect(leftovers()).toEqual([]);
});

/** The compiled C peer, or a skip with the compiler's error when there is none. */
function peer(name: string, context: { skip(note: string): void }): string {
  const built = binaries.get(name)!;
  if ('error' in built) {
    context.skip(`no C compiler could build ${name}: ${built.error}`);
    return '';
  }
  return built.binary;
}

function start(binary: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const child = spawn(binary, args, { stdio: [stdin, 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

/** Resolves with everything the child printed once a line contains `word` (rejects if it exits first). */
function untilLine(child: ChildProcess, word: string): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.includes(word)) {
        child.stdout!.off('data', onData);
        resolve(out);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`the child exited (${code ?? signal}) before printing ${word}: ${out}`)),
    );
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

describe('SysvSegment', () => {
  it('shares a segment with a C program that finds it by key with shmget', async (context) => {
    const binary = peer('sysv-shm-peer.c', context);
    const key = uniqueKey();
    await using seg = await SysvSegment.create({ key, size: 4096 });
    made.shm.add(seg.id);
    expect(seg.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(seg.size).toBe(4096);
    const words = new Int32Array(seg.buffer);
    const child = start(binary, [String(key)]);
    const exited = once(child, 'exit');
    await untilLine(child, 'ready');
    const stat = seg.stat();
    expect(stat).toMatchObject({ size: 4096, creatorPid: process.pid, mode: 0o600, uid: process.geteuid!(), key });
    expect(stat.attachCount).toBe(2);
    Atomics.store(words, 0, 1);
    expect((await exited)[0]).toBe(0);
    expect(Atomics.load(words, 0)).toBe(2);
    expect(words[1]).toBe(0xc0ffee);
    expect(Buffer.from(seg.buffer, 64, 6).toString()).toBe('from C');
    expect(seg.stat().lastPid).toBe(child.pid);
    expect(seg.stat().attachCount).toBe(1);
  });

  it('registers what it creates, removes it on close, and detaches so the buffer reads private zeros', async () => {
    const seg = await SysvSegment.create({ key: uniqueKey(), size: 100 });
    made.shm.add(seg.id);
    expect(
      ownedKernelObjects().some((o) => o.kind === 'sysv-shm' && o.name.includes(`0x${(seg.key >>> 0).toString(16)}`)),
    ).toBe(true);
    const other = await SysvSegment.open({ id: seg.id });
    new Uint8Array(seg.buffer)[0] = 7;
    expect(new Uint8Array(other.buffer)[0]).toBe(7);
    expect(seg.stat().attachCount).toBe(2);
    await seg.close();
    await seg.close();
    expect(new Uint8Array(seg.buffer)[0]).toBe(0); // detached: private zero page
    new Uint8Array(seg.buffer)[0] = 9; // and writing does not crash or reach the segment
    expect(new Uint8Array(other.buffer)[0]).toBe(7);
    const left = other.stat();
    expect(left.removed).toBe(true);
    expect(left.attachCount).toBe(1);
    expect(ownedKernelObjects().some((o) => o.kind === 'sysv-shm')).toBe(false);
    expect(() => seg.stat()).toThrow(expect.objectContaining({ code: 'IPCX_ERR_CLOSED' }));
    await other.close();
    expect(() => sysv.shm.stat(seg.id)).toThrow(); // gone with its last attachment
  });

  it('detaches when the last SharedArrayBuffer over the segment is collected', async () => {
    await using seg = await SysvSegment.create({ size: 4096 });
    made.shm.add(seg.id);
    // A process that attaches by id, drops its buffer and collects it: the kernel's attach count falls back.
    const script = `
      const { SysvSegment } = await import('@ipcx/shm');
      let s = await SysvSegment.open({ id: ${seg.id} });
      process.stdout.write(s.stat().attachCount + "\\n");
      s = undefined;
      const { sysv } = await import('@ipcx/native');
      // Collection frees the backing store, whose deleter detaches; sweeping may finish on a later turn.
      for (let i = 0; i < 200 && sysv.shm.stat(${seg.id}).attachCount > 1; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
      process.stdout.write(sysv.shm.stat(${seg.id}).attachCount + "\\n");
    `;
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: new URL('.', import.meta.url).pathname,
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    expect((await once(child, 'exit'))[0]).toBe(0);
    expect(out.trim().split('\n')).toEqual(['2', '1']);
  });

  it('finds a segment by path and id through ftok, as C does', async () => {
    const path = join(tmpdir(), `ipcx-ftok-${process.pid}-${uniqueKey()}`);
    writeFileSync(path, '');
    try {
      const key = await ftok(path, 7);
      expect(key).toBe(sysv.ftok(path, 7));
      await using seg = await SysvSegment.create({ path, id: 7, size: 64 });
      made.shm.add(seg.id);
      expect(seg.key).toBe(key);
      await using again = await SysvSegment.open({ path, id: 7 });
      expect(again.id).toBe(seg.id);
      await expect(SysvSegment.create({ path, id: 7, size: 64 })).rejects.toMatchObject({
        code: 'IPCX_ERR_ALREADY_EXISTS',
      });
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('never adopts a segment owned by another uid or open wider than asked', async () => {
    const key = uniqueKey();
    await using seg = await SysvSegment.create({ key, size: 64 });
    made.shm.add(seg.id);
    seg.set({ mode: 0o644 });
    await expect(SysvSegment.open({ key })).rejects.toMatchObject({ code: 'IPCX_ERR_PERMISSION' });
    const wider = await SysvSegment.open({ key, mode: 0o644 });
    await wider.close();
    seg.set({ mode: 0o600, uid: 12345 }); // root may give it away: our open must still refuse it
    expect(seg.stat().uid).toBe(12345);
    await expect(SysvSegment.open({ key, mode: 0o777 })).rejects.toMatchObject({ code: 'IPCX_ERR_PERMISSION' });
    await expect(SysvSegment.open({ id: seg.id, mode: 0o777 })).rejects.toMatchObject({ code: 'IPCX_ERR_PERMISSION' });
  });

  it('validates keys and options before it creates anything', async () => {
    await expect(SysvSegment.create({ key: 0, size: 64 })).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_NAME' });
    await expect(SysvSegment.create({ key: 2 ** 33, size: 64 })).rejects.toMatchObject({
      code: 'IPCX_ERR_INVALID_NAME',
    });
    await expect(SysvSegment.create({ key: uniqueKey(), size: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(SysvSegment.create({ key: uniqueKey(), size: 64, mode: 0o1777 })).rejects.toBeInstanceOf(RangeError);
    await expect(SysvSegment.create({ path: '/nonexistent/ipcx', id: 1, size: 64 })).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    await expect(SysvSegment.open({ key: uniqueKey() })).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
  });

  it('carries a ShmChannel between processes that attached the segment by key', async () => {
    const key = uniqueKey();
    await using seg = await SysvSegment.create({ key, size: 64 * 1024 });
    made.shm.add(seg.id);
    // The memory has no file to carry the ends' kernel locks: both ends lock bytes of this one.
    const lockFile = join(tmpdir(), `ipcx-sysv-channel-${process.pid}-${key}.lock`);
    onTestFinished(() => rmSync(lockFile, { force: true }));
    await using channel = await ShmChannel.createIn<{ n: number; text: string }>(seg.buffer, {
      bufferBytes: 16 * 1024,
      peerCheckInterval: 50,
      lockFile,
    });
    const child = spawn(
      process.execPath,
      [new URL('./fixtures/sysv-channel-echo.mjs', import.meta.url).pathname, String(key), lockFile],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    await untilLine(child, 'ready');
    expect(seg.stat().attachCount).toBe(2);
    for (let n = 0; n < 100; n++) {
      await channel.send({ n, text: 'x'.repeat(n) });
      expect(await channel.receive({ timeout: 5000 })).toEqual({ n, text: 'x'.repeat(n) });
    }
    await expect(ShmChannel.openIn(seg.buffer, { lockFile })).rejects.toMatchObject({
      code: 'IPCX_ERR_ALREADY_EXISTS',
    });
    await expect(ShmChannel.openIn(seg.buffer)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    const waiting = channel.receive({ timeout: 10_000 });
    waiting.catch(() => {});
    await kill(child);
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    await expect(ShmChannel.createIn(new SharedArrayBuffer(1024), { bufferBytes: 16 * 1024 })).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  it('holds a SharedState that a reader in another process follows', async () => {
    const key = uniqueKey();
    await using seg = await SysvSegment.create({ key, size: 8192 });
    made.shm.add(seg.id);
    await using state = await SharedState.createIn<{ n: number }>(seg.buffer, {
      maxValueBytes: 1024,
      initial: { n: 0 },
    });
    const child = spawn(
      process.execPath,
      [new URL('./fixtures/sysv-state-reader.mjs', import.meta.url).pathname, String(key)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(child);
    expect(await untilLine(child, 'ready')).toContain('ready 0');
    const got = untilLine(child, 'got');
    for (let n = 1; n <= 3; n++) state.set({ n });
    expect(await got).toContain('got 3');
    await expect(SharedState.createIn(new SharedArrayBuffer(64), { maxValueBytes: 1024 })).rejects.toBeInstanceOf(
      RangeError,
    );
  });

  it('locks the pages with SHM_LOCK where permitted', async () => {
    await using seg = await SysvSegment.create({ size: 4096 }); // IPC_PRIVATE
    made.shm.add(seg.id);
    expect(seg.key).toBe(0);
    seg.lock();
    expect(seg.stat().locked).toBe(true);
    seg.unlock();
    expect(seg.stat().locked).toBe(false);
  });
});

describe('SysvSemaphoreSet', () => {
  it('applies several operations atomically, or none while one must wait', async () => {
    await using set = await SysvSemaphoreSet.create({ key: uniqueKey(), count: 3, values: [1, 0, 5] });
    made.sem.add(set.id);
    expect(set.getAll()).toEqual([1, 0, 5]);
    expect(
      set.tryOp([
        { index: 0, delta: -1 },
        { index: 1, delta: -1 },
      ]),
    ).toBe(false);
    expect(set.getAll()).toEqual([1, 0, 5]); // nothing applied
    const waiting = set.op(
      [
        { index: 0, delta: -1 },
        { index: 1, delta: -1 },
        { index: 2, delta: 2 },
      ],
      { timeout: 5000 },
    );
    for (let i = 0; i < 200 && set.getNcnt(1) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(set.getNcnt(1)).toBe(1);
    set.setValue(1, 1);
    await expect(waiting).resolves.toBe(true);
    expect(set.getAll()).toEqual([0, 0, 7]);
    expect(set.getPid(2)).toBe(process.pid);
    expect(set.stat()).toMatchObject({ count: 3, mode: 0o600, uid: process.geteuid!() });
  });

  it('waits for zero, times out with TimeoutError and aborts with AbortedError, applying nothing', async () => {
    await using set = await SysvSemaphoreSet.create({ count: 1, values: [2] });
    made.sem.add(set.id);
    await expect(set.op([{ index: 0, delta: -3 }], { timeout: 30 })).rejects.toMatchObject({
      code: 'IPCX_ERR_TIMEOUT',
    });
    const controller = new AbortController();
    const aborted = set.op([{ index: 0, delta: 0 }], { signal: controller.signal });
    for (let i = 0; i < 200 && set.getZcnt(0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(set.getZcnt(0)).toBe(1);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    expect(set.getValue(0)).toBe(2);
    const zero = set.op([{ index: 0, delta: 0 }], { timeout: 5000 });
    expect(set.tryOp([{ index: 0, delta: -2 }])).toBe(true);
    await expect(zero).resolves.toBe(true);
    expect(await set.op([{ index: 0, delta: -1, noWait: true }])).toBe(false);
  });

  it('fails waits with ClosedError when the set is removed', async () => {
    const set = await SysvSemaphoreSet.create({ count: 1 });
    made.sem.add(set.id);
    const other = await SysvSemaphoreSet.open({ id: set.id });
    const waiting = other.op([{ index: 0, delta: -1 }], { timeout: 5000 });
    for (let i = 0; i < 200 && set.getNcnt(0) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    set.remove();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await set.close();
    await other.close();
  });

  it('never adopts a set owned by another uid or open wider than asked', async () => {
    const key = uniqueKey();
    await using set = await SysvSemaphoreSet.create({ key, count: 1 });
    made.sem.add(set.id);
    set.set({ mode: 0o660 });
    await expect(SysvSemaphoreSet.open({ key })).rejects.toMatchObject({ code: 'IPCX_ERR_PERMISSION' });
    set.set({ mode: 0o600, uid: 4242 });
    await expect(SysvSemaphoreSet.open({ key, mode: 0o777 })).rejects.toMatchObject({ code: 'IPCX_ERR_PERMISSION' });
  });

  it('removes what it created through unlinkOwnedKernelObjects', async () => {
    const set = await SysvSemaphoreSet.create({ count: 1 });
    made.sem.add(set.id);
    const entry = ownedKernelObjects().find((o) => o.kind === 'sysv-sem');
    expect(entry).toBeDefined();
    await unlinkOwnedKernelObjects();
    expect(() => sysv.sem.stat(set.id)).toThrow();
    await set.close();
  });
});

describe('SysvLock (SEM_UNDO)', () => {
  it('gets back the permits of holders that are SIGKILLed, a C program and a Node process', async (context) => {
    const binary = peer('sysv-sem-peer.c', context);
    const key = uniqueKey();
    await using lock = await SysvLock.create({ key, permits: 2 });
    made.sem.add(lock.set.id);
    const c = start(binary, [String(key)]);
    await untilLine(c, 'ready');
    const node = spawn(
      process.execPath,
      [new URL('./fixtures/sysv-lock-holder.mjs', import.meta.url).pathname, String(key)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(node);
    await untilLine(node, 'ready');
    expect(lock.available).toBe(0);
    expect(lock.tryLock()).toBeUndefined();
    const waiting = lock.lock({ timeout: 10_000 });
    await kill(node);
    const guard = await waiting; // the kernel undid the dead holder's -1
    expect(lock.available).toBe(0);
    await kill(c);
    expect(lock.available).toBe(1);
    guard.release();
    guard.release();
    expect(lock.available).toBe(2);
  });

  it('releases a permit taken on a waiter thread when the process exits', async () => {
    // The undo list belongs to the process: a -1 done on a waiter thread is undone at exit too.
    await using lock = await SysvLock.create({ permits: 1 });
    made.sem.add(lock.set.id);
    const held = lock.tryLock()!;
    const waiting = lock.lock({ timeout: 5000 });
    held.release();
    const guard = await waiting;
    expect(lock.available).toBe(0);
    guard.release();
    expect(lock.available).toBe(1);
  });
});

/** Waits until /proc/locks shows `pid` blocked on a POSIX lock (a line "NN: -> POSIX ... pid ..."). */
async function blockedOnLock(pid: number): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const blocked = readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .some((line) => line.includes('->') && line.includes('POSIX') && line.split(/\s+/).includes(String(pid)));
    if (blocked) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`process ${pid} never blocked on a lock`);
}

describe('RecordLock', () => {
  const files: string[] = [];
  const file = (): string => {
    const path = join(tmpdir(), `ipcx-record-${process.pid}-${uniqueKey()}`);
    writeFileSync(path, Buffer.alloc(16));
    files.push(path);
    return path;
  };
  afterEach(() => {
    for (const f of files.splice(0)) rmSync(f, { force: true });
  });

  it('turns a deadlock between this process and a C program into DeadlockError', async (context) => {
    const binary = peer('record-lock-peer.c', context);
    const path = file();
    await using locks = await RecordLock.open(path);
    const zero = await locks.lock({ start: 0, length: 1, timeout: 1000 });
    const c = start(binary, [path], 'pipe');
    const out = untilLine(c, 'ready');
    await out;
    expect(locks.holder({ start: 1, length: 1 })).toEqual({ type: 'write', start: 1, length: 1, pid: c.pid });
    c.stdin!.write('go\n');
    await blockedOnLock(c.pid!); // the C program waits for byte 0, which this process holds
    await expect(locks.lock({ start: 1, length: 1, timeout: 5000 })).rejects.toMatchObject({
      code: 'IPCX_ERR_DEADLOCK',
      name: 'DeadlockError',
    });
    const exited = once(c, 'exit');
    const done = untilLine(c, 'locked');
    zero.release();
    expect(await done).toContain('locked');
    await exited;
  });

  it('excludes with open-file-description locks within one process, shared or exclusive', async () => {
    const path = file();
    await using a = await RecordLock.open(path, { ofd: true });
    await using b = await RecordLock.open(path, { ofd: true });
    const readA = a.tryLock({ start: 0, length: 8, shared: true })!;
    const readB = b.tryLock({ start: 4, length: 8, shared: true })!;
    expect(readA).toBeDefined();
    expect(readB).toBeDefined();
    expect(b.tryLock({ start: 0, length: 2 })).toBeUndefined();
    expect(b.holder({ start: 0, length: 2 })).toMatchObject({ type: 'read', start: 0, length: 8, pid: -1 });
    const writing = b.lock({ start: 0, length: 2, timeout: 5000 });
    await expect(b.lock({ start: 0, length: 1, timeout: 20 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const controller = new AbortController();
    const aborted = b.lock({ start: 1, length: 1, signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    readA.release();
    const guard = await writing;
    expect(a.holder({ start: 0, length: 1 })).toMatchObject({ type: 'write', start: 0, length: 2 });
    expect(a.holder({ start: 2, length: 1, shared: true })).toBeUndefined();
    guard.release();
    readB.release();
    expect(a.holder({ start: 0, length: 0 })).toBeUndefined();
  });

  it('does not block the event loop while it waits, and classic locks of one process do not conflict', async () => {
    const path = file();
    await using a = await RecordLock.open(path);
    await using b = await RecordLock.open(path);
    const g = a.tryLock()!;
    expect(b.tryLock()).toBeDefined(); // one process, one owner: POSIX semantics
    g.release();
    await a.close();
    expect(() => a.tryLock()).toThrow(expect.objectContaining({ code: 'IPCX_ERR_CLOSED' }));
  });
});
