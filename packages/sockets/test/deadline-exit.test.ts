import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOf, killTrackedChildren } from '@ipcx/core/testing';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();
const packageDir = fileURLToPath(new URL('..', import.meta.url));
afterEach(killTrackedChildren);

// A wait with a timeout keeps its process alive until it settles (else exit code 13 with a pending await), and
// no longer: each wait below that ends early has a day of timeout left, which must not keep the child running.
describe('waits with a timeout in a process that has nothing else to do', () => {
  it('FIFO openWriter and a reconnecting client: a timeout ends in TimeoutError, a wait that settled lets the process exit', async () => {
    const script = `
      import { Fifo, UnixServer, UnixSocket } from '@ipcx/sockets';
      const DAY = 86400000;
      const code = (promise) => promise.then(() => 'settled', (error) => error.code);
      const fifo = await Fifo.create(${JSON.stringify(names.path('exit.fifo'))});
      console.log('openWriter without a reader', await code(Fifo.openWriter(fifo.path, { timeout: 200 })));
      const reader = await Fifo.openReader(fifo.path);
      const writer = await Fifo.openWriter(fifo.path, { timeout: DAY });
      await writer.close();
      await reader.close();
      await fifo.close();
      const path = ${JSON.stringify(names.path('exit.sock'))};
      const server = await UnixServer.listen(path);
      const client = await UnixSocket.connect(path, { reconnect: true, timeout: DAY });
      const end = await server.accept({ timeout: DAY });
      await client.send('ping', { timeout: DAY });
      await end.send(await end.receive({ timeout: DAY }));
      console.log('reconnecting receive', await client.receive({ timeout: DAY }), await code(client.receive({ timeout: 200 })));
      await client.close();
      await end.close();
      await server.close();
    `;
    expect(await exitOf(script, { cwd: packageDir })).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'openWriter without a reader IPCX_ERR_TIMEOUT\nreconnecting receive ping IPCX_ERR_TIMEOUT\n',
    });
  });
});
