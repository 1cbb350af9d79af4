// POSIX message queue rows: a one-way queue for throughput (depth 10, the kernel's default msg_max), a duplex
// MqChannel (two queues) for round trips. Queues are sized to the message, as a user would.
import { msgpackCodec, rawCodec } from '@ipcx/core';
import { MessageQueue, MqChannel, TypedMessageQueue } from '@ipcx/mq';
import { channelClient, channelEcho, channelReceiver, channelSender } from './channel.mjs';
import { MQ_DEPTH } from './constants.mjs';
import { uniqueName } from './names.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);

export const mqProcess = {
  async sender({ kind, payload, bytes, peer }) {
    const name = uniqueName('mq');
    const channel = await TypedMessageQueue.create(name, {
      read: false,
      capacity: MQ_DEPTH.throughput,
      maxMessageBytes: bytes,
      codec: codecOf(kind),
    });
    try {
      await peer.setup('throughput', { name });
    } finally {
      // Both ends hold it open: the name can go now, so that a crash leaves nothing behind.
      await MessageQueue.unlink(name);
    }
    return channelSender(channel, payload);
  },

  async client({ kind, payload, bytes, peer }) {
    const name = uniqueName('mq');
    const channel = await MqChannel.create(name, {
      capacity: MQ_DEPTH.rtt,
      maxMessageBytes: bytes,
      codec: codecOf(kind),
    });
    try {
      await peer.setup('rtt', { name });
    } catch (error) {
      await channel.close();
      throw error;
    }
    return channelClient(channel, payload);
  },

  async receiver({ kind, params }) {
    return channelReceiver(await TypedMessageQueue.open(params.name, { write: false, codec: codecOf(kind) }));
  },

  async echo({ kind, params }) {
    return channelEcho(await MqChannel.open(params.name, { codec: codecOf(kind) }));
  },
};
