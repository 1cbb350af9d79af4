import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { jsonCodec } from '@ipcx/core';
import { UnixServer } from '@ipcx/sockets';
import { fixtures, uniqueNames } from './helpers.js';

const names = uniqueNames();

it('speaks the documented wire format with a Python client (standard library, JSON codec)', async () => {
  const path = names.path('py.sock');
  await using server = await UnixServer.listen(path, { codec: jsonCodec });
  const serving = (async () => {
    const client = await server.accept({ timeout: 10_000 });
    expect(client.peer.pid).toBeGreaterThan(0);
    for await (const message of client) await client.send({ got: message, from: 'node' });
  })();
  const { stdout } = await promisify(execFile)('python3', [`${fixtures}client.py`, path], { timeout: 10_000 });
  expect(stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
    { got: { hello: 'from python', n: 1 }, from: 'node' },
    { got: ['list', 2, null, true], from: 'node' },
  ]);
  await serving; // the client closing its socket ends the loop quietly
});
