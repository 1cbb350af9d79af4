import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { unlinkOwnedKernelObjects } from '@ipcx/core';
import { registerKernelObject } from '@ipcx/core/transport';
import { childLines, killChild, spawnCode, uniqueName } from '@ipcx/core/testing';
import { readOwnerRecords, removeOwnerRecord } from '../src/index.js';
import './helpers.js'; // kills the children after each test

describe('owner records', () => {
  afterEach(async () => {
    await unlinkOwnedKernelObjects();
  });

  it('records what core registers while this process lives, and forgets it on unregister', () => {
    const name = `/${uniqueName('records')}`;
    const entry = registerKernelObject({ kind: 'shm', name, unlink: () => {} });
    const mine = readOwnerRecords().find((r) => r.pid === process.pid && r.objects.some((o) => o.name === name));
    expect(mine?.alive).toBe(true);
    expect(mine?.objects.find((o) => o.name === name)?.kind).toBe('shm');
    expect(removeOwnerRecord(mine!.path)).toBe(false);
    entry.unregister();
    expect(readOwnerRecords().some((r) => r.objects.some((o) => o.name === name))).toBe(false);
    expect(existsSync(mine!.path)).toBe(false);
  });

  it('shows a SIGKILLed owner as dead, with its objects, and lets its record be removed', async () => {
    const name = `/${uniqueName('records-child')}`;
    // Plain Node loads dist, as a user's process would.
    const script = `
      import { registerKernelObject } from '@ipcx/core/transport';
      import '@ipcx/native';
      registerKernelObject({ kind: 'mq', name: ${JSON.stringify(name)}, unlink: () => {} });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);`;
    const child = spawnCode(script);
    await childLines(child).line('ready');
    const live = readOwnerRecords().find((r) => r.objects.some((o) => o.name === name));
    expect(live).toMatchObject({ pid: child.pid, alive: true });
    await killChild(child);
    const dead = readOwnerRecords().find((r) => r.objects.some((o) => o.name === name));
    expect(dead).toMatchObject({ pid: child.pid, alive: false });
    expect(removeOwnerRecord(dead!.path)).toBe(true);
    expect(existsSync(dead!.path)).toBe(false);
  });
});
