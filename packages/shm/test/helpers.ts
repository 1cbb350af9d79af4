import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { childLines, killChild, spawnNode, uniqueName as coreUniqueName } from '@ipcx/core/testing';

/** A unique POSIX shm name for one test: `/` and core's `uniqueName`. */
export function uniqueName(what: string): string {
  return `/${coreUniqueName(what)}`;
}

/** True while /dev/shm holds the segment. */
export function segmentExists(name: string): boolean {
  return existsSync(`/dev/shm${name}`);
}

/** Spawns a fixture with plain Node (it loads the built packages) and waits for its "ready" line. */
export async function spawnReady(fixture: string, args: string[], children: ChildProcess[]): Promise<ChildProcess> {
  const child = spawnNode([new URL(`./fixtures/${fixture}`, import.meta.url).pathname, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await childLines(child).line((line) => line.includes('ready'));
  return child;
}

/** Kills what is left and waits for it to be gone. */
export async function killAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.splice(0).map((child) => killChild(child)));
}
