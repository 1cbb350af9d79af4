import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidNameError, deadline, fromSystemError, type WaitOptions } from '@ipcx/core';
import { mkfifo } from '@ipcx/native';
import { checkMode } from './internal/options.js';
import { claimFile, type FileClaim } from './internal/owned-files.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options of `Fifo.openReader` and `Fifo.openWriter`. */
export interface FifoOpenOptions<T = unknown> extends StreamChannelOptions<T>, WaitOptions {}

/** A one-way channel over a FIFO: `send` on the writer, `receive` on the reader; the other half is `UnsupportedError`. */
export type FifoChannel<T = unknown> = StreamChannel<T, undefined>;

function openFifo(path: string, flags: number): number {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new InvalidNameError(String(path), 'a FIFO path is a non-empty string without NUL bytes');
  }
  const fd = openSync(path, flags | constants.O_NONBLOCK); // libuv adds O_CLOEXEC
  try {
    if (!fstatSync(fd).isFIFO()) throw new InvalidNameError(path, 'not a FIFO');
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * A named pipe (FIFO) in the filesystem: unrelated processes that agree on a path exchange messages one way,
 * with the length framing of the README. `Fifo.create` makes the file (owner-only by default) and removes it
 * on `remove()`, on exit and on SIGINT/SIGTERM; anyone may open an existing FIFO with `openReader`/`openWriter`.
 * One reader and one writer per FIFO: several writers would interleave frames larger than PIPE_BUF.
 *
 * @example
 * ```ts
 * using fifo = Fifo.create('/tmp/jobs.fifo');
 * const reader = await Fifo.openReader(fifo.path);            // in one process
 * const writer = await Fifo.openWriter(fifo.path, { timeout: 1000 }); // in another
 * await writer.send({ job: 1 });
 * console.log(await reader.receive());
 * ```
 */
export class Fifo {
  readonly #claim: FileClaim;

  private constructor(
    /** Where the FIFO is. */
    readonly path: string,
    claim: FileClaim,
  ) {
    this.#claim = claim;
  }

  /** Creates the FIFO (mkfifo); an existing path is `AlreadyExistsError`. Mode default 0o600 (minus the umask). */
  static create(path: string, options: { mode?: number | undefined } = {}): Fifo {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      throw new InvalidNameError(String(path), 'a FIFO path is a non-empty string without NUL bytes');
    }
    const mode = checkMode('mode', options.mode, 0o600);
    try {
      mkfifo(path, mode);
    } catch (error) {
      throw fromSystemError(`create FIFO ${path}`, error);
    }
    return new Fifo(path, claimFile(path, 'fifo'));
  }

  /**
   * Opens the reading end. It does not wait for a writer: `receive` waits for messages, and ends with
   * `ClosedError` once a writer has come and closed.
   */
  static async openReader<T = unknown>(path: string, options: FifoOpenOptions<T> = {}): Promise<FifoChannel<T>> {
    // Opening a reader never waits: `signal` and `timeout` have nothing to bound.
    const { signal: _signal, timeout: _timeout, ...channel } = options;
    streamChannelDefaults(channel);
    let fd: number;
    try {
      fd = openFifo(path, constants.O_RDONLY);
    } catch (error) {
      throw fromSystemError(`open FIFO ${path} for reading`, error);
    }
    return new StreamChannel<T, undefined>(new net.Socket({ fd, readable: true, writable: false }), channel, undefined, 'receive');
  }

  /**
   * Opens the writing end, waiting (up to `timeout`) for a reader: the kernel refuses a writer while nobody
   * reads (ENXIO) and offers no event for a reader arriving, so this retries with a backoff from 1 to 50 ms.
   * `send` fails with `PeerGoneError` once the reader has gone.
   */
  static async openWriter<T = unknown>(path: string, options: FifoOpenOptions<T> = {}): Promise<FifoChannel<T>> {
    const { signal, timeout, ...channel } = options;
    streamChannelDefaults(channel);
    const limit = deadline(`open FIFO ${path} for writing`, { signal, timeout });
    for (let delay = 1; ; delay = Math.min(50, delay * 2)) {
      let fd: number;
      try {
        fd = openFifo(path, constants.O_WRONLY);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw fromSystemError(`open FIFO ${path} for writing`, error);
        try {
          await sleep(delay, undefined, limit && { signal: limit.signal });
        } catch {
          throw limit!.error();
        }
        continue;
      }
      return new StreamChannel<T, undefined>(new net.Socket({ fd, readable: false, writable: true }), channel, undefined, 'send');
    }
  }

  /** Removes the FIFO file (open ends keep working); idempotent. */
  remove(): void {
    this.#claim.release();
  }

  [Symbol.dispose](): void {
    this.remove();
  }
}
