// ShmChannel rows: between the main thread and a Worker (`pair` + `transfer()` + `from`), and between this process and a
// child (`create` + `open` on a named segment).
import { msgpackCodec, rawCodec } from '@ipcx/core';
import { ShmChannel } from '@ipcx/shm';
import { channelClient, channelEcho, channelReceiver, channelSender, isEnded } from './channel.mjs';
import { SHM_THROUGHPUT_CAPACITY as THROUGHPUT_CAPACITY } from './constants.mjs';
import { uniqueName } from './names.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);

export const shmThread = {
  async sender({ kind, payload, peer }) {
    const [channel, other] = ShmChannel.pair({ bufferBytes: THROUGHPUT_CAPACITY, codec: codecOf(kind) });
    await peer.setup('throughput', { handle: other.transfer() });
    return channelSender(channel, payload);
  },

  async client({ kind, payload, peer }) {
    const [channel, other] = ShmChannel.pair({ codec: codecOf(kind) });
    await peer.setup('rtt', { handle: other.transfer() });
    return channelClient(channel, payload);
  },

  // In the worker, which may block: the documented sync receive paths.
  async receiver({ kind, params }) {
    const channel = ShmChannel.from(params.handle, { codec: codecOf(kind) });
    return {
      channel,
      async receiveN(n) {
        if (kind === 'raw') for (let i = 0; i < n; i++) channel.receiveBytesSync();
        else for (let i = 0; i < n; i++) channel.receiveSync();
      },
      close: () => channel.close(),
    };
  },

  async echo({ kind, params }) {
    const channel = ShmChannel.from(params.handle, { codec: codecOf(kind) });
    return {
      channel,
      // Blocks the worker until the bench closes its end (which ends receiveSync with ClosedError).
      async run() {
        try {
          if (kind === 'raw') for (;;) channel.sendSync(channel.receiveBytesSync());
          else for (;;) channel.sendSync(channel.receiveSync());
        } catch (error) {
          if (!isEnded(error)) throw error;
        }
      },
      stop: () => channel.close(),
    };
  },
};

export const shmProcess = {
  async sender({ kind, payload, peer }) {
    const name = uniqueName('shm');
    const channel = await ShmChannel.create(name, { bufferBytes: THROUGHPUT_CAPACITY, codec: codecOf(kind) });
    await ready(peer, 'throughput', name, channel);
    return channelSender(channel, payload);
  },

  async client({ kind, payload, peer }) {
    const name = uniqueName('shm');
    const channel = await ShmChannel.create(name, { codec: codecOf(kind) });
    await ready(peer, 'rtt', name, channel);
    return channelClient(channel, payload);
  },

  // In the child's main thread, which must not block: tryReceiveBytes / tryReceive, then await receive.
  async receiver({ kind, params }) {
    const channel = await ShmChannel.open(params.name, { codec: codecOf(kind) });
    return channelReceiver(channel, { bytes: kind === 'raw' });
  },

  async echo({ kind, params }) {
    return channelEcho(await ShmChannel.open(params.name, { codec: codecOf(kind) }));
  },
};

async function ready(peer, measure, name, channel) {
  try {
    await peer.setup(measure, { name });
  } catch (error) {
    await channel.close();
    throw error;
  }
}
