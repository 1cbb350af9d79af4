import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import smd from 'shared-memory-datastructures';
import { describe, expect, it } from 'vitest';
import { SharedMap } from '@ipcx/shm';

describe('SharedMap (on shared-memory-datastructures)', () => {
  it('round-trips structured values and is read by an attached reader without copying', () => {
    const map = new SharedMap([
      ['a', { when: new Date(7), tags: new Set(['x']) }],
      ['b', { n: 2n ** 70n }],
      ['a', { when: new Date(8), tags: new Set(['y']) }],
    ]);
    const reader = SharedMap.from<Record<string, unknown>>(map.handle());
    expect(reader.size).toBe(2);
    expect(reader.get('a')).toEqual({ when: new Date(8), tags: new Set(['y']) });
    expect(reader.get('b')).toEqual({ n: 2n ** 70n });
    expect(reader.has('c')).toBe(false);
    expect([...reader.keys()].sort()).toEqual(['a', 'b']);
    expect(() => new SharedMap([[1 as unknown as string, 1]])).toThrow(TypeError);
  });

  it('serves four worker threads reading 5000 entries at once, every value right', async () => {
    const count = 5000;
    const map = new SharedMap(
      Array.from({ length: count }, (_, i) => [`k${i}`, { i, s: 'x'.repeat(i % 50), d: new Date(i) }] as const),
    );
    const workers = Array.from(
      { length: 4 },
      () =>
        new Worker(new URL('./fixtures/map-reader.mjs', import.meta.url), {
          workerData: { handle: map.handle(), count, rounds: 3 },
        }),
    );
    try {
      const results = await Promise.all(workers.map((w) => once(w, 'message')));
      for (const [r] of results) expect(r).toEqual({ wrong: 0, size: count });
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }, 60_000);

  // The library's limits, measured: why SharedMap offers only build-once, read-many.
  it('documents where ShareableMap falls short: growth unseen by readers, second set ignored', () => {
    const owner = new smd.ShareableMap<string, number>(4, 16);
    owner.set('a', 1);
    const [index, data] = owner.getBuffers();
    const reader = new smd.ShareableMap<string, number>();
    reader.setBuffers(index!, data!);
    for (let i = 0; i < 100; i++) owner.set(`k${i}`, i);
    expect(owner.get('k50')).toBe(50);
    expect(reader.get('k50')).toBeUndefined(); // the owner grew into new buffers
    owner.set('a', 2);
    expect(owner.get('a')).toBe(1); // silently kept the first value
    expect(() => owner.delete('a')).toThrow();
  });
});
