import { BadFrameError, TooLargeError, isIpcError, type Codec, type IpcError } from '@ipcx/core';
import { errnoError } from '@ipcx/core/transport';

/**
 * What Unix datagram and UDP sockets share: an incoming datagram that cannot be delivered rejects its own
 * `receive` (the next one is received normally), and a failed send maps to the same typed errors.
 */

/** An incoming datagram that could not be delivered (too large, undecodable): its `receive` rejects. */
export class Failed {
  constructor(readonly error: IpcError) {}
}

/** The datagram, or the error of one that could not be delivered. */
export function unwrap<D>(item: D | Failed): D {
  if (item instanceof Failed) throw item.error;
  return item;
}

/** Checks an incoming datagram's size and decodes it; a datagram that fails either is a `Failed`. */
export function decodeDatagram<T>(
  codec: Codec<T>,
  bytes: Uint8Array,
  size: number,
  max: number,
  transient: boolean,
  from: string,
): T | Failed {
  if (size > max) return new Failed(new TooLargeError(`incoming datagram${from}`, size, max));
  try {
    return codec.decode(bytes, transient);
  } catch (error) {
    return new Failed(
      isIpcError(error) ? error : new BadFrameError('the codec could not decode a datagram', { cause: error }),
    );
  }
}

/**
 * A failed datagram send as a typed error: nobody bound or listening at `where` is `NotFoundError`, a
 * datagram the kernel will not take whole is `TooLargeError`.
 */
export function datagramSendError(where: string, error: unknown, size?: number): IpcError {
  return errnoError(error, `send a datagram to ${where}`, { size });
}
