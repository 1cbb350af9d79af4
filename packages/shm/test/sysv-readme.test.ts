import { rmSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { killTrackedChildren, runReadmeExample } from '@ipcx/core/testing';

afterEach(async () => {
  await killTrackedChildren();
  for (const f of ['/tmp/ipcx-demo.key', '/tmp/ipcx-demo.db']) rmSync(f, { force: true });
});

it("runs the README's System V example as written", async () => {
  const stdout = await runReadmeExample(new URL('../README.md', import.meta.url), '// sysv.mjs: node sysv.mjs');
  expect(stdout.trim().split('\n')).toEqual(['4096 1 true', '[ 0, 1 ] true', '1', 'undefined']);
});
