import { msgpackCodec, type Codec } from '@ipcx/core';

/** Validates an integer option (piscina-style: every option is checked before the internals see it). */
export function checkInteger(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Validates a file mode (permission bits). */
export function checkMode(name: string, value: number | undefined, fallback: number): number {
  return checkInteger(name, value, fallback, 0, 0o7777);
}

/** The `codec` option: `msgpackCodec` when undefined, else something with `encode` and `decode`. */
export function codecOption<T>(codec: Codec<T> | undefined): Codec<T> {
  const chosen = codec ?? (msgpackCodec as Codec<T>);
  if (typeof chosen?.encode !== 'function' || typeof chosen.decode !== 'function') throw new TypeError('codec must be a Codec (name, encode, decode)');
  return chosen;
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
}
