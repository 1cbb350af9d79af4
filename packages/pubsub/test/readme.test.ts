import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { Publisher } from '../src/index.js';
import { exited, spawnNode } from '@ipcx/core/testing';
import { until } from './helpers.js';

const file = fileURLToPath(new URL(`./fixtures/readme-${process.pid}.mjs`, import.meta.url));
let primaryPid: number | undefined;

afterEach(async () => {
  rmSync(file, { force: true });
  // The example's topic is named after its primary; what a failed run left goes with it.
  if (primaryPid !== undefined) await Publisher.unlink(`app-config-${primaryPid}`).catch(() => undefined);
});

it('runs the README cluster example: four workers print the configuration and its change, and all exit', {
  timeout: 60_000,
}, async () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const block = /<!-- cluster-example[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  writeFileSync(file, block!);
  const primary = spawnNode([file]);
  primaryPid = primary.pid;
  const { code, signal, stdout, stderr } = await exited(primary, 30_000);
  expect({ code, signal }, `stdout: ${stdout.slice(-600)}; stderr: ${stderr.slice(-2000)}`).toEqual({
    code: 0,
    signal: null,
  });
  // console.log colours its output when the runner sets FORCE_COLOR (nx does): strip the colours.
  const lines = stripVTControlCharacters(stdout).trim().split('\n');
  const seen = (revision: number, logLevel: string) =>
    new Set(
      lines.map((l) => new RegExp(`^(\\d+) ${revision} \\{ logLevel: '${logLevel}' \\}$`).exec(l)?.[1]).filter(Boolean),
    );
  const first = seen(1, 'info');
  expect(first.size).toBe(4);
  expect(seen(2, 'debug')).toEqual(first);
  expect(stderr).toBe('');
  // The primary waited for its workers; none is left.
  await until(() => [...first].every((pid) => !alive(Number(pid))), 10_000, 'the workers to exit');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
