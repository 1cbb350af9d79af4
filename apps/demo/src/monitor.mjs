// A monitor: connects to the supervisor's control socket (a Unix stream socket, @ipcx/sockets), asks for
// the statistics with a request (request/serve from @ipcx/core) and prints them.
import { request } from '@ipcx/core';
import { UnixSocket } from '@ipcx/sockets';

const channel = await UnixSocket.connect(process.argv[2]);
try {
  const stats = await request(channel, { get: 'stats' }, { timeout: 5000 });
  console.log(`monitor (pid ${process.pid}): ${JSON.stringify(stats)}`);
} finally {
  await channel.close();
}
