export { MAX_UNIX_PATH_BYTES, resolveUnixAddress, type ResolvedAddress, type UnixAddress } from './address.js';
export { childChannel, parentChannel, type ChildChannelOptions, type ProcessPeer } from './child.js';
export { UnixDatagram, type Datagram, type DatagramSendOptions, type UnixDatagramOptions } from './datagram.js';
export { Fifo, FifoReader, FifoWriter, type FifoOpenOptions } from './fifo.js';
export { sameUser, sameUserOrRoot, type Authorize, type PeerCredentials } from './peer.js';
export {
  SeqPacketServer,
  SeqPacketSocket,
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
  type TcpAddress,
  type TcpChannel,
  type TcpConnectOptions,
  type TcpPeer,
  type TcpServerOptions,
} from './tcp.js';
export {
  UdpSocket,
  type UdpAddress,
  type UdpDatagram,
  type UdpUnboundOptions,
  type UdpSendOptions,
  type UdpSocketOptions,
} from './udp.js';
export { UnixServer, type UnixChannel, type UnixServerOptions } from './unix-server.js';
export { UnixSocket, type UnixConnectOptions } from './unix-socket.js';
