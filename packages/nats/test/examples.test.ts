import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { describeNats } from './helpers.js';

const run = promisify(execFile);
const example = fileURLToPath(new URL('../examples/topic-across-nats.mjs', import.meta.url));

describeNats('README examples', () => {
  it('topic-across-nats.mjs: a process that reaches the topic only through NATS sees revisions 1, 2 and 3', async () => {
    const { stdout } = await run(process.execPath, [example], { timeout: 30_000 });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => line.replace(/^watcher \d+: /, ''));
    expect(lines).toEqual(['revision 1: ACME 41', 'revision 2: ACME 42', 'revision 3: ACME 43']);
  });
});
