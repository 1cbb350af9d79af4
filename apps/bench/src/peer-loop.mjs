// What the other end of a row does, wherever it runs (a Worker, a forked child, or this thread for the
// in-process rows): set up a receiver or an echo as the control channel asks, receive n messages and stamp
// the time of the last one, end.
import { payloadFor } from './payload.mjs';
import { mechanism } from './transports/index.mjs';

/** Serves `ctl` (send, next) for `transport` and payload `kind` until told to exit; reports a failure. */
export async function servePeer(ctl, transport, kind) {
  try {
    const impl = await mechanism(transport).load();
    for (;;) {
      const message = await ctl.next();
      if (message.ctl === 'exit') break;
      if (message.ctl !== 'setup') throw new Error(`unexpected control message ${message.ctl}`);
      const ctx = { kind, size: message.size, ...payloadFor(kind, message.size), params: message.params, ctl };
      if (message.measure === 'throughput') await receive(ctl, impl, ctx);
      else await echo(ctl, impl, ctx);
    }
  } catch (error) {
    ctl.send({ ctl: 'error', message: String(error?.message ?? error), stack: String(error?.stack ?? '') });
  }
}

async function receive(ctl, impl, ctx) {
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

async function echo(ctl, impl, ctx) {
  const echoer = await impl.echo(ctx);
  ctl.send({ ctl: 'ready', ...echoer.ready });
  // A worker's echo may block in receiveSync until the bench closes its end; 'end' is read after.
  const running = echoer.run();
  await ctl.next('end');
  await echoer.stop();
  await running;
  ctl.send({ ctl: 'closed' });
}
