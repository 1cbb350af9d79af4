/**
 * What the native tests share beyond `@ipcx/core/testing`: fixture processes (plain Node loading `dist` and
 * build/Release, or any executable), killed and undone after every test.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import {
  childLines,
  killTrackedChildren,
  runDeferred,
  spawnNode,
  trackChild,
  within,
  type ChildLines,
} from '@ipcx/core/testing';
export { defer, ignoring, uniqueName, within } from '@ipcx/core/testing';

afterEach(async () => {
  await killTrackedChildren();
  await runDeferred();
});

/** Spawns `node test/fixtures/<file> ...args` (plain Node: it loads dist and build/Release). */
export function fixture(file: string, args: string[] = [], nodeArgs: string[] = []): ChildLines {
  return childLines(spawnNode([...nodeArgs, fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url)), ...args]));
}

/** Spawns any executable, killed after the test like fixtures. */
export function fixtureProcess(command: string, args: string[]): ChildLines {
  return childLines(trackChild(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })));
}

/** Waits for a fixture to exit 0 and returns its stdout; includes stderr in the failure. */
export async function succeeds(run: ChildLines, ms: number, what: string): Promise<string> {
  const r = await within(run.exited, ms, what);
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code ?? r.signal}\n${r.stderr}`);
  return r.stdout;
}
