import type { Socket } from 'node:net';
import { FRAME_HEADER_BYTES, TooLargeError, writeFrameHeader, type Codec } from '@ipcx/core';

/** Bytes a batch starts with, and the size at which it is written at once rather than at the end of the tick. */
const BATCH_BYTES = 64 * 1024;
/** Room the codec is offered at the batch's tail: msgpackr packs in place only with this much (see core's codec). */
const ENCODE_ROOM = 4096;

/**
 * Coalesces frames into one growing buffer and hands it to the socket once per tick (or as soon as it holds
 * 64 KiB), so that a burst of small messages costs one write syscall instead of one each. Messages are encoded
 * straight into the batch (`codec.encodeInto`), behind a 4-byte length prefix written after the fact.
 *
 * Why a batch rather than `cork`/`uncork` or `writev`: all three end in one syscall per tick, but the batch also
 * saves the per-message Buffer, the per-write bookkeeping of the Writable and the iovec array; bench/coalesce.mjs
 * measures the three side by side (README, "Backpressure and batching").
 *
 * The batch is reused when the kernel took the whole write synchronously (the Writable's length is back to 0,
 * so libuv holds no reference to it); otherwise libuv still points at it and the next batch is a new buffer.
 */
export class FrameWriter {
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  #length = 0;
  #scheduled = false;
  readonly #flushTask = (): void => this.flush();
  readonly #afterWrite: (error?: Error | null) => void;

  constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
    onWritten: () => void,
  ) {
    this.#afterWrite = (error) => {
      if (!error) onWritten();
    };
  }

  /** Bytes accepted and not yet handed to the kernel: the batch plus what the socket holds back. */
  get queued(): number {
    return this.#length + this.socket.writableLength;
  }

  /**
   * Encodes `message` into the batch as one frame. Throws `TooLargeError` (the batch unchanged) when the
   * encoding is larger than `maxFrameBytes`; codec errors pass through.
   */
  appendMessage<T>(codec: Codec<T>, message: T): void {
    this.#reserve(FRAME_HEADER_BYTES + ENCODE_ROOM);
    const start = this.#length + FRAME_HEADER_BYTES;
    const result = codec.encodeInto(message, this.#batch.subarray(start));
    if (typeof result === 'number') {
      this.#checkSize(result);
      writeFrameHeader(this.#batch, this.#length, result);
      this.#length = start + result;
      this.#written();
    } else {
      this.appendFrame(result);
    }
  }

  /** Appends one frame whose payload is already encoded. Throws `TooLargeError` over `maxFrameBytes`. */
  appendFrame(payload: Uint8Array): void {
    this.#checkSize(payload.length);
    this.#reserve(FRAME_HEADER_BYTES + payload.length);
    writeFrameHeader(this.#batch, this.#length, payload.length);
    this.#batch.set(payload, this.#length + FRAME_HEADER_BYTES);
    this.#length += FRAME_HEADER_BYTES + payload.length;
    this.#written();
  }

  /** Hands the batch to the socket now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#length === 0) return;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      this.#length = 0;
      return;
    }
    const chunk = this.#batch.subarray(0, this.#length);
    this.#length = 0;
    socket.write(chunk, this.#afterWrite);
    if (socket.writableLength !== 0 || this.#batch.length > 4 * BATCH_BYTES) {
      // libuv holds `chunk` until the kernel takes it (or the batch grew for one big message): start a new one.
      this.#batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    }
  }

  /** Drops whatever is batched (the socket is gone). */
  discard(): void {
    this.#length = 0;
  }

  #written(): void {
    if (this.#length >= BATCH_BYTES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flushTask);
    }
  }

  #checkSize(size: number): void {
    if (size > this.maxFrameBytes) throw new TooLargeError('message', size, this.maxFrameBytes);
  }

  #reserve(bytes: number): void {
    const need = this.#length + bytes;
    if (need <= this.#batch.length) return;
    let size = this.#batch.length * 2;
    while (size < need) size *= 2;
    const bigger = Buffer.allocUnsafeSlow(size);
    this.#batch.copy(bigger, 0, 0, this.#length);
    this.#batch = bigger;
  }
}
