import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { rawCodec, type Channel } from '@ipcx/core';
import { describeChannelConformance, type KillablePeer } from '@ipcx/core/testing';
import { socketPair } from '@ipcx/native';
import {
  SeqPacketChannel,
  SeqPacketServer,
  SeqPacketSocket,
  TcpServer,
  TcpSocket,
  UnixServer,
  UnixSocket,
  childChannel,
  parentChannel,
  type StreamServer,
} from '@ipcx/sockets';
import { childLines, fixtures, killChild, spawnNode, uniqueNames } from './helpers.js';

const names = uniqueNames('all');
const MAX = 8192;

/**
 * The server's end of a connection from a child process that echoes (fixtures/echo-client.mjs, given
 * `args`), for the conformance case that kills the other end.
 */
async function killableClient(accept: () => Promise<Channel<unknown>>, args: string[]): Promise<KillablePeer> {
  const child = spawnNode([join(fixtures, 'echo-client.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  expect(await childLines(child).next()).toBe('ready');
  return {
    channel: await accept(),
    kill: () => killChild(child),
  };
}

/**
 * Linux grows a TCP connection's buffers (send buffer and receive window autotuning) over its first
 * megabytes, and goes on growing them for tens of milliseconds after the sender first meets backpressure,
 * whether or not anyone reads: a TCP channel that `trySend` has just found full could take another
 * message 20-50 ms later. The cases that fill a channel and expect the next send to wait or time out
 * failed that way on Node 22 and 24 (the queue that `trySend` saw as full went into the kernel ~50 ms
 * later with the receiver paused; Node 22's 64 KiB socket reads, up from 16 KiB, change the ACK timing,
 * so Node 20 rarely shows it). Carrying a few megabytes through a fresh connection first grows its
 * buffers to their ceiling, after which a filled channel stays full until the receiver takes messages,
 * which is what those cases are about. Unix stream sockets have fixed buffers and need none of this.
 */
async function grownTcpPair(client: Channel<unknown>, accepted: Channel<unknown>): Promise<void> {
  const chunk = new Uint8Array(MAX - 64);
  const count = Math.ceil((8 << 20) / chunk.length);
  const sending = (async () => {
    for (let i = 0; i < count; i++) await client.send(chunk, { timeout: 5000 });
  })();
  for (let i = 0; i < count; i++) await accepted.receive({ timeout: 5000 });
  await sending;
}

/**
 * One server per transport; each case connects a fresh client and takes the server's end of it. `peer`:
 * the echo client's arguments for this server, when the "peer that dies" case should run. `prepare` runs
 * on each fresh pair before the case.
 */
function suite(
  name: string,
  listen: () => Promise<StreamServer<unknown, unknown>>,
  connect: (server: StreamServer<unknown, unknown>) => Promise<Channel<unknown>>,
  peer?: (server: StreamServer<unknown, unknown>) => string[],
  connectRaw?: (server: StreamServer<unknown, unknown>) => Promise<Channel<Uint8Array>>,
  prepare?: (client: Channel<unknown>, accepted: Channel<unknown>) => Promise<void>,
): void {
  describe(name, () => {
    let server: StreamServer<unknown, unknown>;
    beforeAll(async () => {
      server = await listen();
    });
    afterAll(async () => {
      await server?.close();
    });
    describeChannelConformance(
      name,
      async () => {
        const client = await connect(server);
        const accepted = await server.accept({ timeout: 5000 });
        await prepare?.(client, accepted);
        return [client, accepted];
      },
      {
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
      },
    );
  });
}

let unixPath = '';
suite(
  'Unix stream socket (path)',
  async () => {
    unixPath = names.path('conf.sock');
    return UnixServer.listen(unixPath, { maxMessageBytes: MAX });
  },
  () => UnixSocket.connect(unixPath, { maxMessageBytes: MAX, timeout: 5000 }),
  () => ['unix', unixPath],
  () => UnixSocket.connect(unixPath, { maxMessageBytes: MAX, timeout: 5000, codec: rawCodec }),
);

const abstract = names.abstract('conf');
suite(
  'Unix stream socket (abstract name)',
  () => UnixServer.listen(abstract, { maxMessageBytes: MAX }),
  () => UnixSocket.connect(abstract, { maxMessageBytes: MAX, timeout: 5000 }),
  () => ['unix-abstract', abstract.abstract],
  () => UnixSocket.connect(abstract, { maxMessageBytes: MAX, timeout: 5000, codec: rawCodec }),
);

suite(
  'TCP (loopback)',
  () => TcpServer.listen({}, { maxMessageBytes: MAX }),
  (server) => TcpSocket.connect({ port: (server as TcpServer).port }, { maxMessageBytes: MAX, timeout: 5000 }),
  (server) => ['tcp', String((server as TcpServer).port)],
  (server) =>
    TcpSocket.connect({ port: (server as TcpServer).port }, { maxMessageBytes: MAX, timeout: 5000, codec: rawCodec }),
  grownTcpPair,
);

suite(
  'Unix stream socket with reconnect',
  async () => {
    unixPath = names.path('conf-re.sock');
    return UnixServer.listen(unixPath, { maxMessageBytes: MAX });
  },
  () => UnixSocket.connect(unixPath, { maxMessageBytes: MAX, timeout: 5000, reconnect: { retries: 1 } }),
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
  describeChannelConformance(
    'Unix seqpacket socket',
    async () => {
      const client = await SeqPacketSocket.connect(address, { maxMessageBytes: MAX });
      return [client, await server.accept({ timeout: 5000 })];
    },
    {
      maxMessageBytes: MAX,
      killablePeer: () =>
        killableClient(() => server.accept({ timeout: 5000 }), ['seqpacket-abstract', address.abstract]),
      garbagePeer: async () => {
        const raw = await SeqPacketSocket.connect(address, { maxMessageBytes: MAX, codec: rawCodec });
        return [await server.accept({ timeout: 5000 }), raw];
      },
    },
  );
});

describeChannelConformance('seqpacket socket pair', () => SeqPacketChannel.pair({ maxMessageBytes: MAX }), {
  maxMessageBytes: MAX,
});

// The child-process pipe: Node makes a 'pipe' stdio slot a Unix stream socket pair. Here both ends live in
// this process (childChannel over one end of a socketpair, as spawn would hand it, parentChannel over the
// other's fd); the killable peer is a real child echoing over its fd 3.
describeChannelConformance(
  'child-process pipe',
  () => {
    const [mine, theirs] = socketPair('stream');
    const child = {
      pid: process.pid,
      stdio: [null, null, null, new Socket({ fd: mine, readable: true, writable: true })],
    };
    return [
      childChannel(child as unknown as ChildProcess, { maxMessageBytes: MAX }),
      parentChannel({ fd: theirs, maxMessageBytes: MAX }),
    ];
  },
  {
    maxMessageBytes: MAX,
    killablePeer: async () => {
      const child = spawnNode([join(fixtures, 'child.mjs'), 'echo'], {
        stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      });
      return {
        channel: childChannel(child),
        kill: () => killChild(child),
      };
    },
  },
);
