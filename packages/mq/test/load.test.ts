import { afterEach, describe, expect, it } from 'vitest';
import { TypedMessageQueue } from '@ipcx/mq';
import { exited, killTrackedChildren, spawnCode } from '@ipcx/core/testing';
import { queueName, unlinkAll } from './helpers.js';

afterEach(async () => {
  await killTrackedChildren();
  await unlinkAll();
});

describe('load: 16 senders into one queue', () => {
  it('every message of 16 sending processes arrives once, each sender in order, receiver memory flat', {
    timeout: 60_000,
  }, async () => {
    const name = queueName('load');
    const SENDERS = 16;
    const MESSAGES = 500;
    await using queue = await TypedMessageQueue.create<[number, number]>(name, { capacity: 10, maxMessageBytes: 64 });
    const rss = [process.memoryUsage().rss];
    const started = performance.now();
    const children = Array.from({ length: SENDERS }, (_, id) =>
      spawnCode(`import { TypedMessageQueue } from '@ipcx/mq';
        const q = await TypedMessageQueue.open(${JSON.stringify(name)}, { read: false });
        for (let n = 0; n < ${MESSAGES}; n++) await q.send([${id}, n], { timeout: 30000 });
        await q.close();`),
    );
    const outputs = children.map((child) => exited(child, 60_000));
    const next = new Array<number>(SENDERS).fill(0);
    const problems: string[] = [];
    for (let i = 0; i < SENDERS * MESSAGES; i++) {
      const [id, n] = await queue.receive({ timeout: 20_000 });
      if (n !== next[id]) problems.push(`sender ${id}: got ${n}, expected ${next[id]}`);
      next[id] = n + 1;
      if (i % 1000 === 0) rss.push(process.memoryUsage().rss);
    }
    for (const output of await Promise.all(outputs)) expect(output.code, output.stderr).toBe(0);
    expect(problems).toEqual([]);
    expect(next).toEqual(new Array(SENDERS).fill(MESSAGES));
    expect(queue.tryReceive()).toBeUndefined(); // nothing extra, no duplicate
    const grown = Math.max(...rss) - rss[0]!;
    console.info(
      `mq load: ${SENDERS * MESSAGES} messages from ${SENDERS} processes in ${((performance.now() - started) / 1000).toFixed(1)} s; receiver RSS grew at most ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(grown).toBeLessThan(128 * 1024 * 1024);
  });
});
