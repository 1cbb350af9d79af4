import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it("runs the README's UDP example as written", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const script = /```js\n\/\/ udp\.mjs: node udp\.mjs\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(script, 'the README has the udp.mjs example').toBeTruthy();
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script!], {
    cwd: new URL('..', import.meta.url).pathname,
    timeout: 20_000,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' }, // console.log colors nothing then
  });
  expect(stdout.trim().split('\n')).toEqual(['{ pong: 1 }', 'IPv6']);
});
