// An HTTP cluster whose workers share configuration and a counter; supervised; SIGTERM stops it cleanly.
import cluster from 'node:cluster';
import http from 'node:http';
import { SharedState } from '@ipcx/shm';
import { SharedCounters, Supervisor, forkClusterWorker, notifyReady, startHeartbeat } from '@ipcx/cluster';

const app = process.env.APP ?? 'my-app';
if (cluster.isPrimary) {
  const config = await SharedState.create({ name: `/${app}-config`, initial: { greeting: 'hello' } });
  const counters = SharedCounters.create(`/${app}-counters`, { counters: ['requests'] });
  const supervisor = new Supervisor({ count: 2, spawn: () => forkClusterWorker(), heartbeat: { interval: 500 } });
  process.once('SIGTERM', async () => (await supervisor.shutdown(), await config.close(), counters.close()));
  await supervisor.ready();
  console.log('ready');
} else {
  const [config, counters] = [await SharedState.open(`/${app}-config`), SharedCounters.open(`/${app}-counters`)];
  startHeartbeat();
  const server = http.createServer((req, res) => res.end(`${config.get().value.greeting} #${counters.add('requests')}\n`));
  server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', notifyReady);
}
