import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { InvalidNameError, LimitError, NotFoundError, UnsupportedError } from '@ipcx/core';
import { constants } from '@ipcx/native';

import {
  ignoreSignal,
  onSignal,
  raise,
  resolveSignal,
  sendSignal,
  signalDisposition,
  waitForSignal,
  type SignalEvent,
} from '../src/index.js';
import { defer, fixture, fixturesDir, run, within } from './helpers.js';

function collect(signal: string, n: number) {
  const got: SignalEvent[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const off = onSignal(signal as 'SIGRTMIN+1', (event) => {
    got.push(event);
    if (got.length === n) done();
  });
  defer(off);
  return { got, all, off };
}

describe('onSignal', () => {
  it('delivers realtime values from another process in order, with its pid and uid', async () => {
    const n = 100;
    const { got, all } = collect('SIGRTMIN+5', n);
    const sender = fixture('send.mjs', [String(process.pid), 'SIGRTMIN+5', String(n)]);
    await within(all, 10_000, 'realtime signals');
    const { code } = await within(sender.exited, 10_000, 'sender exit');
    expect(code).toBe(0);
    expect(got.map((e) => e.value)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const event of got)
      expect(event).toEqual({
        signal: 'SIGRTMIN+5',
        value: event.value,
        pid: sender.child.pid,
        uid: process.getuid!(),
      });
  });

  it('runs several handlers per signal and does not call one removed by abort', async () => {
    const ac = new AbortController();
    const removed: SignalEvent[] = [];
    onSignal('SIGUSR2', (e) => removed.push(e), { signal: ac.signal });
    const kept = collect('SIGUSR2', 2);
    const rtRemoved: SignalEvent[] = [];
    onSignal('SIGRTMIN+6', (e) => rtRemoved.push(e), { signal: ac.signal });
    const rtKept = collect('SIGRTMIN+6', 1);
    raise('SIGUSR2');
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (kept.got.length === 1) {
            clearInterval(t);
            resolve();
          }
        }, 5);
      }),
      5000,
      'first SIGUSR2',
    );
    expect(removed).toHaveLength(1);
    ac.abort();
    const sender = run('kill', ['-USR2', String(process.pid)]);
    await within(kept.all, 5000, 'second SIGUSR2');
    await within(sender.exited, 5000, 'kill');
    sendSignal(process.pid, 'SIGRTMIN+6', { value: 9 });
    await within(rtKept.all, 5000, 'realtime signal');
    expect(removed).toHaveLength(1);
    expect(rtRemoved).toEqual([]);
    expect(rtKept.got).toEqual([{ signal: 'SIGRTMIN+6', value: 9, pid: process.pid, uid: process.getuid!() }]);
  });

  it('calls a once handler once and a disposer removes only its own handler', async () => {
    const onceCalls: SignalEvent[] = [];
    onSignal('SIGUSR2', (e) => onceCalls.push(e), { once: true });
    const twice = collect('SIGUSR2', 2);
    const same = (): void => {};
    const off1 = onSignal('SIGUSR2', same);
    const off2 = onSignal('SIGUSR2', same);
    off1();
    off1();
    off2[Symbol.dispose]();
    raise('SIGUSR2');
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (twice.got.length === 1) {
            clearInterval(t);
            resolve();
          }
        }, 5);
      }),
      5000,
      'first',
    );
    raise('SIGUSR2');
    await within(twice.all, 5000, 'second');
    expect(onceCalls).toEqual([{ signal: 'SIGUSR2' }]);
  });

  it('refuses signals that cannot be caught or that Node reserves, saying why', () => {
    const refused = (s: string) => {
      try {
        onSignal(s as 'SIGKILL', () => {});
      } catch (error) {
        expect(error).toBeInstanceOf(UnsupportedError);
        return (error as Error).message;
      }
      throw new Error(`${s} was accepted`);
    };
    expect(refused('SIGKILL')).toMatch(/never lets a process catch/);
    expect(refused('SIGSTOP')).toMatch(/never lets a process catch/);
    expect(refused('SIGUSR1')).toMatch(/inspector/);
    expect(refused('SIGPIPE')).toMatch(/EPIPE/);
    expect(refused('SIGSEGV')).toMatch(/synchronous fault/);
    expect(refused('SIGPROF')).toMatch(/profiler/);
    expect(refused('SIGRTMAX')).toMatch(/waiter threads/);
    expect(() => ignoreSignal('SIGKILL')).toThrow(UnsupportedError);
    expect(() => onSignal('SIGNOPE' as 'SIGHUP', () => {})).toThrow(InvalidNameError);
    expect(() => onSignal('SIGRTMIN+99' as 'SIGHUP', () => {})).toThrow(InvalidNameError);
    expect(resolveSignal('SIGRTMAX-1')).toEqual({
      name: `SIGRTMIN+${constants.SIGRTMAX - 1 - constants.SIGRTMIN}`,
      number: constants.SIGRTMAX - 1,
      realtime: true,
    });
    expect(resolveSignal(15)).toEqual({ name: 'SIGTERM', number: 15, realtime: false });
  });
});

