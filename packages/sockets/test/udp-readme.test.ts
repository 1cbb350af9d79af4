import { expect, it } from 'vitest';
import { runReadmeExample } from '@ipcx/core/testing';
import './helpers.js'; // kills the example after the test if it outlives it

it("runs the README's UDP example as written", async () => {
  const stdout = await runReadmeExample(new URL('../README.md', import.meta.url), '// udp.mjs: node udp.mjs');
  expect(stdout.trim().split('\n')).toEqual(['{ pong: 1 }', 'IPv6']);
});
