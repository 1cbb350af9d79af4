import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { registerKernelObject, unlinkOwnedKernelObjects } from '@ipcx/core';
import { readOwnerRecords, removeOwnerRecord } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('owner records', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL');
    await unlinkOwnedKernelObjects();
  });

  it('records what core registers while this process lives, and forgets it on unregister', () => {
    const name = `/ipcx-records-${process.pid}-${Math.random().toString(36).slice(2)}`;
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
    const name = `/ipcx-records-child-${process.pid}-${Math.random().toString(36).slice(2)}`;
    // Plain Node loads dist, as a user's process would.
    const script = `
      import { registerKernelObject } from '@ipcx/core';
      import '@ipcx/native';
      registerKernelObject({ kind: 'mq', name: ${JSON.stringify(name)}, unlink: () => {} });
      process.stdout.write('ready\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: packageDir, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
      child.stdout!.once('data', () => resolve());
    });
    const live = readOwnerRecords().find((r) => r.objects.some((o) => o.name === name));
    expect(live).toMatchObject({ pid: child.pid, alive: true });
    child.kill('SIGKILL');
    await once(child, 'exit');
    const dead = readOwnerRecords().find((r) => r.objects.some((o) => o.name === name));
    expect(dead).toMatchObject({ pid: child.pid, alive: false });
    expect(removeOwnerRecord(dead!.path)).toBe(true);
    expect(existsSync(dead!.path)).toBe(false);
  });
});
