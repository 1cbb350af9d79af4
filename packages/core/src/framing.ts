import { BadFrameError, FrameTooLargeError } from './errors.js';

/**
 * Length-prefix framing for byte streams (stream sockets, pipes, FIFOs, TCP).
 *
 * Wire format: each message is one frame, a 4-byte unsigned big-endian length N followed by N bytes of
 * payload (the codec's bytes, msgpack by default). N may be 0. There is no other header, padding or
 * trailer, so a peer in C (`htonl`) or Python (`struct.pack('>I', n)`) speaks it in a few lines.
 * A receiver refuses N > maxFrameBytes (default 16 MiB) with `FrameTooLargeError` and closes the stream.
 */
export const FRAME_HEADER_BYTES = 4;

/** The default bound on a frame's payload: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The largest length the 4-byte prefix can carry. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

/** Writes the 4-byte big-endian length prefix of a `length`-byte payload at `offset`. */
export function writeFrameHeader(target: Uint8Array, offset: number, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > MAX_FRAME_LENGTH) {
    throw new RangeError(`frame length ${length} does not fit a 4-byte prefix`);
  }
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/** One frame (prefix + payload) in a new buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(frame, 0, payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** Options of `FrameDecoder`. */
export interface FrameDecoderOptions {
  /** Largest payload accepted; a larger prefix is `FrameTooLargeError`. Default 16 MiB. */
  maxFrameBytes?: number | undefined;
}

const EMPTY = new Uint8Array(0);

/**
 * Splits a byte stream into frames, whatever the chunking. A frame that lies within one chunk is
 * handed out as a view of that chunk (no copy); one that spans chunks is assembled once.
 * After an error the decoder stays failed: every later call throws the same error.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder({ maxFrameBytes: 1 << 20 });
 * socket.on('data', (chunk) => decoder.push(chunk, (frame) => handle(codec.decode(frame))));
 * socket.on('end', () => decoder.end());
 * ```
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #error: Error | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > MAX_FRAME_LENGTH) {
      throw new RangeError(`maxFrameBytes must be an integer from 0 to ${MAX_FRAME_LENGTH}, got ${max}`);
    }
    this.maxFrameBytes = max;
  }

  /** Bytes of an incomplete frame held back, waiting for more input. */
  get buffered(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /** Feeds a chunk; calls `onFrame` for every frame it completes, in order. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    if (this.#error) throw this.#error;
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      const body = this.#body;
      if (body !== undefined) {
        const n = Math.min(body.length - this.#bodyFill, end - offset);
        body.set(chunk.subarray(offset, offset + n), this.#bodyFill);
        this.#bodyFill += n;
        offset += n;
        if (this.#bodyFill === body.length) {
          this.#body = undefined;
          this.#bodyFill = 0;
          onFrame(body);
        }
        continue;
      }
      let length: number;
      if (this.#headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
        length = ((chunk[offset]! << 24) | (chunk[offset + 1]! << 16) | (chunk[offset + 2]! << 8) | chunk[offset + 3]!) >>> 0;
        offset += FRAME_HEADER_BYTES;
      } else {
        this.#header[this.#headerFill++] = chunk[offset++]!;
        if (this.#headerFill < FRAME_HEADER_BYTES) continue;
        const h = this.#header;
        length = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
        this.#headerFill = 0;
      }
      if (length > this.maxFrameBytes) {
        this.#error = new FrameTooLargeError(length, this.maxFrameBytes);
        throw this.#error;
      }
      if (length === 0) {
        onFrame(EMPTY);
      } else if (end - offset >= length) {
        onFrame(chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        this.#body = Buffer.allocUnsafe(length);
      }
    }
  }

  /** The stream ended: throws `BadFrameError` if it stopped inside a frame. */
  end(): void {
    if (this.#error) throw this.#error;
    if (this.buffered > 0 || this.#body !== undefined) {
      this.#error = new BadFrameError(`the stream ended inside a frame (${this.buffered} bytes of it arrived)`);
      throw this.#error;
    }
  }
}
