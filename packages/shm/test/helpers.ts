import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';

/** A unique POSIX shm name for one test. */
export function uniqueName(what: string): string {
  return `/ipcx-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True while /dev/shm holds the segment. */
export function segmentExists(name: string): boolean {
  return existsSync(`/dev/shm${name}`);
}

/** Spawns a fixture with plain Node (it loads the built packages) and waits for its "ready" line. */
export async function spawnReady(fixture: string, args: string[], children: ChildProcess[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [new URL(`./fixtures/${fixture}`, import.meta.url).pathname, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`${fixture} exited (${code ?? signal}) before it was ready`)));
  });
  await ready;
  return child;
}

/** Kills what is left and waits for it to be gone. */
export async function killAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }),
  );
}
