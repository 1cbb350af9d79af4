import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { rawCodec, type Channel } from '@ipcx/core';
import { describeChannelConformance, type KillablePeer } from '@ipcx/core/testing';
import { SeqPacketServer, SeqPacketSocket, TcpServer, TcpSocket, UnixServer, UnixSocket, seqPacketPair, type StreamServer } from '@ipcx/sockets';
import { children, exited, fixtures, lineFrom, uniqueNames } from './helpers.js';

const names = uniqueNames('all');
const kids = children();
const MAX = 8192;

/**
 * The server's end of a connection from a child process that echoes (fixtures/echo-client.mjs, given
 * `args`), for the conformance case that kills the other end.
 */
async function killableClient(accept: () => Promise<Channel<unknown>>, args: string[]): Promise<KillablePeer> {
  const child = kids.spawn([join(fixtures, 'echo-client.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  expect(await lineFrom(child)).toBe('ready');
  return {
    channel: await accept(),
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}

/**
 * One server per transport; each case connects a fresh client and takes the server's end of it. `peer`:
 * the echo client's arguments for this server, when the "peer that dies" case should run.
 */
function suite(
  name: string,
  listen: () => Promise<StreamServer<unknown, unknown>>,
  connect: (server: StreamServer<unknown, unknown>) => Promise<Channel<unknown>>,
  peer?: (server: StreamServer<unknown, unknown>) => string[],
  connectRaw?: (server: StreamServer<unknown, unknown>) => Promise<Channel<Uint8Array>>,
): void {
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
    }, {
      maxMessageBytes: MAX,
      ...(peer ? { killablePeer: () => killableClient(() => server.accept({ timeout: 5000 }), peer(server)) } : {}),
      ...(connectRaw
        ? {
            garbagePeer: async (): Promise<[Channel<unknown>, Channel<Uint8Array>]> => {
              const raw = await connectRaw(server);
              return [await server.accept({ timeout: 5000 }), raw];
            },
          }
        : {}),
    });
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
  () => ['unix', unixPath],
  () => UnixSocket.connect(unixPath, { maxFrameBytes: MAX, timeout: 5000, codec: rawCodec }),
);

const abstract = names.abstract('conf');
suite(
  'Unix stream socket (abstract name)',
  () => UnixServer.listen(abstract, { maxFrameBytes: MAX }),
  () => UnixSocket.connect(abstract, { maxFrameBytes: MAX, timeout: 5000 }),
  () => ['unix-abstract', abstract.abstract],
  () => UnixSocket.connect(abstract, { maxFrameBytes: MAX, timeout: 5000, codec: rawCodec }),
);

suite(
  'TCP (loopback)',
  () => TcpServer.listen({ maxFrameBytes: MAX }),
  (server) => TcpSocket.connect({ port: (server as TcpServer).port, maxFrameBytes: MAX, timeout: 5000 }),
  (server) => ['tcp', String((server as TcpServer).port)],
  (server) => TcpSocket.connect({ port: (server as TcpServer).port, maxFrameBytes: MAX, timeout: 5000, codec: rawCodec }),
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
  }, {
    maxMessageBytes: MAX,
    killablePeer: () => killableClient(() => server.accept({ timeout: 5000 }), ['seqpacket-abstract', address.abstract]),
    garbagePeer: async () => {
      const raw = await SeqPacketSocket.connect(address, { maxMessageBytes: MAX, codec: rawCodec });
      return [await server.accept({ timeout: 5000 }), raw];
    },
  });
});

describeChannelConformance('seqpacket socket pair', () => seqPacketPair({ maxMessageBytes: MAX }), { maxMessageBytes: MAX });
