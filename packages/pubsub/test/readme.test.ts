import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { Publisher } from '../src/index.js';
import { childLines, spawnNode } from '@ipcx/core/testing';
import { uniqueName, until } from './helpers.js';

const topic = uniqueName('readme');
const file = fileURLToPath(new URL(`./fixtures/readme-${process.pid}.mjs`, import.meta.url));

afterEach(async () => {
  rmSync(file, { force: true });
  await Publisher.unlink(topic).catch(() => undefined);
});

it('runs the README cluster example: four workers print the primary’s configuration', { timeout: 60_000 }, async () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const block = /<!-- cluster-example[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block?.trim().split('\n')).toHaveLength(5);
  writeFileSync(file, block!.replaceAll("'app-config'", JSON.stringify(topic)));
  const primary = childLines(spawnNode([file]));
  const workers = new Set<number>();
  try {
    // console.log colours its output when the runner sets FORCE_COLOR (nx does): strip the colours.
    const worker = (line: string): boolean => {
      const match = /^(\d+) 1 \{ logLevel: 'info' \}$/.exec(stripVTControlCharacters(line));
      if (match) workers.add(Number(match[1]));
      return workers.size === 4;
    };
    await primary.line(worker, 30_000);
  } finally {
    primary.child.kill('SIGKILL');
    await primary.exited;
  }
  expect(workers.size).toBe(4);
  // Cluster workers exit when their primary's channel closes; none is left waiting.
  await until(() => [...workers].every((pid) => !alive(pid)), 10_000, 'the workers to exit');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
