// MemoryChannel rows: both ends in this thread (the reference transport, what every other channel's
// overhead is measured against). The bench's end is one of a pair; the other is handed to the local peer.
import { MemoryChannel, msgpackCodec, rawCodec } from '@ipcx/core';
import { channelClient, channelEcho, channelReceiver, channelSender } from './channel.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);

async function open({ kind, peer }, measure) {
  const [channel, other] = MemoryChannel.pair({ codec: codecOf(kind) });
  await peer.setup(measure, { end: other });
  return channel;
}

export const memory = {
  sender: async (ctx) => channelSender(await open(ctx, 'throughput'), ctx.payload),
  client: async (ctx) => channelClient(await open(ctx, 'rtt'), ctx.payload),
  receiver: async ({ params }) => channelReceiver(params.end),
  echo: async ({ params }) => channelEcho(params.end),
};
