import type { Socket } from 'node:net';
import { TooLargeError, type Codec } from '@ipcx/core';
import { FRAME_HEADER_BYTES } from '@ipcx/core/transport';
import { socket as sock } from '@ipcx/native';
import { constants } from 'node:os';
import { socketFd } from './socket-fd.js';

/** Bytes a batch starts with, and the size at which it is written at once rather than at the end of the tick. */
const BATCH_BYTES = 64 * 1024;

/**
 * Coalesces frames into one growing buffer and hands it to the socket once per tick (or as soon as it holds
 * 64 KiB), so that a burst of small messages costs one write syscall instead of one each.
 *
 * Why a batch rather than `cork`/`uncork` or `writev`: all three end in one syscall per tick, but the batch also
 * saves the per-message Buffer, the per-write bookkeeping of the Writable and the iovec array; bench/throughput.mjs
 * measures them side by side (bench/RESULTS.md: batch 8.3, cork 3.2, a write per message 0.8 M msg/s).
 *
 * The batch is reused when the kernel took the whole write synchronously (the Writable's length is back to 0,
 * so libuv holds no reference to it); otherwise libuv still points at it and the next batch is a new buffer.
 *
 * The write itself skips node:net when it can: while the Writable holds nothing (its length is 0, so every byte
 * handed to it before is the kernel's already), the batch is sent on the socket's descriptor with one
 * non-blocking send(2), in order after everything written before. What the kernel does not take (a full
 * buffer, part of a large batch) and any error go to `socket.write`, which queues the rest and reports errors
 * as it always does. This saves the Writable's bookkeeping on every flush, which is most of a small message's
 * cost on the sending side of a round trip or of a wake-up (apps/bench, issue 15). A descriptor that is not a
 * socket (a pipe, a FIFO) is written through node:net only. `socket.bytesWritten` counts only what node:net
 * wrote.
 */
export class FrameWriter {
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
  #length = 0;
  #scheduled = false;
  /** False once the descriptor turned out not to be a socket: then node:net writes everything. */
  #direct = true;
  readonly #flushTask = (): void => this.flush();
  readonly #afterWrite: (error?: Error | null) => void;
  readonly #onWritten: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly maxFrameBytes: number,
    onWritten: () => void,
  ) {
    this.#onWritten = onWritten;
    this.#afterWrite = (error) => {
      if (!error) onWritten();
    };
  }

  /** Bytes accepted and not yet handed to the kernel: the batch plus what the socket holds back. */
  get queued(): number {
    return this.#length + this.socket.writableLength;
  }

  /**
   * Encodes `message` and copies it into the batch as one frame. Throws `TooLargeError` (the batch unchanged)
   * when the encoding is larger than `maxFrameBytes`; codec errors pass through.
   *
   * Why encode-then-copy rather than `codec.encodeInto(message, batch.subarray(...))`: measured on 64-byte
   * messages, the copy costs less than the view `encodeInto` needs per call (and msgpackr's `useBuffer` on it):
   * 35 M/s against 9 M/s with rawCodec, 1.4 M/s against 0.9 M/s with msgpack (bench/RESULTS.md).
   */
  appendMessage<T>(codec: Codec<T>, message: T): void {
    this.appendFrame(codec.encode(message));
  }

  /** Appends one frame whose payload is already encoded. Throws `TooLargeError` over `maxFrameBytes`. */
  appendFrame(payload: Uint8Array): void {
    const size = payload.length;
    if (size > this.maxFrameBytes) throw new TooLargeError('message', size, this.maxFrameBytes);
    this.#reserve(FRAME_HEADER_BYTES + size);
    const batch = this.#batch;
    const at = this.#length;
    // The 4-byte big-endian length prefix (writeFrameHeader without its range check: size <= maxFrameBytes).
    batch[at] = size >>> 24;
    batch[at + 1] = (size >>> 16) & 0xff;
    batch[at + 2] = (size >>> 8) & 0xff;
    batch[at + 3] = size & 0xff;
    if (size > 0) batch.set(payload, at + FRAME_HEADER_BYTES);
    this.#length = at + FRAME_HEADER_BYTES + size;
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
    let chunk = this.#batch.subarray(0, this.#length);
    this.#length = 0;
    if (this.#direct && socket.writableLength === 0) {
      const fd = socketFd(socket);
      const sent = fd < 0 ? 0 : sock.trySend(fd, chunk);
      if (sent === chunk.length) {
        // As node:net would after a write: waiting sends may move into the (now empty) batch.
        process.nextTick(this.#onWritten);
        return;
      }
      if (sent === -constants.errno.ENOTSOCK) this.#direct = false;
      if (sent > 0) chunk = chunk.subarray(sent);
    }
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
