import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { MessageQueue } from '@ipcx/mq';

it('runs the job service to the end, survives a killed worker and leaves no segment behind', async () => {
  const main = new URL('../src/main.mjs', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [main, '--jobs=60', '--workers=2', '--kill'], { timeout: 60_000 });
  expect(stdout).toMatch(/done: 60\/60 jobs/);
  expect(stdout).toMatch(/1 restart/);
  expect(stdout).toMatch(/monitor \(pid \d+\): \{"value":\{"done":60/);
  expect(stdout).toMatch(/control socket: a client connected \(pid \d+, uid \d+\)/);
  const pid = /ipcx-demo-(\d+)/.exec(stdout)?.[1];
  expect(pid).toBeTruthy();
  expect(readdirSync('/dev/shm').filter((f) => f.includes(`ipcx-demo-${pid}`))).toEqual([]);
  expect(readdirSync(tmpdir()).filter((f) => f.includes(`ipcx-demo-${pid}`))).toEqual([]);
  // /dev/mqueue is not always mounted: ask the kernel. unlink answers false when the queue is already gone.
  expect(MessageQueue.unlink(`/ipcx-demo-${pid}-jobs`)).toBe(false);
}, 90_000);
