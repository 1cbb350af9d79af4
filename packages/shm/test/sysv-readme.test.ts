import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';

afterEach(() => {
  for (const f of ['/tmp/ipcx-demo.key', '/tmp/ipcx-demo.db']) rmSync(f, { force: true });
});

it("runs the README's System V example as written", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const script = /```js\n\/\/ sysv\.mjs: node sysv\.mjs\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(script, 'the README has the sysv.mjs example').toBeTruthy();
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script!], {
    cwd: new URL('..', import.meta.url).pathname,
    timeout: 20_000,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, // console.log colors nothing then
  });
  expect(stdout.trim().split('\n')).toEqual(['4096 1 true', '[ 0, 1 ] true', '1', 'undefined']);
});
