// Findings 11 and 12 of issue 12 (shm part): segments are registered with core's registry while this
// process owns them; what SIGTERM and a crash leave behind, and how the next create reclaims it; every
// option is checked before a segment exists; segments too small for what they claim are typed errors.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { IncompatibleError, PeerGoneError, ownedKernelObjects } from '@ipcx/core';
import { Barrier, FanIn, Mutex, SharedState, ShmChannel } from '@ipcx/shm';
import { killAll, segmentExists, spawnReady, uniqueName } from './helpers.js';

const children: ChildProcess[] = [];
const names: string[] = [];
afterEach(async () => {
  await killAll(children);
  for (const n of names.splice(0)) if (existsSync(`/dev/shm${n}`)) unlinkSync(`/dev/shm${n}`);
});

function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

const registered = (n: string): boolean => ownedKernelObjects().some((o) => o.kind === 'shm' && o.name === n);

describe('the registry of kernel objects', () => {
  it('holds each segment this process created until close unlinks it; openers register nothing', async () => {
    const [c, s, m, f] = [name('reg-c'), name('reg-s'), name('reg-m'), name('reg-f')];
    const channel = await ShmChannel.create(c, { bufferBytes: 1024 });
    const state = await SharedState.create(s);
    const mutex = await Mutex.create(m);
    const fanIn = await FanIn.create(f, { bufferBytes: 1024 });
    for (const n of [c, s, m, f]) expect(registered(n)).toBe(true);
    const opener = await ShmChannel.open(c);
    expect(ownedKernelObjects().filter((o) => o.name === c)).toHaveLength(1);
    await opener.close();
    await channel.close();
    await state.close();
    await mutex.close();
    await fanIn.close();
    for (const n of [c, s, m, f]) {
      expect(registered(n)).toBe(false);
      expect(segmentExists(n)).toBe(false);
    }
  });

  it('SIGTERM without a handler leaves the segments; the next create reclaims each one', async () => {
    const base = name('term');
    const child = await spawnReady('term-owner.mjs', [base], children);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    for (const suffix of ['-c', '-s', '-m']) {
      names.push(base + suffix);
      expect(segmentExists(base + suffix)).toBe(true);
    }
    const channel = await ShmChannel.create(`${base}-c`, { bufferBytes: 1024 });
    const state = await SharedState.create(`${base}-s`);
    const mutex = await Mutex.create(`${base}-m`);
    await channel.close();
    await state.close();
    await mutex.close();
    for (const suffix of ['-c', '-s', '-m']) expect(segmentExists(base + suffix)).toBe(false);
  });

  it('a SIGTERM handler that calls unlinkOwnedKernelObjects() leaves nothing', async () => {
    const base = name('term-clean');
    const child = await spawnReady('term-owner.mjs', [base, 'cleanup'], children);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    for (const suffix of ['-c', '-s', '-m']) {
      names.push(base + suffix);
      expect(segmentExists(base + suffix)).toBe(false);
    }
  });
});

describe('options are checked before any segment exists', () => {
  const bad: Array<[string, (n: string) => Promise<unknown>]> = [
    ['ShmChannel.create peerCheckInterval: 0', (n) => ShmChannel.create(n, { peerCheckInterval: 0 })],
    ['ShmChannel.create spinMicroseconds: -1', (n) => ShmChannel.create(n, { spinMicroseconds: -1 })],
    ['ShmChannel.create bufferBytes: 1000', (n) => ShmChannel.create(n, { bufferBytes: 1000 })],
    ['ShmChannel.create mode: 0o1777', (n) => ShmChannel.create(n, { mode: 0o1777 })],
    ['ShmChannel.create codec: {}', (n) => ShmChannel.create(n, { codec: {} as never })],
    ['SharedState.create maxValueBytes: -1', (n) => SharedState.create(n, { maxValueBytes: -1 })],
    [
      'SharedState.create initial too large',
      (n) => SharedState.create(n, { maxValueBytes: 4, initial: 'much too long' }),
    ],
    ['SharedState.create mode: -1', (n) => SharedState.create(n, { mode: -1 })],
    ['Mutex.create peerCheckInterval: 0', (n) => Mutex.create(n, { peerCheckInterval: 0 })],
    ['Mutex.create mode: 0o1000', (n) => Mutex.create(n, { mode: 0o1000 })],
    ['Barrier.create parties: 0', (n) => Barrier.create(n, { parties: 0 })],
    ['FanIn.create bufferBytes: 3', (n) => FanIn.create(n, { bufferBytes: 3 })],
  ];
  for (const [what, call] of bad) {
    it(`${what}: throws and leaves no segment`, async () => {
      const n = name('opts');
      await expect(call(n)).rejects.toThrow();
      expect(segmentExists(n)).toBe(false);
      expect(registered(n)).toBe(false);
    });
  }
});

describe('segments too small for what they claim', () => {
  for (const size of [0, 7, 63, 100]) {
    it(`a ${size}-byte segment: ShmChannel.open and SharedState.open fail with IncompatibleError`, async () => {
      const n = name('small');
      const fd = openSync(`/dev/shm${n}`, 'wx', 0o600);
      if (size > 0) ftruncateSync(fd, size);
      closeSync(fd);
      await expect(ShmChannel.open(n)).rejects.toBeInstanceOf(IncompatibleError);
      await expect(SharedState.open(n)).rejects.toBeInstanceOf(IncompatibleError);
      await expect(Mutex.open(n)).rejects.toBeInstanceOf(IncompatibleError);
    });
  }
});

describe('a SharedState writer that closes', () => {
  it('ends a reader waiting in changed with PeerGoneError instead of leaving it waiting', async () => {
    const n = name('state-closed');
    const writer = await SharedState.create(n, { initial: 1 });
    const reader = await SharedState.open(n);
    const waiting = reader.changed(reader.version, { timeout: 10_000 });
    await writer.close();
    await expect(waiting).rejects.toBeInstanceOf(PeerGoneError);
    expect(reader.get().value).toBe(1); // the last value stays readable
    await reader.close();
  });
});
