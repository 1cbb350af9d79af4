import { afterAll, beforeAll, describe } from 'vitest';
import { describeChannelConformance } from '@ipcx/core/testing';
import { SeqPacketServer, SeqPacketSocket, TcpServer, TcpSocket, UnixServer, UnixSocket, seqPacketPair, type StreamServer } from '@ipcx/sockets';
import { uniqueNames } from './helpers.js';

const names = uniqueNames('all');
const MAX = 8192;

/** One server per transport; each case connects a fresh client and takes the server's end of it. */
function suite(name: string, listen: () => Promise<StreamServer<unknown, unknown>>, connect: (server: StreamServer<unknown, unknown>) => Promise<import('@ipcx/core').Channel<unknown>>): void {
  describe(name, () => {
    let server: StreamServer<unknown, unknown>;
    beforeAll(async () => {
      server = await listen();
    });
    afterAll(async () => {
      await server?.close();
    });
    describeChannelConformance(name, async () => {
      const client = await connect(server);
      const accepted = await server.accept({ timeout: 5000 });
      return [client, accepted];
    }, { maxMessageBytes: MAX });
  });
}

let unixPath = '';
suite(
  'Unix stream socket (path)',
  async () => {
    unixPath = names.path('conf.sock');
    return UnixServer.listen(unixPath, { maxFrameBytes: MAX });
  },
  () => UnixSocket.connect(unixPath, { maxFrameBytes: MAX, timeout: 5000 }),
);

const abstract = names.abstract('conf');
suite(
  'Unix stream socket (abstract name)',
  () => UnixServer.listen(abstract, { maxFrameBytes: MAX }),
  () => UnixSocket.connect(abstract, { maxFrameBytes: MAX, timeout: 5000 }),
);

suite(
  'TCP (loopback)',
  () => TcpServer.listen({ maxFrameBytes: MAX }),
  (server) => TcpSocket.connect({ port: (server as TcpServer).port, maxFrameBytes: MAX, timeout: 5000 }),
);

suite(
  'Unix stream socket with reconnect',
  async () => {
    unixPath = names.path('conf-re.sock');
    return UnixServer.listen(unixPath, { maxFrameBytes: MAX });
  },
  () => UnixSocket.connect(unixPath, { maxFrameBytes: MAX, timeout: 5000, reconnect: { retries: 1 } }),
);

describe('Unix seqpacket socket', () => {
  let server: SeqPacketServer;
  const address = names.abstract('conf-seq');
  beforeAll(async () => {
    server = await SeqPacketServer.listen(address, { maxMessageBytes: MAX });
  });
  afterAll(async () => {
    await server?.close();
  });
  describeChannelConformance('Unix seqpacket socket', async () => {
    const client = await SeqPacketSocket.connect(address, { maxMessageBytes: MAX });
    return [client, await server.accept({ timeout: 5000 })];
  }, { maxMessageBytes: MAX });
});

describeChannelConformance('seqpacket socket pair', () => seqPacketPair({ maxMessageBytes: MAX }), { maxMessageBytes: MAX });
