import { afterEach, describe, expect, it } from 'vitest';
import { request } from '@ipcx/core';
import { forkChild, forkClusterWorker, spawnWorker, type WorkerHandle } from '@ipcx/cluster';
import { childLines, rejection, spawnNode, within } from '@ipcx/core/testing';
import { fixture, leftovers } from './helpers.js';

const handles: WorkerHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h[Symbol.asyncDispose]()));
  expect(leftovers()).toEqual([]);
});

const styles = {
  'worker thread (shm)': () => spawnWorker(fixture('echo.mjs')),
  'worker thread (unix)': () => spawnWorker(fixture('echo.mjs'), { transport: 'unix' }),
  'child process (shm)': () => forkChild(fixture('echo.mjs')),
  'child process (unix)': () => forkChild(fixture('echo.mjs'), { transport: 'unix' }),
  'cluster worker (shm)': () => forkClusterWorker({ file: fixture('echo.mjs') }),
  'cluster worker (unix)': () => forkClusterWorker({ file: fixture('echo.mjs'), transport: 'unix' }),
} satisfies Record<string, () => Promise<WorkerHandle>>;

for (const [name, spawn] of Object.entries(styles)) {
  describe(name, () => {
    it('delivers messages both ways', async () => {
      const handle = await spawn();
      handles.push(handle);
      const hello = (await handle.channel.receive({ timeout: 10_000 })) as { hello: number };
      expect(hello.hello).toBe(handle.pid);
      for (let i = 0; i < 100; i++) await handle.channel.send({ n: i, text: 'x'.repeat(i) });
      for (let i = 0; i < 100; i++)
        expect(await handle.channel.receive({ timeout: 10_000 })).toEqual({ echo: { n: i, text: 'x'.repeat(i) } });
      await handle.close({ timeout: 5000 });
    });

    it('ends a waiting receive with PeerGoneError when the worker exits', async () => {
      const handle = await spawn();
      handles.push(handle);
      await handle.channel.receive({ timeout: 10_000 });
      const waiting = handle.channel.receive();
      await handle.channel.send({ exit: 3 });
      const error = await within(rejection(waiting), 3000, 'PeerGoneError');
      // A Unix socket cannot tell a death from a close: its end of stream may come before the exit.
      expect(error.code).toBe(
        name.includes('unix') && error.code === 'IPCX_ERR_CLOSED' ? 'IPCX_ERR_CLOSED' : 'IPCX_ERR_PEER_GONE',
      );
      expect((await handle.exited).code).toBe(3);
      await expect(handle.channel.send('late')).rejects.toMatchObject({
        code: expect.stringMatching(/PEER_GONE|CLOSED/),
      });
    });
  });
}

describe('request/response', () => {
  it('runs core request/serve over a spawned channel; a request to a killed server ends', async () => {
    const handle = await forkChild(fixture('serve.mjs'));
    handles.push(handle);
    expect(await Promise.all([1, 2, 3].map((n) => request(handle.channel, n, { timeout: 10_000 })))).toEqual([2, 4, 6]);
    // A request the server never gets to answer fails when it dies.
    const slow = request<number>(handle.channel, 'not a number', { timeout: 10_000 }).catch(
      (e: { code?: string }) => e,
    );
    handle.kill('SIGKILL');
    const outcome = await within(slow, 3000, 'the slow receive');
    // NaN (answered before the kill) or PeerGoneError (killed first): never a hang.
    expect(typeof outcome === 'number' ? Number.isNaN(outcome) : outcome.code === 'IPCX_ERR_PEER_GONE').toBe(true);
  });
});

describe('deaths', () => {
  it('notices a thread that throws, and says why', async () => {
    const handle = await spawnWorker(fixture('echo.mjs'));
    handles.push(handle);
    await handle.channel.receive({ timeout: 10_000 });
    const waiting = handle.channel.receive();
    await handle.channel.send({ throw: 'boom' });
    const error = await within(rejection(waiting), 3000, 'PeerGoneError');
    expect(error.code).toBe('IPCX_ERR_PEER_GONE');
    expect(error.message).toContain('boom');
    expect((await handle.exited).error).toBeInstanceOf(Error);
  });

  for (const [name, spawn] of [
    ['child process', () => forkChild(fixture('echo.mjs'))],
    ['cluster worker', () => forkClusterWorker({ file: fixture('echo.mjs') })],
  ] as const) {
    it(`notices a ${name} killed with SIGKILL within a second, and reports the signal`, async () => {
      const handle = await spawn();
      handles.push(handle);
      await handle.channel.receive({ timeout: 10_000 });
      const waiting = handle.channel.receive();
      handle.kill('SIGKILL');
      const error = await within(rejection(waiting), 3000, 'PeerGoneError');
      expect(error.code).toBe('IPCX_ERR_PEER_GONE');
      expect(await handle.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    });
  }

  it('ends a waiting receive with PeerGoneError when a child dies before it connected', async () => {
    const handle = await forkChild(fixture('supervised.mjs'), { env: { ...process.env, MODE: 'crash' } });
    handles.push(handle);
    const error = await within(rejection(handle.channel.receive()), 3000, 'PeerGoneError');
    expect(error.code).toBe('IPCX_ERR_PEER_GONE');
    expect((await handle.exited).code).toBe(1);
  });

  it('a child notices that its parent was SIGKILLed', async () => {
    const middle = childLines(
      spawnNode([fixture('orphan.mjs')], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, ROLE: 'middle' },
      }),
    );
    const [, leafPid] = /leaf (\d+)/.exec(await middle.line('leaf'))!;
    middle.child.kill('SIGKILL');
    const [, report] = /(\{.*\})/.exec(await middle.line((l) => /\{.*\}/.test(l), 5000))!;
    expect(JSON.parse(report!)).toEqual({ code: 'IPCX_ERR_PEER_GONE' });
    expect(leafPid).toBeDefined();
  });
});
