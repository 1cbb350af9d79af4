import { describe, expect, it } from 'vitest';

import { constants, signals, sigqueue, type SignalInfo } from '../src/index.js';
import { defer, fixture, succeeds, within } from './helpers.js';

/** Collects signals until `n` have arrived. */
function collect(signal: number | string, n: number) {
  const got: SignalInfo[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const receiver = signals.listen(signal, (info) => {
    got.push(info);
    if (got.length === n) done();
  });
  defer(() => receiver.close());
  return { got, all, receiver };
}

describe('signals', () => {
  it('delivers a queued value with the sender pid and uid', async () => {
    const { got, all } = collect('SIGRTMIN+1', 1);
    sigqueue(process.pid, 'SIGRTMIN+1', 42);
    await within(all, 5000, 'signal');
    expect(got[0]).toEqual({
      signal: constants.SIGRTMIN + 1,
      code: -1,
      value: 42,
      pid: process.pid,
      uid: process.getuid!(),
    });
  });

  it('delivers every one of a burst of realtime signals, in order', async () => {
    const n = 200;
    const { got, all } = collect('SIGRTMIN+2', n);
    for (let i = 0; i < n; i++) sigqueue(process.pid, 'SIGRTMIN+2', i);
    await within(all, 5000, 'burst');
    expect(got.map((g) => g.value)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('receives from another process', async () => {
    const { got, all } = collect('SIGRTMIN+3', 1);
    const peer = fixture('sigqueue-sender.mjs', [String(process.pid), 'SIGRTMIN+3', '-7']);
    await within(all, 10_000, 'signal from peer');
    await succeeds(peer, 10_000, 'peer');
    expect(got[0]).toMatchObject({ value: -7, pid: peer.child.pid });
  });

  it('keeps the order of a burst from another process (only the receiving thread takes the signal)', async () => {
    const n = 500;
    const { got, all } = collect('SIGRTMIN+4', n);
    const peer = fixture('sigqueue-burst.mjs', [String(process.pid), 'SIGRTMIN+4', String(n)]);
    await within(all, 10_000, 'burst from peer');
    await succeeds(peer, 10_000, 'peer');
    expect(got.map((g) => g.value)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(got.every((g) => g.pid === peer.child.pid)).toBe(true);
  });

  it('lets several listeners share a signal and restores the previous handler when the last closes', async () => {
    let nodeHandled = 0;
    const nodeHandler = () => nodeHandled++;
    process.on('SIGUSR2', nodeHandler);
    defer(() => void process.off('SIGUSR2', nodeHandler));
    const a = collect('SIGUSR2', 1);
    const b = collect('SIGUSR2', 2);
    process.kill(process.pid, 'SIGUSR2');
    await within(a.all, 5000, 'first listener');
    a.receiver.close();
    a.receiver.close();
    expect(a.receiver.closed).toBe(true);
    sigqueue(process.pid, 'SIGUSR2', 5);
    await within(b.all, 5000, 'second listener');
    expect(a.got).toHaveLength(1);
    expect(b.got.map((g) => g.code)).toEqual([0, -1]); // SI_USER from kill, SI_QUEUE from sigqueue
    expect(nodeHandled).toBe(0);
    b.receiver.close();
    // Node's own handler is back.
    const back = new Promise<void>((resolve) => process.once('SIGUSR2', () => resolve()));
    process.kill(process.pid, 'SIGUSR2');
    await within(back, 5000, "node's handler");
    expect(nodeHandled).toBe(1);
  });

  it('refuses signals it must not take and parses names', () => {
    expect(() => signals.listen('SIGKILL', () => {})).toThrow(TypeError);
    expect(() => signals.listen('SIGSEGV', () => {})).toThrow(TypeError);
    expect(() => signals.listen(constants.INTERRUPT_SIGNAL, () => {})).toThrow(TypeError);
    expect(signals.number('SIGRTMAX-1')).toBe(constants.SIGRTMAX - 1);
    expect(signals.number('SIGUSR1')).toBe(10);
    expect(() => signals.number('SIGNOPE')).toThrow(TypeError);
    expect(() => sigqueue(0x7fffffff, 'SIGRTMIN', 1)).toThrow(
      expect.objectContaining({ code: 'ESRCH', syscall: 'sigqueue' }),
    );
  });
});
