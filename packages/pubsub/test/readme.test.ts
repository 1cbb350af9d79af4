import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { Publisher } from '../src/index.js';
import { uniqueTopic, until } from './helpers.js';

const topic = uniqueTopic('readme');
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
  const primary = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const stdout: string[] = [];
  primary.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => primary.once('exit', resolve));
  const workers = new Set<number>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${workers.size} workers printed; stdout: ${stdout.slice(-6).join(' | ')}; stderr: ${stderr.slice(-2000)}`)), 30_000);
      createInterface({ input: primary.stdout! }).on('line', (line) => {
        stdout.push(line);
        // console.log colours its output when the runner sets FORCE_COLOR (nx does): strip the colours.
        const match = /^(\d+) 1 \{ logLevel: 'info' \}$/.exec(stripVTControlCharacters(line));
        if (match) workers.add(Number(match[1]));
        if (workers.size === 4) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    primary.kill('SIGKILL');
    await exited;
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
