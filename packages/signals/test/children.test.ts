import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { describe, expect, it } from 'vitest';

import { childExits, watchChild } from '../src/index.js';
import { trackChild } from '@ipcx/core/testing';
import { defer, fixture, within } from './helpers.js';

function sleeper() {
  return trackChild(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }));
}

describe('child exits', () => {
  it('reports a child killed by a signal as { pid, code: null, signal }', async () => {
    const child = sleeper();
    await once(child, 'spawn');
    process.kill(child.pid!, 'SIGKILL');
    expect(await within(watchChild(child), 10_000, 'exit')).toEqual({ pid: child.pid, code: null, signal: 'SIGKILL' });
  });

  it('reports a child that had already exited before anyone asked (an exit listener added then never fires)', async () => {
    const child = spawn(process.execPath, ['-e', 'process.exit(7)'], { stdio: 'ignore' });
    await once(child, 'exit');
    let late = false;
    child.once('exit', () => (late = true));
    expect(await within(watchChild(child), 10_000, 'exit')).toEqual({ pid: child.pid, code: 7, signal: null });
    expect(late).toBe(false);
  });

  it('rejects for a child that never started', async () => {
    const child = spawn('/nonexistent/ipcx-no-such-binary', [], { stdio: 'ignore' });
    await expect(within(watchChild(child), 10_000, 'spawn error')).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    // Asked again after the spawn error was emitted: the same answer, not a wait forever.
    await expect(within(watchChild(child), 10_000, 'spawn error again')).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
  });

  it('streams every exit of a set of children, however each ended', async () => {
    const a = spawn(process.execPath, ['-e', 'process.exit(0)'], { stdio: 'ignore' });
    const b = sleeper();
    const exits = childExits({ children: [a, b] });
    defer(() => exits.close());
    const first = await within(exits.next(), 10_000, 'first exit');
    expect(first).toEqual({ pid: a.pid, code: 0, signal: null });
    b.kill('SIGTERM');
    const c = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    exits.add(c);
    const seen = [];
    for await (const exit of exits) {
      seen.push(exit);
      if (seen.length === 2) break;
    }
    expect(seen.sort((x, y) => x.pid - y.pid)).toEqual(
      [
        { pid: b.pid, code: null, signal: 'SIGTERM' },
        { pid: c.pid, code: 3, signal: null },
      ].sort((x, y) => x.pid! - y.pid!),
    );
    exits.close();
    await expect(exits.next()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });

  it('follows node:cluster workers in a primary', async () => {
    const primary = fixture('exits.mjs');
    const exit = await within(primary.exited, 15_000, 'primary');
    expect(exit.code).toBe(0);
    expect(JSON.parse(exit.stdout)).toEqual([
      { worker: 0, code: 3, signal: null },
      { worker: 1, code: null, signal: 'SIGKILL' },
      { worker: 2, code: 0, signal: null },
    ]);
  });
});

describe('childExits() with no arguments', () => {
  it('follows every child spawned after it, however each ended, and stops at close', async () => {
    const exits = childExits();
    defer(() => exits.close());
    const a = spawn(process.execPath, ['-e', 'process.exit(4)'], { stdio: 'ignore' });
    const b = sleeper();
    await once(b, 'spawn');
    b.kill('SIGKILL');
    const seen = [await within(exits.next(), 10_000, 'first'), await within(exits.next(), 10_000, 'second')];
    expect(seen.sort((x, y) => x.pid - y.pid)).toEqual(
      [
        { pid: a.pid, code: 4, signal: null },
        { pid: b.pid, code: null, signal: 'SIGKILL' },
      ].sort((x, y) => x.pid! - y.pid!),
    );
    expect(exits.size).toBe(0);
    spawn('/nonexistent/ipcx-no-such-binary', [], { stdio: 'ignore' }).on('error', () => {});
    exits.close();
    const after = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(after, 'exit');
    await expect(exits.next()).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  });
});
