import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidNameError, type IpcError, type ReceiveOptions, type SendOptions, type WaitOptions } from '@ipcx/core';
import { deadline, fromSystemError } from '@ipcx/core/transport';
import { mkfifo } from '@ipcx/native';
import { checkMode } from '@ipcx/core/transport';
import { claimFile, type FileClaim } from './internal/owned-files.js';
import { ownSocket } from './internal/direct-read.js';
import { StreamChannel, streamChannelDefaults, type StreamChannelOptions } from './stream-channel.js';

/** Options of `Fifo.openReader` and `Fifo.openWriter`. */
export interface FifoOpenOptions<T = unknown> extends StreamChannelOptions<T>, WaitOptions {}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new InvalidNameError(String(path), 'a FIFO path is a non-empty string without NUL bytes');
  }
}

function openFifo(path: string, flags: number): number {
  checkPath(path);
  const fd = openSync(path, flags | constants.O_NONBLOCK); // libuv adds O_CLOEXEC
  try {
    if (!fstatSync(fd).isFIFO()) throw new InvalidNameError(path, 'not a FIFO');
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/** What both ends of a FIFO have: the lifecycle of the stream underneath. */
abstract class FifoEnd<T> implements AsyncDisposable {
  /** Internal: made by `Fifo.openReader` / `Fifo.openWriter`. */
  constructor(protected readonly channel: StreamChannel<T>) {}

  /** True once `close`/`destroy` was called, or the other end went away (a reader: and everything was received). */
  get closed(): boolean {
    return this.channel.closed;
  }

  /** Closes this end gracefully (a writer hands what `send` accepted to the kernel first). Idempotent. */
  close(): Promise<void> {
    return this.channel.close();
  }

  /** Closes this end at once, dropping what was not yet written; waits reject with `error` (default `ClosedError`). */
  destroy(error?: IpcError): void {
    this.channel.destroy(error);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The reading end of a FIFO. Not a `Channel`: a FIFO carries one way only, so this end has the receiving half
 * (`receive`, `tryReceive`, `for await`) and the lifecycle (`close`, `destroy`, `closed`, `await using`).
 * `closed` turns true once the writer has closed and everything it wrote was received.
 */
export class FifoReader<T = unknown> extends FifoEnd<T> implements AsyncIterable<T> {
  /** The next message; `ClosedError` once the writer closed and everything was received. */
  receive(options?: ReceiveOptions): Promise<T> {
    return this.channel.receive(options);
  }

  /** The next message if one arrived, else undefined. */
  tryReceive(): T | undefined {
    return this.channel.tryReceive();
  }

  /** Yields messages until the writer closes (or this end does); leaving the loop does not close it. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.channel[Symbol.asyncIterator]();
  }
}

/**
 * The writing end of a FIFO. Not a `Channel`: it has the sending half (`send`, `trySend`) and the lifecycle.
 * `send` after the reader went away is `PeerGoneError`.
 */
export class FifoWriter<T = unknown> extends FifoEnd<T> {
  /** Bytes accepted by `send` and not yet taken by the kernel. */
  get writableLength(): number {
    return this.channel.writableLength;
  }

  /** Sends one message, waiting while the pipe and `sendBufferBytes` are full. */
  send(message: T, options?: SendOptions): Promise<void> {
    return this.channel.send(message, options);
  }

  /** Sends if there is room now; false otherwise. */
  trySend(message: T): boolean {
    return this.channel.trySend(message);
  }
}

/**
 * A named pipe (FIFO) in the filesystem: unrelated processes that agree on a path exchange messages one way,
 * with the length framing of the README. `await Fifo.create(path)` makes the file (owner-only by default) and
 * owns it: `close()` (or `destroy()`, or exit) removes it, and it is registered in core's registry of kernel
 * objects. `Fifo.openReader(path)` and `Fifo.openWriter(path)` open an end of an existing FIFO (they never
 * create one: `NotFoundError`), in this process or any other. One reader and one writer per FIFO: several
 * writers would interleave frames larger than PIPE_BUF.
 *
 * @example
 * ```ts
 * const fifo = await Fifo.create('/tmp/jobs.fifo');
 * const reader = await Fifo.openReader(fifo.path);                    // in one process
 * const writer = await Fifo.openWriter(fifo.path, { timeout: 1000 }); // in another
 * await writer.send({ job: 1 });
 * console.log(await reader.receive());
 * await Promise.all([writer.close(), reader.close(), fifo.close()]);
 * ```
 */
export class Fifo implements AsyncDisposable {
  readonly #claim: FileClaim;
  #closed: Promise<void> | undefined;

  private constructor(
    /** Where the FIFO is. */
    readonly path: string,
    claim: FileClaim,
  ) {
    this.#claim = claim;
  }

  /** Creates the FIFO (mkfifo); an existing path is `AlreadyExistsError`. Mode default 0o600 (minus the umask). */
  static async create(path: string, options: { mode?: number | undefined } = {}): Promise<Fifo> {
    checkPath(path);
    const mode = checkMode('mode', options.mode, 0o600);
    try {
      mkfifo(path, mode);
    } catch (error) {
      throw fromSystemError(`create FIFO ${path}`, error);
    }
    return new Fifo(path, claimFile(path, 'fifo'));
  }

  /**
   * Opens the reading end of an existing FIFO. It does not wait for a writer: `receive` waits for messages,
   * and ends with `ClosedError` once a writer has come and closed.
   */
  static async openReader<T = unknown>(path: string, options: FifoOpenOptions<T> = {}): Promise<FifoReader<T>> {
    // Opening a reader never waits: `signal` and `timeout` have nothing to bound.
    const { signal: _signal, timeout: _timeout, ...channel } = options;
    streamChannelDefaults(channel);
    let fd: number;
    try {
      fd = openFifo(path, constants.O_RDONLY);
    } catch (error) {
      throw fromSystemError(`open FIFO ${path} for reading`, error);
    }
    return new FifoReader(
      new StreamChannel<T, undefined>(
        ownSocket(new net.Socket({ fd, readable: true, writable: false })),
        channel,
        undefined,
        'receive',
      ),
    );
  }

  /**
   * Opens the writing end of an existing FIFO, waiting (up to `timeout`) for a reader: the kernel refuses a
   * writer while nobody reads (ENXIO) and offers no event for a reader arriving, so this retries with a
   * backoff from 1 to 50 ms. `send` fails with `PeerGoneError` once the reader has gone.
   */
  static async openWriter<T = unknown>(path: string, options: FifoOpenOptions<T> = {}): Promise<FifoWriter<T>> {
    const { signal, timeout, ...channel } = options;
    streamChannelDefaults(channel);
    const limit = deadline(`open FIFO ${path} for writing`, { signal, timeout });
    try {
      for (let delay = 1; ; delay = Math.min(50, delay * 2)) {
        let fd: number;
        try {
          fd = openFifo(path, constants.O_WRONLY);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENXIO')
            throw fromSystemError(`open FIFO ${path} for writing`, error);
          try {
            await sleep(delay, undefined, limit && { signal: limit.signal });
          } catch {
            throw limit!.error();
          }
          continue;
        }
        return new FifoWriter(
          new StreamChannel<T, undefined>(
            new net.Socket({ fd, readable: false, writable: true }),
            channel,
            undefined,
            'send',
          ),
        );
      }
    } finally {
      limit?.release();
    }
  }

  /**
   * Removes the FIFO at `path` (made by anyone); resolves to true if there was one, false if nothing was
   * there. A path that is not a FIFO is `InvalidNameError` and is left alone. Open ends keep working.
   */
  static async unlink(path: string): Promise<boolean> {
    checkPath(path);
    try {
      if (!(await lstat(path)).isFIFO()) throw new InvalidNameError(path, 'not a FIFO');
      await unlink(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fromSystemError(`unlink FIFO ${path}`, error);
    }
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Removes the FIFO file if it is still the one this created (open ends keep working); idempotent. */
  close(): Promise<void> {
    this.destroy();
    return this.#closed!;
  }

  /** The same as `close`: a FIFO holds nothing to flush. */
  destroy(): void {
    if (this.#closed !== undefined) return;
    this.#closed = Promise.resolve();
    this.#claim.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
