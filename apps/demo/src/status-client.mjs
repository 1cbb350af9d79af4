// An operator's query on the demo's control socket: connects (the primary learns our pid and uid from the kernel,
// SO_PEERCRED), asks for the status, prints it as one JSON line and exits.
//
// node src/status-client.mjs <socket path>
import { request } from '@ipcx/core';
import { UnixSocket } from '@ipcx/sockets';

const [path] = process.argv.slice(2);
const channel = await UnixSocket.connect(path, { timeout: 5000 });
try {
  const started = performance.now();
  const status = /** @type {object} */ (await request(channel, { get: 'status' }, { timeout: 5000 }));
  console.log(JSON.stringify({ ...status, roundTripMs: performance.now() - started }));
} finally {
  await channel.close();
}
