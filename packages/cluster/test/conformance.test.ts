import { ShmChannel } from '@ipcx/shm';
import { describeChannelConformance } from '@ipcx/core/testing';
import { PeerChannel, forkChild } from '@ipcx/cluster';
import { fixture } from './helpers.js';

// PeerChannel is what every spawn returns: it must be a Channel like any other, and a killed peer must end
// its waits. The pair cases run over an in-process ShmChannel pair wrapped as the spawns wrap it.
describeChannelConformance(
  'PeerChannel',
  () => {
    const [a, b] = ShmChannel.pair({ bufferBytes: 4096 });
    return [new PeerChannel(a), new PeerChannel(b)];
  },
  {
    maxMessageBytes: 2040,
    killablePeer: async () => {
      const handle = await forkChild(fixture('pure-echo.mjs'), { peerCheckInterval: 20 });
      return { channel: handle.channel, kill: async () => void (await handle.terminate()) };
    },
  },
);
