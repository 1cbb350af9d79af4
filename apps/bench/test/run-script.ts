import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The path of a bench script under src/ (`cli.mjs`, `pubsub/cli.mjs`). */
export const script = (name: string): string => fileURLToPath(new URL(`../src/${name}`, import.meta.url));

/**
 * Runs a bench script for real with `args` and `--out=dir`, as `npm run bench` would; resolves to the
 * results.json it wrote there and the pid of the process that ran it. The caller made `dir` and removes it.
 */
export async function runInto<R>(
  dir: string,
  name: string,
  args: string[],
  timeout: number,
): Promise<{ results: R; pid: number }> {
  const running = run(process.execPath, [script(name), ...args, `--out=${dir}`], { timeout });
  const pid = running.child.pid!;
  await running;
  return { results: JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as R, pid };
}
