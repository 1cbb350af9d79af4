import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { FdWatcher, socket } from '@ipcx/native';

import { defer, run, uniqueName, within } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const dist = pathToFileURL(new URL('../dist/index.js', import.meta.url).pathname).href;

/** The service example: the block after the first `run-until` comment (the runner stops it the same way). */
function example(): string {
  const start = readme.indexOf('<!-- example: run-until');
  const code = /```js\n([\s\S]*?)```/.exec(readme.slice(start))![1]!;
  return code.replace("'@ipcx/signals'", `'${dist}'`);
}

describe('README', () => {
  it('the dozen-line example shuts down on SIGTERM with its child, telling systemd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-readme-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'service.mjs'), example());
    const notifyPath = join(tmpdir(), uniqueName('readme-notify'));
    const fd = socket('dgram');
    socket.bind(fd, notifyPath);
    const messages: string[] = [];
    let wake: () => void = () => {};
    const buf = new Uint8Array(1024);
    const watcher = new FdWatcher(fd, () => {
      try {
        for (;;) messages.push(Buffer.from(buf.subarray(0, socket.receive(fd, buf).length)).toString()), wake();
      } catch {
        // EAGAIN: drained
      }
    });
    watcher.start({ readable: true });
    defer(() => {
      watcher.close();
      socket.close(fd);
      rmSync(notifyPath, { force: true });
    });
    const until = (match: (m: string) => boolean) =>
      within(
        new Promise<void>((resolve) => {
          wake = () => messages.some(match) && resolve();
          wake();
        }),
        10_000,
        'notification',
      );

    const env = { ...process.env, NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '5000000', PORT: '0' };
    const service = run(process.execPath, [join(dir, 'service.mjs')], { cwd: dir, env });
    await until((m) => m.includes('READY=1'));
    await within(service.line('ready'), 10_000, 'the service to print ready');
    expect(messages.some((m) => /^STATUS=listening on :\d+\nREADY=1$/.test(m))).toBe(true);
    service.child.kill('SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/sent SIGTERM to 1 child/);
    expect(messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
    expect(messages).toContain('WATCHDOG=1');
  });
});
