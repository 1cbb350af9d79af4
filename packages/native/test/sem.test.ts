import { describe, expect, it } from 'vitest';

import { native } from '../src/binding.js';
import { sem, type Semaphore } from '../src/index.js';
import { defer, fixture, ignoring, succeeds, uniqueName, within } from './helpers.js';

function semaphore(label: string, value = 0): Semaphore {
  const name = `/${uniqueName(label)}`;
  const s = sem.open(name, { create: true, exclusive: true, value });
  defer(() => ignoring(['ENOENT'], () => sem.unlink(name)));
  defer(() => s.close());
  return s;
}

describe('sem', () => {
  it('counts: tryWait takes while above zero, post gives back', () => {
    const s = semaphore('count', 2);
    expect(s.value()).toBe(2);
    expect(s.tryWait()).toBe(true);
    expect(s.tryWait()).toBe(true);
    expect(s.tryWait()).toBe(false);
    s.post();
    expect(s.value()).toBe(1);
  });

  it('times out a blocking wait and an async wait', async () => {
    const s = semaphore('timeout');
    const t0 = performance.now();
    expect(s.wait(20)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19);
    expect(await within(s.waitAsync(20), 5000, 'waitAsync timeout')).toBe(false);
    expect(await s.waitAsync(0)).toBe(false);
  });

  it('resolves waitAsync when another process posts, while the event loop runs', async () => {
    const s = semaphore('cross');
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    defer(() => clearInterval(interval));
    const waiting = s.waitAsync(10_000);
    const peer = fixture('sem-post.mjs', [s.name]);
    expect(await within(waiting, 10_000, 'posted by peer')).toBe(true);
    expect(ticks).toBeGreaterThan(0); // the loop ran its timers while the wait was pending
    await succeeds(peer, 10_000, 'peer');
    expect(s.value()).toBe(0);
    expect(native.waiterStats()[2]).toBe(0);
  });

  it('rejects pending waits with ECANCELED on close, and is closed afterwards', async () => {
    const name = `/${uniqueName('close')}`;
    const s = sem.open(name, { create: true });
    defer(() => ignoring(['ENOENT'], () => sem.unlink(name)));
    const waiting = s.waitAsync();
    s.close();
    s.close();
    await expect(within(waiting, 5000, 'cancel on close')).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(s.closed).toBe(true);
    expect(() => s.post()).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await expect(s.waitAsync()).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('rejects waitAsync with the abort reason', async () => {
    const s = semaphore('abort');
    const ac = new AbortController();
    const waiting = s.waitAsync(undefined, { signal: ac.signal });
    ac.abort(new Error('enough'));
    await expect(within(waiting, 5000, 'abort')).rejects.toThrow('enough');
    s.post();
    expect(s.value()).toBe(1); // the cancelled wait took nothing
  });

  it('fails with EEXIST on exclusive create and ENOENT for a missing name', () => {
    const s = semaphore('exists');
    expect(() => sem.open(s.name, { exclusive: true })).toThrow(
      expect.objectContaining({ code: 'EEXIST', syscall: 'sem_open' }),
    );
    expect(() => sem.open(`/${uniqueName('missing')}`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
