import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { jsonCodec } from '@ipcx/core';
import { UnixServer } from '@ipcx/sockets';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();

it("runs the README's Python client (standard library, JSON codec) against a UnixServer", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const client = /```python\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(client, 'the README has a Python client').toBeTruthy();
  const script = names.path('client.py');
  writeFileSync(script, client!);

  const path = names.path('py.sock');
  await using server = await UnixServer.listen(path, { codec: jsonCodec });
  const serving = (async () => {
    const peer = await server.accept({ timeout: 10_000 });
    expect(peer.peer.pid).toBeGreaterThan(0);
    for await (const message of peer) await peer.send({ got: message, from: 'node' });
  })();
  const { stdout } = await promisify(execFile)('python3', [script, path], { timeout: 10_000 });
  expect(
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
  ).toEqual([
    { got: { hello: 'from python', n: 1 }, from: 'node' },
    { got: ['list', 2, null, true], from: 'node' },
  ]);
  await serving; // the client closing its socket ends the loop quietly
});
