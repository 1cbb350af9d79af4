import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { MessageQueue } from '@ipcx/mq';

const made: string[] = [];

/** A unique queue name for one test, unlinked by `unlinkAll` (with its duplex '.0' and '.1'). */
export function queueName(what: string): string {
  const name = `/ipcx-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
  made.push(name, `${name}.0`, `${name}.1`);
  return name;
}

/** Unlinks every queue the test made; call from afterEach so that it runs when a test fails too. */
export function unlinkAll(): void {
  for (const name of made.splice(0)) MessageQueue.unlink(name);
}

/** The first line a child prints (its "ready"); rejects if the child exits first instead of waiting for ever. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => reject(new Error(`the child exited (${code ?? signal}) before it was ready`));
    child.once('exit', onExit);
    child.stdout!.once('data', (chunk: Buffer) => {
      child.off('exit', onExit);
      resolve(String(chunk));
    });
  });
}
