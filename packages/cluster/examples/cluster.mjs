// An HTTP cluster whose workers share configuration and a counter; supervised; SIGTERM stops it as one tree.
import cluster from 'node:cluster';
import http from 'node:http';
import { Publisher, Subscriber } from '@ipcx/pubsub';
import { ShutdownCoordinator } from '@ipcx/signals';
import { SharedCounters, Supervisor, forkClusterWorker, notifyReady, startHeartbeat } from '@ipcx/cluster';

const app = process.env.APP ?? 'my-app';
const shutdown = new ShutdownCoordinator(); // SIGTERM: signal the workers, close what is registered, exit 0
if (cluster.isPrimary) {
  const config = await Publisher.create(`${app}-config`); // a topic: every worker reads its latest revision
  await config.publish({ greeting: 'hello' });
  const counters = await SharedCounters.create(`/${app}-counters`, { counters: ['requests'] });
  shutdown.register({
    name: 'state',
    close: async () => {
      await config.close();
      await counters.close();
    },
  });
  const supervisor = new Supervisor({ count: 2, spawn: () => forkClusterWorker(), heartbeatInterval: 500, shutdown });
  await supervisor.ready();
  console.log('ready');
} else {
  const [config, counters] = [await Subscriber.open(`${app}-config`), await SharedCounters.open(`/${app}-counters`)];
  startHeartbeat();
  const server = http.createServer((_req, res) =>
    res.end(`${config.current().value.greeting} #${counters.add('requests')}\n`),
  );
  server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', notifyReady);
  shutdown.register({ name: 'http', close: (done) => server.close(() => done()) }); // let requests finish (cluster's disconnect may have closed it)
  shutdown.register({ name: 'config', close: () => config.close() });
}
