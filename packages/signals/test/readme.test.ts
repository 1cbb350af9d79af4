import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { describe, expect, it } from 'vitest';

import { FdWatcher, socket } from '@ipcx/native';

import { defer, run, uniqueName, within } from './helpers.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const dist = pathToFileURL(new URL('../dist/index.js', import.meta.url).pathname).href;

/** The code blocks of the README, in order, with the marked one first. */
function example(): string {
  const start = readme.indexOf('<!-- readme-example');
  const code = /```js\n([\s\S]*?)```/.exec(readme.slice(start))![1]!;
  return code.replace("'@ipcx/signals'", `'${dist}'`).replace('listen(8080)', 'listen(0)');
}

describe('README', () => {
  it('the dozen-line example shuts down on SIGTERM with its child, telling systemd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-readme-'));
    defer(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'service.mjs'), example());
    writeFileSync(
      join(dir, 'worker.js'),
      "process.on('SIGTERM', () => { console.log('worker got SIGTERM'); process.exit(0); }); setInterval(() => {}, 1000); console.log('worker up');",
    );
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
      within(new Promise<void>((resolve) => {
        wake = () => messages.some(match) && resolve();
        wake();
      }), 10_000, 'notification');

    const service = run(process.execPath, [join(dir, 'service.mjs')], { cwd: dir, env: { ...process.env, NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '5000000' } });
    await until((m) => m.includes('READY=1'));
    await within(service.line('worker up'), 10_000, 'worker');
    expect(messages).toContain('STATUS=listening on :8080\nREADY=1');
    service.child.kill('SIGTERM');
    const exit = await within(service.exited, 15_000, 'exit');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('worker got SIGTERM');
    expect(messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
    expect(messages).toContain('WATCHDOG=1');
  });
});
