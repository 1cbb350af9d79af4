import { existsSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { FullError, NotFoundError, TooLargeError, ownedKernelObjects } from '@ipcx/core';

import { shm } from '@ipcx/native';

import { Doorbell } from '../src/index.js';
import { defer, fixture, run, within } from './helpers.js';

describe('Doorbell', () => {
  it('carries data from another process, in order, with the ringer pid and uid', async () => {
    const bell = await Doorbell.create();
    defer(() => bell.close());
    expect(existsSync(`/dev/shm${bell.name}`)).toBe(true);
    expect(ownedKernelObjects().map((o) => o.name)).toContain(bell.name);
    const ringer = fixture('doorbell.mjs', ['ring', String(process.pid), 'one', '-', 'three']);
    const rings = [];
    for (let i = 0; i < 3; i++) rings.push(await within(bell.receive(), 10_000, `ring ${i}`));
    expect((await within(ringer.exited, 10_000, 'ringer')).code).toBe(0);
    expect(rings.map((r) => (r.data ? Buffer.from(r.data).toString() : undefined))).toEqual([
      'one',
      undefined,
      'three',
    ]);
    for (const r of rings) expect(r).toMatchObject({ pid: ringer.child.pid, uid: process.getuid!() });
    bell.close();
    expect(existsSync(`/dev/shm${bell.name}`)).toBe(false);
    expect(ownedKernelObjects().map((o) => o.name)).not.toContain(bell.name);
    await expect(bell.receive()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('rings a doorbell in another process knowing only its pid; a full mailbox is FullError, nothing lost', async () => {
    const receiver = fixture('doorbell.mjs', ['receive', '6', '4']);
    await within(receiver.line('ready'), 10_000, 'receiver');
    const pid = receiver.child.pid!;
    process.kill(pid, 'SIGSTOP'); // slots stay full while it cannot take them
    defer(() => {
      if (receiver.child.exitCode === null && receiver.child.signalCode === null) process.kill(pid, 'SIGCONT');
    });
    for (let i = 0; i < 4; i++) Doorbell.ring(pid, { data: Buffer.from(`m${i}`) });
    expect(() => Doorbell.ring(pid, { data: Buffer.from('m4') })).toThrow(FullError);
    Doorbell.ring(pid); // a ring without data needs no slot
    expect(() => Doorbell.ring(pid, { data: new Uint8Array(257) })).toThrow(TooLargeError);
    process.kill(pid, 'SIGCONT');
    await within(
      receiver.line((l) => l.startsWith('{') && !l.includes('"data"')),
      10_000,
      'bare ring',
    );
    Doorbell.ring(pid, { data: Buffer.from('m5') });
    const exit = await within(receiver.exited, 10_000, 'receiver exit');
    expect(exit.code).toBe(0);
    const got = exit.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    expect(got.map((g) => g.data ?? null)).toEqual(['m0', 'm1', 'm2', 'm3', null, 'm5']);
    expect(got.every((g) => g.pid === process.pid)).toBe(true);
    expect(existsSync(`/dev/shm/ipcx-doorbell-${pid}`)).toBe(false);
  });

  it('fails with NotFoundError for a pid without a doorbell, and allows one doorbell per process', async () => {
    const proc = run(process.execPath, ['-e', '0']);
    await within(proc.exited, 10_000, 'exit');
    expect(() => Doorbell.ring(proc.child.pid!)).toThrow(NotFoundError);
    const bell = await Doorbell.create();
    defer(() => bell.close());
    await expect(Doorbell.create()).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    await expect(Doorbell.create({ signal: 'SIGUSR2' })).rejects.toThrow(TypeError);
  });

  it('replaces a mailbox left by a dead process that had the same pid', async () => {
    const name = `/ipcx-doorbell-${process.pid}`;
    shm.open(name, { create: true, size: 64 }); // what a SIGKILLed process with this pid would leave
    defer(() => {
      if (existsSync(`/dev/shm${name}`)) shm.unlink(name);
    });
    const bell = await Doorbell.create();
    defer(() => bell.close());
    expect(shm.stat(name).size).toBeGreaterThan(64);
    Doorbell.ring(process.pid); // the new mailbox is a working one
    bell.close();
    expect(existsSync(`/dev/shm${name}`)).toBe(false);
  });
});

describe('Doorbell with a futex instead of a signal', () => {
  it('carries rings from another process in the order rung, with and without data', async () => {
    const bell = await Doorbell.create({ wake: 'futex' });
    defer(() => bell.close());
    expect(bell.wake).toBe('futex');
    const ringer = fixture('doorbell.mjs', ['ring', String(process.pid), 'one', '-', 'three', 'four']);
    const rings = [];
    for (let i = 0; i < 4; i++) rings.push(await within(bell.receive(), 10_000, `ring ${i}`));
    expect((await within(ringer.exited, 10_000, 'ringer')).code).toBe(0);
    expect(rings.map((r) => (r.data ? Buffer.from(r.data).toString() : undefined))).toEqual([
      'one',
      undefined,
      'three',
      'four',
    ]);
    for (const r of rings) expect(r).toMatchObject({ pid: ringer.child.pid, uid: process.getuid!() });
    bell.close();
    await expect(bell.receive()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('rings a futex doorbell in another process; a dead receiver is NotFoundError, not a silent loss', async () => {
    const receiver = fixture('doorbell.mjs', ['receive', '2', '4', 'futex']);
    await within(receiver.line('ready'), 10_000, 'receiver');
    const pid = receiver.child.pid!;
    Doorbell.ring(pid, { data: Buffer.from('a') });
    Doorbell.ring(pid, Buffer.from('b'));
    const exit = await within(receiver.exited, 10_000, 'receiver exit');
    expect(exit.code).toBe(0);
    expect(
      exit.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l).data),
    ).toEqual(['a', 'b']);

    const killed = fixture('doorbell.mjs', ['receive', '1', '4', 'futex']);
    await within(killed.line('ready'), 10_000, 'receiver');
    const name = `/ipcx-doorbell-${killed.child.pid}`;
    defer(() => {
      if (existsSync(`/dev/shm${name}`)) shm.unlink(name);
    });
    killed.child.kill('SIGKILL');
    await within(killed.exited, 10_000, 'killed');
    expect(existsSync(`/dev/shm${name}`)).toBe(true); // what a SIGKILLed receiver leaves
    expect(() => Doorbell.ring(killed.child.pid!, { data: Buffer.from('lost?') })).toThrow(NotFoundError);
  });
});
