// @ipcx/nats rows: NatsChannel through a nats-server on loopback (started once per bench process by
// @ipcx/nats/testing, killed when the process exits). The bench listens (NatsChannelServer); the child
// connects (NatsChannel.connect), both with their own connection to the server, default options except the
// codec. Without a nats-server binary the rows are skipped with a note (load() fails).
import { msgpackCodec, rawCodec } from '@ipcx/core';
import { NatsChannel, NatsChannelServer } from '@ipcx/nats';
import { natsServerAvailable, startNatsServer } from '@ipcx/nats/testing';
import { channelClient, channelEcho, channelReceiver, channelSender } from './channel.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);
let server;
let counter = 0;

function natsServer() {
  server ??= startNatsServer();
  return server;
}

async function open({ kind, peer }, measure) {
  const { url } = await natsServer();
  const subject = `ipcx-bench.${process.pid}.${++counter}`;
  const listener = await NatsChannelServer.listen(subject, { servers: url, codec: codecOf(kind) });
  try {
    const [channel] = await Promise.all([listener.accept({ timeout: 10_000 }), peer.setup(measure, { url, subject })]);
    return { channel, close: () => listener.close() };
  } catch (error) {
    await listener.close();
    throw error;
  }
}

const connect = (kind, { url, subject }) =>
  NatsChannel.connect(subject, { servers: url, codec: codecOf(kind), timeout: 10_000 });

function check() {
  if (!natsServerAvailable()) throw new Error('nats-server is not installed (apt-get install nats-server)');
}

export const natsChannel = {
  async sender(ctx) {
    check();
    const { channel, close } = await open(ctx, 'throughput');
    return { ...channelSender(channel, ctx.payload), close };
  },
  async client(ctx) {
    check();
    const { channel, close } = await open(ctx, 'rtt');
    return { ...channelClient(channel, ctx.payload), close };
  },
  async receiver({ kind, params }) {
    return channelReceiver(await connect(kind, params));
  },
  async echo({ kind, params }) {
    return channelEcho(await connect(kind, params));
  },
};

/** The mechanism's load(): fails (a note instead of rows) when nats-server is missing. */
export async function loadNats() {
  check();
  return natsChannel;
}
