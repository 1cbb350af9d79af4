// The other end of a row: runs in a Worker (thread rows) or a forked child (process rows), loads the built
// packages like any user's program, and does what the control channel asks: set up a receiver or an echo,
// receive n messages and stamp the time of the last one, end.
import { isMainThread, workerData } from 'node:worker_threads';
import { peerControl } from './control.mjs';
import { payloadFor } from './payload.mjs';
import { mechanism } from './transports/index.mjs';

const { transport, kind } = isMainThread ? JSON.parse(process.argv[2]) : workerData;
const ctl = peerControl();

try {
  const impl = await mechanism(transport).load();
  for (;;) {
    const message = await ctl.next();
    if (message.ctl === 'exit') break;
    if (message.ctl !== 'setup') throw new Error(`unexpected control message ${message.ctl}`);
    const ctx = { kind, size: message.size, ...payloadFor(kind, message.size), params: message.params, ctl };
    if (message.measure === 'throughput') await receive(impl, ctx);
    else await echo(impl, ctx);
  }
} catch (error) {
  ctl.send({ ctl: 'error', message: String(error?.message ?? error), stack: String(error?.stack ?? '') });
}
process.exit(0);

async function receive(impl, ctx) {
  const receiver = await impl.receiver(ctx);
  ctl.send({ ctl: 'ready', ...receiver.ready });
  for (;;) {
    const message = await ctl.next();
    if (message.ctl === 'n') {
      await receiver.receiveN(message.n);
      ctl.send({ ctl: 'done', t: String(process.hrtime.bigint()) });
    } else if (message.ctl === 'end') {
      await receiver.close();
      ctl.send({ ctl: 'closed' });
      return;
    } else {
      throw new Error(`unexpected control message ${message.ctl}`);
    }
  }
}

async function echo(impl, ctx) {
  const echoer = await impl.echo(ctx);
  ctl.send({ ctl: 'ready', ...echoer.ready });
  // A worker's echo may block in receiveSync until the bench closes its end; 'end' is read after.
  const running = echoer.run();
  await ctl.next('end');
  await echoer.stop();
  await running;
  ctl.send({ ctl: 'closed' });
}
