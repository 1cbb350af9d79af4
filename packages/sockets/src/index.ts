export { MAX_UNIX_PATH_BYTES, resolveUnixAddress, type ResolvedAddress, type UnixAddress } from './address.js';
export { childChannel, parentChannel, type ChildChannelOptions, type ProcessPeer } from './child.js';
export { UnixDatagram, type Datagram, type DatagramSendOptions, type UnixDatagramOptions } from './datagram.js';
export { Fifo, type FifoChannel, type FifoOpenOptions } from './fifo.js';
export { sameUser, type Authorize, type PeerCredentials } from './peer.js';
export {
  SeqPacketServer,
  SeqPacketSocket,
  seqPacketPair,
  type SeqPacketClient,
  type SeqPacketConnectOptions,
  type SeqPacketServerOptions,
} from './seqpacket.js';
export { SeqPacketChannel, type SeqPacketChannelOptions, type WithFds } from './seqpacket-channel.js';
export { ReconnectingChannel, type Dial, type ReconnectOptions } from './reconnect.js';
export { StreamChannel, type StreamChannelOptions, type StreamDirection } from './stream-channel.js';
export { StreamServer, type Admit, type ClientErrorOption, type StreamServerOptions } from './stream-server.js';
export {
  TcpServer,
  TcpSocket,
  type TcpChannel,
  type TcpConnectOptions,
  type TcpPeer,
  type TcpServerOptions,
} from './tcp.js';
export { UnixServer, type UnixChannel, type UnixServerOptions } from './unix-server.js';
export { UnixSocket, type UnixConnectOptions } from './unix-socket.js';
