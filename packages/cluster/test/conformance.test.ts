import { ShmChannel } from '@ipcx/shm';
import { describeChannelConformance, within } from '@ipcx/core/testing';
import { PeerChannel, forkChild } from '@ipcx/cluster';
import { describe, expect, it } from 'vitest';
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
      return { channel: handle.channel, kill: async () => void (await handle.destroy()) };
    },
  },
);

describe('PeerChannel after the peer closed (docs/API.md)', () => {
  it('a send is PeerGoneError and closed turns true once what the peer sent was received', async () => {
    const [a, b] = ShmChannel.pair({ bufferBytes: 4096 });
    const [mine, theirs] = [new PeerChannel(a), new PeerChannel(b)];
    try {
      await theirs.send('last');
      await theirs.close();
      await expect(within(mine.send('late'), 5000, 'send after the peer closed')).rejects.toMatchObject({
        code: 'IPCX_ERR_PEER_GONE',
      });
      expect(await mine.receive({ timeout: 5000 })).toBe('last');
      await expect(mine.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
      expect(mine.closed).toBe(true);
    } finally {
      mine.destroy();
      theirs.destroy();
    }
  });
});

describe('PeerChannel close() (docs/API.md, "Closing")', () => {
  it('a peer that does not read: close() returns after lingerTimeout and the waiting send is ClosedError', async () => {
    const [a, b] = ShmChannel.pair({ bufferBytes: 4096 });
    const [mine, theirs] = [new PeerChannel(a, undefined, 50), new PeerChannel(b)];
    try {
      while (mine.trySend('fill')) {}
      const outcome = mine.send('waits', { timeout: 60_000 }).catch((error: unknown) => error);
      await within(mine.close(), 10_000, 'close() bounded by lingerTimeout');
      expect(await within(outcome, 5000, 'the waiting send')).toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    } finally {
      mine.destroy();
      theirs.destroy();
    }
  });

  it('a bad lingerTimeout is refused before anything is spawned', async () => {
    for (const lingerTimeout of [-1, 1.5, Number.NaN]) {
      await expect(forkChild(fixture('pure-echo.mjs'), { lingerTimeout })).rejects.toMatchObject({
        code: 'IPCX_ERR_INVALID_OPTION',
      });
    }
  });
});
