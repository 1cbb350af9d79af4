// @ipcx/sockets rows: Unix stream (UnixServer/UnixSocket), Unix seqpacket, Unix datagram and TCP on
// loopback. The bench listens; the child connects. Options are the defaults except the codec and, for the
// packet sockets, a message bound that admits the 64 KiB object (its encoding is a few bytes over 64 KiB).
import { msgpackCodec, rawCodec } from '@ipcx/core';
import {
  SeqPacketServer,
  SeqPacketSocket,
  TcpServer,
  TcpSocket,
  UnixDatagram,
  UnixServer,
  UnixSocket,
} from '@ipcx/sockets';
import { channelClient, channelEcho, channelReceiver, channelSender } from './channel.mjs';
import { socketPath } from './names.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);
const packetOptions = (kind, bytes) => ({
  codec: codecOf(kind),
  ...(bytes > 65536 ? { maxMessageBytes: 2 * 65536 } : {}),
});

/** A transport whose bench end is a server accepting the child's connection. */
function connected({ listen, connect }) {
  async function open({ kind, bytes, peer }, measure) {
    const server = await listen(kind, bytes);
    try {
      const [channel] = await Promise.all([server.accept({ timeout: 10_000 }), peer.setup(measure, server.params)]);
      return {
        channel,
        close: async () => {
          await channel.close();
          await server.close();
        },
      };
    } catch (error) {
      await server.close();
      throw error;
    }
  }
  return {
    async sender(ctx) {
      const { channel, close } = await open(ctx, 'throughput');
      return { ...channelSender(channel, ctx.payload), close };
    },
    async client(ctx) {
      const { channel, close } = await open(ctx, 'rtt');
      return { ...channelClient(channel, ctx.payload), close };
    },
    async receiver({ kind, bytes, params }) {
      return channelReceiver(await connect(kind, bytes, params));
    },
    async echo({ kind, bytes, params }) {
      return channelEcho(await connect(kind, bytes, params));
    },
  };
}

function serverOf(server, params) {
  return { accept: (o) => server.accept(o), close: () => server.close(), params };
}

export const unixStream = connected({
  async listen(kind) {
    const path = socketPath('stream');
    return serverOf(await UnixServer.listen(path, { codec: codecOf(kind) }), { path });
  },
  connect: (kind, _bytes, { path }) => UnixSocket.connect(path, { codec: codecOf(kind), timeout: 10_000 }),
});

export const unixSeqpacket = connected({
  async listen(kind, bytes) {
    const path = socketPath('seqpacket');
    return serverOf(await SeqPacketServer.listen(path, packetOptions(kind, bytes)), { path });
  },
  connect: (kind, bytes, { path }) => SeqPacketSocket.connect(path, packetOptions(kind, bytes)),
});

export const tcp = connected({
  async listen(kind) {
    const server = await TcpServer.listen({ port: 0 }, { codec: codecOf(kind) });
    return serverOf(server, { port: server.port });
  },
  connect: (kind, _bytes, { port }) => TcpSocket.connect({ port }, { codec: codecOf(kind), timeout: 10_000 }),
});

/** A connected UnixDatagram seen as a channel of its payloads. */
function datagramChannel(socket) {
  return {
    trySend: (message) => socket.trySend(message),
    send: (message) => socket.send(message),
    receive: async () => (await socket.receive()).data,
    tryReceive: () => socket.tryReceive()?.data,
    close: () => socket.close(),
  };
}

/** Both ends bound to a path and connected to each other, so that sends are polled, not retried. */
async function datagramPair({ kind, bytes, peer }, measure) {
  const path = socketPath('dgram-a');
  const socket = await UnixDatagram.bind(path, packetOptions(kind, bytes));
  try {
    const ready = await peer.setup(measure, { path });
    socket.connect(ready.path);
    return datagramChannel(socket);
  } catch (error) {
    await socket.close();
    throw error;
  }
}

async function datagramPeer({ kind, bytes, params }) {
  const path = socketPath('dgram-b');
  const socket = await UnixDatagram.bind(path, packetOptions(kind, bytes));
  socket.connect(params.path);
  return { channel: datagramChannel(socket), ready: { path } };
}

export const unixDatagram = {
  async sender(ctx) {
    return channelSender(await datagramPair(ctx, 'throughput'), ctx.payload);
  },
  async client(ctx) {
    return channelClient(await datagramPair(ctx, 'rtt'), ctx.payload);
  },
  async receiver(ctx) {
    const { channel, ready } = await datagramPeer(ctx);
    return { ...channelReceiver(channel), ready };
  },
  async echo(ctx) {
    const { channel, ready } = await datagramPeer(ctx);
    return { ...channelEcho(channel), ready };
  },
};
