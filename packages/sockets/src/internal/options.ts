import { msgpackCodec, type Codec } from '@ipcx/core';
import { checkCodec } from '@ipcx/core/transport';

/** The `codec` option of every socket: `msgpackCodec` when undefined, else something with `encode` and `decode`. */
export function codecOption<T>(codec: Codec<T> | undefined): Codec<T> {
  return checkCodec(codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
}

/** The options every socket that carries messages takes (streams, seqpacket, datagrams, UDP). */
export interface MessageOptions<T = unknown> {
  /** Turns messages into bytes and back. Default `msgpackCodec`; `rawCodec` for plain bytes. */
  codec?: Codec<T> | undefined;
  /**
   * The largest message (a frame's payload, a packet, a datagram), sent or received. A larger send is
   * `TooLargeError`; what happens to a larger incoming one depends on the socket (see its README section).
   * Default: 1 MiB for streams, 64 KiB for seqpacket and Unix datagrams, the largest UDP datagram for UDP.
   */
  maxMessageBytes?: number | undefined;
}

/** The options of a connected channel (streams, seqpacket), beside `MessageOptions`. */
export interface ConnectedOptions<T = unknown> extends MessageOptions<T> {
  /**
   * Bytes of received messages, not yet taken by `receive`, at which the channel stops reading from the socket;
   * the kernel buffer then fills and the peer's `send` waits. Default 64 KiB.
   */
  receiveBufferBytes?: number | undefined;
  /**
   * Microseconds a `receive` that finds nothing buffered reads the socket in a bounded spin before it waits
   * for libuv: a peer that answers within it is read without the tens of microseconds a sleeping process takes
   * to wake. Adaptive: spins that keep finding nothing are skipped (an idle channel costs no CPU). Default 50;
   * 0 never spins. FIFOs and pipes never spin.
   */
  spinMicroseconds?: number | undefined;
}
