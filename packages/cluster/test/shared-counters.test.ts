import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedCounters, forkChild, spawnWorker } from '@ipcx/cluster';
import { uniqueName } from '@ipcx/core/testing';
import { fixture } from './helpers.js';

const made: SharedCounters[] = [];
const counterName = (): string => `/${uniqueName('counters')}`;
afterEach(() => {
  for (const c of made.splice(0)) c.close();
});

describe('SharedCounters', () => {
  it('adds, sets, compares and exchanges, and enforces a limit', async () => {
    const c = await SharedCounters.create(counterName(), { counters: ['a', 'b'] });
    made.push(c);
    expect(c.add('a')).toBe(1);
    expect(c.add('a', 41)).toBe(42);
    expect(c.set('b', 7)).toBe(0);
    expect(c.compareExchange('b', 7, 8)).toBe(7);
    expect(c.compareExchange('b', 7, 9)).toBe(8);
    expect(c.addIfBelow('a', 1, 43)).toBe(true);
    expect(c.addIfBelow('a', 1, 43)).toBe(false);
    expect(c.snapshot()).toEqual({ a: 43, b: 8 });
    expect(() => c.add('c' as never)).toThrow(TypeError);
    expect(() => c.add('a', 0.5)).toThrow(RangeError);
  });

  it('is shared by threads and processes: no increment is lost, and the owner unlinks it', async () => {
    const name = counterName();
    const c = await SharedCounters.create(name, { counters: ['hits', 'slots'] });
    made.push(c);
    const n = 20_000;
    const handles = await Promise.all([
      spawnWorker(fixture('counters.mjs'), { workerData: { name, n } }),
      spawnWorker(fixture('counters.mjs'), { workerData: { name, n } }),
      forkChild(fixture('counters.mjs'), { env: { ...process.env, COUNTERS: JSON.stringify({ name, n }) } }),
      forkChild(fixture('counters.mjs'), { env: { ...process.env, COUNTERS: JSON.stringify({ name, n }) } }),
    ]);
    const reports = await Promise.all(handles.map((h) => h.channel.receive({ timeout: 15_000 })));
    await Promise.all(handles.map((h) => h.exited));
    expect(reports).toHaveLength(4);
    expect(c.get('hits')).toBe(4 * n);
    expect(c.get('slots')).toBe(0);
    c.close();
    expect(existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it('refuses a live creator’s name and opens only counters', async () => {
    const name = counterName();
    made.push(await SharedCounters.create(name, { counters: ['x'] }));
    await expect(SharedCounters.create(name, { counters: ['x'] })).rejects.toMatchObject({
      code: 'IPCX_ERR_ALREADY_EXISTS',
    });
    expect((await SharedCounters.open(name)).names).toEqual(['x']);
    await expect(SharedCounters.open(counterName())).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
  });
});
