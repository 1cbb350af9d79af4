import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

it("runs the README's first example as written", async () => {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const block = /<!-- first-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block, 'the README has a first example').toBeTruthy();
  // Run it as a user would: plain Node, the built package, from the repository root.
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', block!], {
    cwd: root,
    timeout: 20_000,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  expect(stdout.trim()).toBe('[ 11, 12, 13 ]');
});
