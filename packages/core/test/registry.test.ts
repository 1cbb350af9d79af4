import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ownedKernelObjects, unlinkOwnedKernelObjects, unlinkOwnedKernelObjectsSync } from '../src/index.js';
import { registerKernelObject } from '../src/transport.js';

describe('kernel object registry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipcx-registry-'));
  afterEach(async () => {
    await unlinkOwnedKernelObjects();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('unlinks what is registered, newest first, once, and empties itself', async () => {
    const order: string[] = [];
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, '');
    writeFileSync(b, '');
    registerKernelObject({
      kind: 'file',
      name: a,
      unlink: () => {
        order.push('a');
        rmSync(a);
      },
    });
    registerKernelObject({
      kind: 'file',
      name: b,
      unlink: async () => {
        order.push('b');
        rmSync(b);
      },
    });
    expect(ownedKernelObjects().map((o) => o.name)).toEqual([a, b]);
    const results = await unlinkOwnedKernelObjects();
    expect(order).toEqual(['b', 'a']);
    expect(results.every((r) => r.error === undefined)).toBe(true);
    expect(existsSync(a) || existsSync(b)).toBe(false);
    expect(ownedKernelObjects()).toEqual([]);
    expect(await unlinkOwnedKernelObjects()).toEqual([]);
  });

  it('forgets an entry its owner unregistered, without unlinking it', async () => {
    let unlinked = false;
    const entry = registerKernelObject({
      kind: 'shm',
      name: '/ipcx-x',
      unlink: () => {
        unlinked = true;
      },
    });
    entry.unregister();
    entry.unregister();
    expect(ownedKernelObjects()).toEqual([]);
    await unlinkOwnedKernelObjects();
    expect(unlinked).toBe(false);
  });

  it('reports a failing unlink and still runs the others', async () => {
    let ran = false;
    registerKernelObject({
      kind: 'mq',
      name: '/ipcx-ok',
      unlink: () => {
        ran = true;
      },
    });
    registerKernelObject({
      kind: 'mq',
      name: '/ipcx-bad',
      unlink: () => {
        throw new Error('boom');
      },
    });
    const results = await unlinkOwnedKernelObjects();
    expect(ran).toBe(true);
    expect(results.find((r) => r.object.name === '/ipcx-bad')?.error).toBeInstanceOf(Error);
  });

  it('sync form reports asynchronous unlinks it cannot await', () => {
    registerKernelObject({ kind: 'socket', name: 'x', unlink: async () => {} });
    const [result] = unlinkOwnedKernelObjectsSync();
    expect(result?.error).toBeInstanceOf(Error);
  });
});
