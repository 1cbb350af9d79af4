import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { TopicSegment } from '../src/internal/segment.js';
import { exited, spawnNode } from '@ipcx/core/testing';
import { uniqueName } from './helpers.js';

let segment: TopicSegment | undefined;
afterEach(() => {
  segment?.unlink();
  segment = undefined;
});

it('a reader copying a slot that another process rewrites flat out never gets a torn value (every byte checked)', async () => {
  const topic = uniqueName('seqlock');
  const size = 16 * 1024;
  const count = 20_000;
  segment = TopicSegment.create(topic, 1, { slotBytes: size, slots: 2, maxSubscribers: 1, locked: false }, 0o600);
  const final = count * segment.slots;
  const writer = spawnNode([
    fileURLToPath(new URL('./fixtures/segment-writer.mjs', import.meta.url)),
    JSON.stringify({ topic, generation: 1, count, size }),
  ]);
  let reads = 0;
  let torn = 0;
  const end = Date.now() + 30_000;
  // Read as fast as possible (this blocks the event loop: the writer is another process) until its last write.
  while (segment.head !== final && Date.now() < end) {
    const got = segment.readLatest();
    if (got === undefined) continue;
    reads++;
    const seed = got.bytes[0]!;
    for (let i = 0; i < got.bytes.length; i++) {
      if (got.bytes[i] !== ((seed + i * 31) & 255)) {
        torn++;
        break;
      }
    }
  }
  expect((await exited(writer, 30_000)).code).toBe(0);
  expect(segment.head).toBe(final);
  expect(reads).toBeGreaterThan(0);
  expect(torn).toBe(0);
});
