import { describe, expect, it } from 'vitest';
import type { Channel } from '@ipcx/core';
import { SeqPacketChannel, UnixServer, UnixSocket } from '@ipcx/sockets';
import { uniqueNames, within } from './helpers.js';

const names = uniqueNames();

/** The guide's contract after the peer ends: `closed` once everything was received, then send is PeerGoneError. */
async function peerEnds(a: Channel<unknown>, b: Channel<unknown>): Promise<void> {
  await a.send(1);
  await a.close();
  expect(await b.receive({ timeout: 5000 })).toBe(1);
  await expect(b.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
  expect(b.closed).toBe(true);
  await expect(within(b.send(2), 5000, 'send after the peer closed')).rejects.toMatchObject({
    code: 'IPCX_ERR_PEER_GONE',
  });
  await b.close();
}

describe('after the peer ends', () => {
  it('a seqpacket pair: closed once drained, send is PeerGoneError', async () => {
    const [a, b] = SeqPacketChannel.pair();
    await peerEnds(a, b);
  });

  it('a Unix stream socket: closed once drained, send is PeerGoneError', async () => {
    const server = await UnixServer.listen(names.path('end.sock'));
    try {
      const client = await UnixSocket.connect(server.address.target, { timeout: 5000 });
      await peerEnds(client, await server.accept({ timeout: 5000 }));
    } finally {
      await server.close();
    }
  });
});
