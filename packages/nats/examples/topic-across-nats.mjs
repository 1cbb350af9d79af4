// One topic published on this machine and watched from another process that reaches it only through NATS.
// Run: node examples/topic-across-nats.mjs  (after npm run build; needs nats-server; it starts its own on loopback)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Publisher, Subscriber } from '@ipcx/nats';
import { startNatsServer } from '@ipcx/nats/testing';

/** The subscriber's code: the same loop a local @ipcx/pubsub Subscriber takes. */
async function watch(sub, until) {
  for await (const { revision, value } of sub) {
    console.log(`watcher ${process.pid}: revision ${revision}: ${value.symbol} ${value.price}`);
    if (revision >= until) break;
  }
  await sub.close();
}

if (process.argv[2] === 'watcher') {
  // The other process: it knows only the NATS server's address.
  const sub = await Subscriber.open('prices', { servers: process.argv[3], timeout: 5000 });
  process.send('watching');
  await watch(sub, 3);
  process.exit(0);
}

const server = await startNatsServer();
try {
  const pub = await Publisher.create('prices', { servers: server.url });
  await pub.publish({ symbol: 'ACME', price: 41 }); // revision 1, before the watcher joins: it gets it first
  const watcher = fork(fileURLToPath(import.meta.url), ['watcher', server.url]);
  await new Promise((resolve) => watcher.once('message', resolve));
  await pub.publish({ symbol: 'ACME', price: 42 });
  await pub.update((current) => ({ ...current, price: current.price + 1 })); // compare-and-set: revision 3
  await new Promise((resolve) => watcher.once('exit', resolve));
  await pub.close();
} finally {
  await server.stop();
}
