import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, MemoryChannel, TimeoutError } from '@ipcx/core';
import { MAX_TIMEOUT_MS, checkWaitOptions, deadline, intervalOption } from '@ipcx/core/transport';
import { exitOf, killTrackedChildren } from '@ipcx/core/testing';

describe('checkWaitOptions', () => {
  it('takes 0 to 2^31 - 1 ms and refuses the rest, which a Node timer would turn into 1 ms', async () => {
    for (const timeout of [undefined, 0, 1.5, MAX_TIMEOUT_MS])
      expect(() => checkWaitOptions({ timeout })).not.toThrow();
    for (const timeout of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMEOUT_MS + 1, '5' as unknown as number]) {
      expect(() => checkWaitOptions({ timeout })).toThrow(TypeError);
    }
    const [a, b] = MemoryChannel.pair();
    await expect(a.receive({ timeout: 30 * 24 * 3600 * 1000 })).rejects.toBeInstanceOf(TypeError);
    // A fraction of a millisecond is a timeout like any other (AbortSignal.timeout takes whole ms).
    await expect(a.receive({ timeout: 1.5 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await a.close();
    await b.close();
  });
});

describe('intervalOption', () => {
  it("takes a number of ms above 0 up to a timer's limit, the fallback when undefined, and refuses the rest", () => {
    expect(intervalOption('peerCheckInterval', undefined, 500)).toBe(500);
    for (const ms of [0.5, 1, 250, MAX_TIMEOUT_MS]) expect(intervalOption('peerCheckInterval', ms, 500)).toBe(ms);
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMEOUT_MS + 1, '5' as unknown as number]) {
      expect(() => intervalOption('peerCheckInterval', ms, 500)).toThrow(/peerCheckInterval/);
    }
  });
});

describe('a wait with a timeout', () => {
  it('keeps the process alive until it times out (it ended with exit code 13, a pending await, before)', async () => {
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      const { MemoryChannel } = await import(${JSON.stringify(core)});
      const [a] = MemoryChannel.pair();
      try { await a.receive({ timeout: 50 }); } catch (error) { console.log(error.code); }
    `;
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 20_000 },
        (_error, stdout) => resolve({ code: child.exitCode, stdout }),
      );
    });
    expect(result).toEqual({ code: 0, stdout: 'IPCX_ERR_TIMEOUT\n' });
  });

  it('does not keep the process alive once it settled, nor after its signal fired', async () => {
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const core = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    // Both waits have an hour of timeout left when they end: the process must still exit at once (execFile kills
    // it after 60 s otherwise, and the exit code is then null).
    const script = `
      const { MemoryChannel } = await import(${JSON.stringify(core)});
      const [a, b] = MemoryChannel.pair();
      const got = a.receive({ timeout: 3600000 });
      await b.send('x');
      const controller = new AbortController();
      const aborted = a.receive({ timeout: 3600000, signal: controller.signal }).catch((e) => e.code);
      controller.abort();
      console.log(await got, await aborted);
    `;
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        { timeout: 60_000 },
        (_error, stdout) => resolve({ code: child.exitCode, stdout }),
      );
    });
    expect(result).toEqual({ code: 0, stdout: 'x IPCX_ERR_ABORTED\n' });
  });
});

describe('deadline()', () => {
  afterEach(killTrackedChildren);
  const transport = fileURLToPath(new URL('../dist/transport.js', import.meta.url));

  it('keeps a process whose only pending thing is a race against it alive until it fires (exit code 13 before)', async () => {
    const script = `
      const { deadline } = await import(${JSON.stringify(transport)});
      const limit = deadline('wait', { timeout: 50 });
      try { await limit.race(new Promise(() => {})); } catch (error) { console.log(error.code); } finally { limit.release(); }
    `;
    expect(await exitOf(script)).toMatchObject({ code: 0, stdout: 'IPCX_ERR_TIMEOUT\n' });
  });

  it('lets the process exit at once once released, and race() ends with the error of a signal', async () => {
    // A day of timeout left when the waits settle: a timer that release() did not stop would keep the child
    // alive past exitOf's bound.
    const script = `
      const { deadline } = await import(${JSON.stringify(transport)});
      const early = deadline('wait', { timeout: 86400000 });
      const value = await early.race(Promise.resolve('settled'));
      early.release();
      const controller = new AbortController();
      const aborted = deadline('wait', { timeout: 86400000, signal: controller.signal });
      const pending = aborted.race(new Promise(() => {})).catch((e) => e.code).finally(() => aborted.release());
      controller.abort();
      console.log(value, await pending);
    `;
    expect(await exitOf(script)).toMatchObject({ code: 0, stdout: 'settled IPCX_ERR_ABORTED\n' });
  });
});

describe('a deadline with both a signal and a timeout', () => {
  it('ends on either, with the typed error for the one that fired, and leaves no listener on the signal', async () => {
    const user = new AbortController();
    const timedOut = deadline('receive', { signal: user.signal, timeout: 5 });
    await new Promise((resolve) => timedOut!.signal.addEventListener('abort', resolve, { once: true }));
    expect(timedOut!.error()).toBeInstanceOf(TimeoutError);
    timedOut!.release();
    const aborted = deadline('receive', { signal: user.signal, timeout: 60_000 });
    user.abort(new Error('shutdown'));
    expect(aborted!.signal.aborted).toBe(true);
    expect(aborted!.error()).toBeInstanceOf(AbortedError);
    aborted!.release();
    expect(getEventListeners(user.signal, 'abort')).toHaveLength(0);
  });

  it('does not grow with the calls made under one long-lived signal', async () => {
    // AbortSignal.any's signals stay referenced from their sources on Node 20 and 22 (60–180 bytes a call),
    // so waits given the app's shutdown signal and a timeout grew the heap without bound.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const shutdown = new AbortController();
    const settle = async (): Promise<number> => {
      for (let round = 0; round < 3; round++) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      return process.memoryUsage().heapUsed;
    };
    const calls = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const limit = deadline('receive', { signal: shutdown.signal, timeout: 60_000 })!;
        await limit.race(Promise.resolve(i));
        limit.release();
      }
    };
    await calls(10_000); // warm up
    const before = await settle();
    await calls(100_000);
    const grown = (await settle()) - before;
    expect(grown, `heap grew ${(grown / 1e6).toFixed(1)} MB over 100 000 calls`).toBeLessThan(2e6);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
  });
});
