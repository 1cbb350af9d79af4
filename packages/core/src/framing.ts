import { BadFrameError, FrameTooLargeError, LimitError } from './errors.js';

/**
 * Length-prefix framing for byte streams (stream sockets, pipes, FIFOs, TCP).
 *
 * Wire format: each message is one frame, a 4-byte unsigned big-endian length N followed by N bytes of
 * payload (the codec's bytes, msgpack by default). N may be 0. There is no other header, padding or
 * trailer, so a peer in C (`htonl`) or Python (`struct.pack('>I', n)`) speaks it in a few lines.
 * A receiver refuses N > maxFrameBytes (default 1 MiB) with `FrameTooLargeError` and closes the stream.
 */
export const FRAME_HEADER_BYTES = 4;

/**
 * The default bound on a frame's payload: 1 MiB. A peer can make a receiver hold up to this much for a frame
 * it never finishes, so the default stays small; larger messages are an option away.
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** The default `FrameBudget` of a server: 64 MiB of frames in progress across all its connections. */
export const DEFAULT_FRAME_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Bytes of frames in progress (announced, partly received) that several decoders may hold together, e.g.
 * every connection of one server: a bound on what hostile peers that never finish their frames can pin.
 * A decoder takes from it as the bytes of a frame arrive (not when a length is announced) and gives them
 * back when the frame is complete or the decoder is released.
 */
export class FrameBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  #used = 0;

  constructor(limit: number = DEFAULT_FRAME_BUDGET_BYTES) {
    if (!Number.isSafeInteger(limit) || limit < 0)
      throw new RangeError(`a frame budget is an integer number of bytes >= 0, got ${limit}`);
    this.limit = limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` if they fit; false (taking nothing) when they do not. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  /** Gives back bytes taken before. */
  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

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
  /** Largest payload accepted; a larger prefix is `FrameTooLargeError`. Default 1 MiB. */
  maxFrameBytes?: number | undefined;
  /**
   * Shared with other decoders (a server's connections): the bytes of a frame in progress are taken from it as
   * they arrive; when it is spent, the decoder fails with `LimitError` (the connection is then closed).
   */
  budget?: FrameBudget | undefined;
}

/** A frame in progress starts with room for this much and doubles as bytes arrive. */
const FIRST_BODY_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);

/**
 * Splits a byte stream into frames, whatever the chunking. A frame that lies within one chunk is
 * handed out as a view of that chunk (no copy); one that spans chunks is assembled in a buffer that grows
 * as its bytes arrive (a length prefix alone reserves nothing), taken from the `budget` if there is one.
 * After an error the decoder stays failed: every later call throws the same error; `release()` gives back
 * what a frame in progress held.
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
  readonly #budget: FrameBudget | undefined;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** The frame in progress: its memory (grown as bytes arrive), how many arrived, how many it will have. */
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #bodyLength = 0;
  /** Bytes taken from the budget for #body. */
  #held = 0;
  #error: Error | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > MAX_FRAME_LENGTH) {
      throw new RangeError(`maxFrameBytes must be an integer from 0 to ${MAX_FRAME_LENGTH}, got ${max}`);
    }
    if (options.budget !== undefined && !(options.budget instanceof FrameBudget))
      throw new TypeError('budget must be a FrameBudget');
    this.maxFrameBytes = max;
    this.#budget = options.budget;
  }

  /** Gives back to the budget what a frame in progress holds, and drops it (the stream is done). Idempotent. */
  release(): void {
    this.#budget?.give(this.#held);
    this.#held = 0;
    this.#body = undefined;
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
      if (this.#body !== undefined) {
        const n = Math.min(this.#bodyLength - this.#bodyFill, end - offset);
        const body = this.#room(this.#bodyFill + n);
        body.set(chunk.subarray(offset, offset + n), this.#bodyFill);
        this.#bodyFill += n;
        offset += n;
        if (this.#bodyFill === this.#bodyLength) {
          this.#body = undefined;
          this.#bodyFill = 0;
          this.#budget?.give(this.#held);
          this.#held = 0;
          onFrame(body.length === this.#bodyLength ? body : body.subarray(0, this.#bodyLength));
        }
        continue;
      }
      let length: number;
      if (this.#headerFill === 0 && end - offset >= FRAME_HEADER_BYTES) {
        length =
          ((chunk[offset]! << 24) | (chunk[offset + 1]! << 16) | (chunk[offset + 2]! << 8) | chunk[offset + 3]!) >>> 0;
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
        this.#body = EMPTY;
        this.#bodyLength = length;
        this.#bodyFill = 0;
      }
    }
  }

  /** The frame in progress with room for `needed` bytes: grown (doubling, at most to its length) as they arrive. */
  #room(needed: number): Uint8Array {
    const body = this.#body!;
    if (needed <= body.length) return body;
    const size = Math.min(this.#bodyLength, Math.max(needed, FIRST_BODY_BYTES, body.length * 2));
    const budget = this.#budget;
    if (budget !== undefined && !budget.take(size - this.#held)) {
      const error = new LimitError(
        'frame budget',
        `frames in progress hold ${budget.used} of the ${budget.limit} bytes their budget allows: a frame of ${this.#bodyLength} bytes ` +
          `(${this.#bodyFill} of them held) does not fit. Raise the budget (a server's maxInProgressBytes) or lower maxFrameBytes`,
      );
      this.release();
      this.#error = error;
      throw error;
    }
    this.#held = budget !== undefined ? size : 0;
    const grown = Buffer.allocUnsafe(size);
    grown.set(body.subarray(0, this.#bodyFill));
    this.#body = grown;
    return grown;
  }

  /** The stream ended: throws `BadFrameError` if it stopped inside a frame. */
  end(): void {
    if (this.#error) throw this.#error;
    if (this.buffered > 0 || this.#body !== undefined) {
      this.#error = new BadFrameError(`the stream ended inside a frame (${this.buffered} bytes of it arrived)`);
      this.release();
      throw this.#error;
    }
  }
}