describe('dispositions', () => {
  for (const [signal, mode, expected] of [
    ['SIGHUP', 'default', { signal: 'SIGHUP' }],
    ['SIGHUP', 'handler', { code: 0 }],
    ['SIGHUP', 'ignore', { code: 0 }],
    ['SIGRTMIN+1', 'default', { signal: null }],
    ['SIGRTMIN+1', 'ignore', { code: 0 }],
  ] as const) {
    it(`${mode} for ${signal}: ${'signal' in expected ? 'the process is terminated' : 'the process lives on'}`, async () => {
      const proc = fixture('disposition.mjs', [signal, mode]);
      const ready = await within(proc.line('ready'), 10_000, 'ready');
      expect(ready).toBe(`ready ${mode}`);
      sendSignal(proc.child.pid!, signal);
      if (mode === 'handler') await within(proc.line(`handled ${signal}`), 10_000, 'handler');
      // A terminating signal kills at once; otherwise SIGUSR2 (sent after it) ends the process with 0.
      try {
        sendSignal(proc.child.pid!, 'SIGUSR2');
      } catch (error) {
        expect(error).toBeInstanceOf(NotFoundError);
      }
      const exit = await within(proc.exited, 10_000, 'exit');
      if ('signal' in expected) {
        // Node has no name for a realtime signal and reports a child it killed as exit code 0: only the
        // missing 'usr2' line shows that it died at once.
        if (expected.signal) expect(exit.signal).toBe(expected.signal);
        expect(exit.stdout).not.toContain('usr2');
      } else {
        expect(exit.code).toBe(0);
        expect(exit.stdout).toContain('usr2');
      }
    });
  }

  it('reports the disposition in force', () => {
    expect(signalDisposition('SIGHUP')).toBe('default');
    const ignore = ignoreSignal('SIGHUP');
    expect(signalDisposition('SIGHUP')).toBe('ignore');
    const off = onSignal('SIGHUP', () => {});
    expect(signalDisposition('SIGHUP')).toBe('handler');
    off();
    expect(signalDisposition('SIGHUP')).toBe('ignore');
    ignore();
    expect(signalDisposition('SIGHUP')).toBe('default');
    expect(signalDisposition('SIGPIPE')).toBe('ignore');
  });
});

describe('waitForSignal', () => {
  it('resolves with a signal sent by another process', async () => {
    const waiting = waitForSignal(['SIGRTMIN+7', 'SIGUSR2'], { timeout: 10_000 });
    fixture('send.mjs', [String(process.pid), 'SIGRTMIN+7', '1']);
    const event = await waiting;
    expect(event).toMatchObject({ signal: 'SIGRTMIN+7', value: 0 });
    expect(signalDisposition('SIGRTMIN+7')).toBe('default');
  });

  it('ends with TimeoutError or AbortedError', async () => {
    await expect(waitForSignal('SIGUSR2', { timeout: 10 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const ac = new AbortController();
    const waiting = waitForSignal('SIGUSR2', { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    expect(signalDisposition('SIGUSR2')).toBe('default');
  });
});

describe('sendSignal', () => {
  it('fails with NotFoundError for a process that is gone', async () => {
    const proc = run(process.execPath, ['-e', '0']);
    await within(proc.exited, 10_000, 'exit');
    expect(() => sendSignal(proc.child.pid!, 'SIGRTMIN+2', { value: 1 })).toThrow(NotFoundError);
    expect(() => sendSignal(proc.child.pid!, 'SIGTERM')).toThrow(NotFoundError);
    expect(() => sendSignal(process.pid, 'SIGRTMIN+2', { value: 2 ** 31 })).toThrow(RangeError);
    expect(() => sendSignal(0, 'SIGTERM')).toThrow(RangeError);
  });

  it("fails with LimitError past the receiver's RLIMIT_SIGPENDING, and loses none before it", async (ctx) => {
    if (spawnSync('prlimit', ['--version']).status !== 0) ctx.skip(); // util-linux sets the receiver's limit
    const limit = 16;
    const proc = run('prlimit', [`--sigpending=${limit}`, process.execPath, `${fixturesDir}receive.mjs`, 'SIGRTMIN+3']);
    await within(proc.line('ready'), 10_000, 'ready');
    const pid = proc.child.pid!;
    process.kill(pid, 'SIGSTOP'); // queued signals stay pending while it is stopped
    let sent = 0;
    let failure: unknown;
    for (; sent < 10 * limit; sent++) {
      try {
        sendSignal(pid, 'SIGRTMIN+3', { value: sent });
      } catch (error) {
        failure = error;
        break;
      }
    }
    expect(failure).toBeInstanceOf(LimitError);
    expect((failure as LimitError).limit).toBe('RLIMIT_SIGPENDING');
    expect((failure as Error).message).toMatch(/RLIMIT_SIGPENDING of process \d+ is 16.*ulimit -i/s);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(limit);
    process.kill(pid, 'SIGCONT');
    await within(proc.line(`got ${sent - 1} ${process.pid}`), 10_000, 'last queued signal');
    expect(proc.lines.filter((l) => l.startsWith('got ')).map((l) => Number(l.split(' ')[1]))).toEqual(
      Array.from({ length: sent }, (_, i) => i),
    );
  });
});

describe('in a worker thread', () => {
  it('refuses a standard signal (Node would never call the handler) and takes a realtime one', async () => {
    const { Worker } = await import('node:worker_threads');
    const code = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then(({ onSignal, raise }) => {
        let refused = '';
        try { onSignal('SIGTERM', () => {}); } catch (e) { refused = e.code; }
        const off = onSignal('SIGRTMIN+8', ({ value }) => { off(); parentPort.postMessage({ refused, value }); });
        raise('SIGRTMIN+8', { value: 5 });
      });`;
    const worker = new Worker(code, { eval: true });
    defer(async () => void (await worker.terminate()));
    const message = await within(
      new Promise((resolve, reject) => (worker.once('message', resolve), worker.once('error', reject))),
      10_000,
      'worker',
    );
    expect(message).toEqual({ refused: 'IPCX_ERR_UNSUPPORTED', value: 5 });
  });
});
