import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClosedError,
  PeerGoneError,
  isIpcError,
  type IpcError,
  type ReceiveOptions,
  type SendOptions,
  type WaitOptions,
} from '@ipcx/core';
import { AbstractChannel, WaitList, deadline, type Deadline, linkSignals, MAX_TIMEOUT_MS } from '@ipcx/core/transport';
import { checkInteger } from '@ipcx/core/transport';
import type { StreamChannel } from './stream-channel.js';

/** How a client reconnects: bounded attempts with exponential backoff. */
export interface ReconnectOptions {
  /** Connection attempts per outage, and for the first connection. Default 5. */
  retries?: number | undefined;
  /** Wait before the second attempt, in ms; each further wait doubles, up to `maxDelay`. Default 50. */
  minDelay?: number | undefined;
  /** The longest wait between two attempts, in ms. Default 2000. */
  maxDelay?: number | undefined;
  /** Told after each successful reconnection (not the first connection), with its count so far. */
  onReconnect?: ((reconnects: number) => void) | undefined;
}

/** Opens one connection; `wait` bounds the attempt. */
export type Dial<T, P> = (wait: WaitOptions | undefined) => Promise<StreamChannel<T, P>>;

/** Errors that retrying cannot fix. */
const FATAL = new Set([
  'IPCX_ERR_INVALID_NAME',
  'IPCX_ERR_PERMISSION',
  'IPCX_ERR_UNSUPPORTED',
  'IPCX_ERR_ABORTED',
  'IPCX_ERR_CLOSED',
]);

function fatal(error: unknown): boolean {
  return !isIpcError(error) || FATAL.has(error.code);
}

/** Runs `call` under a deadline, turning the abort of the combined signal back into its typed error. */
async function within<R>(
  limit: Deadline | undefined,
  call: (options: WaitOptions | undefined) => Promise<R>,
): Promise<R> {
  try {
    return await call(limit && { signal: limit.signal });
  } catch (error) {
    if (limit?.signal.aborted && isIpcError(error) && error.code === 'IPCX_ERR_ABORTED') throw limit.error();
    throw error;
  }
}

/**
 * A client channel that survives its server going away: when the connection drops it redials (bounded
 * attempts, exponential backoff); `send` and `receive` wait for the new connection within their own
 * `timeout`. Delivery is at most once: messages accepted by `send` but still in buffers when the connection
 * dropped are lost, as are messages the server had queued for us. Messages that arrived before the drop are
 * still received. When the attempts run out, every call fails with `PeerGoneError` (the last connect error
 * as `cause`) and the channel is closed.
 *
 * Made by `UnixSocket.connect(address, { reconnect })` and `TcpSocket.connect(address, { reconnect })`.
 */
export class ReconnectingChannel<T = unknown, P = undefined> extends AbstractChannel<T> {
  readonly #dial: Dial<T, P>;
  readonly #retries: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #onReconnect: ((reconnects: number) => void) | undefined;
  readonly #ready = new WaitList();
  readonly #stop = new AbortController();
  #current: StreamChannel<T, P> | undefined;
  #redialing = false;
  #failure: IpcError | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #reconnects = 0;

  private constructor(dial: Dial<T, P>, options: ReconnectOptions) {
    super();
    this.#dial = dial;
    this.#retries = checkInteger('reconnect.retries', options.retries, { default: 5, min: 1 });
    this.#minDelay = checkInteger('reconnect.minDelay', options.minDelay, { default: 50, min: 0, max: MAX_TIMEOUT_MS });
    this.#maxDelay = checkInteger('reconnect.maxDelay', options.maxDelay, {
      default: 2000,
      min: 0,
      max: MAX_TIMEOUT_MS,
    });
    this.#onReconnect = options.onReconnect;
  }

  /** Dials until connected (up to `retries` attempts, bounded by `wait`); rejects with the last error. */
  static async connect<T, P>(
    dial: Dial<T, P>,
    options: ReconnectOptions,
    wait: WaitOptions | undefined,
  ): Promise<ReconnectingChannel<T, P>> {
    const channel = new ReconnectingChannel<T, P>(dial, options);
    channel.#adopt(await channel.#connect(wait));
    return channel;
  }

  /** True once closed locally, or once reconnecting gave up. */
  get closed(): boolean {
    return this.#closed || this.#failure !== undefined;
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.#current !== undefined && !this.#current.closed;
  }

  /** How many times the connection was re-established. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** What is known about the current peer (the last one while reconnecting). */
  get peer(): P | undefined {
    return this.#current?.peer;
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    this.#check();
    const limit = deadline('send', options);
    try {
      for (;;) {
        const channel = await this.#live(limit, 'send');
        try {
          return await within(limit, (o) => channel.send(message, o));
        } catch (error) {
          if (this.#closed) throw new ClosedError();
          if (!channel.closed) throw error; // refused on a live connection (too large, timed out): not a drop
        }
      }
    } finally {
      limit?.release();
    }
  }

  trySend(message: T): boolean {
    this.#check();
    const channel = this.#current;
    if (channel === undefined || channel.closed) return false;
    return channel.trySend(message);
  }

  async receive(options?: ReceiveOptions): Promise<T> {
    this.#check();
    const limit = deadline('receive', options);
    try {
      for (;;) {
        // The current channel may have ended with messages still buffered: those come first.
        const channel = this.#current ?? (await this.#live(limit, 'receive'));
        try {
          return await within(limit, (o) => channel.receive(o));
        } catch (error) {
          if (this.#closed) throw new ClosedError();
          // Only a connection that ended is redialled. Anything else (a bad frame, a timeout) is the caller's
          // to see: redialling a server that sends garbage would loop as fast as it accepts.
          if (
            !channel.closed ||
            !(isIpcError(error) && (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE'))
          )
            throw error;
          await this.#live(limit, 'receive', channel);
        }
      }
    } finally {
      limit?.release();
    }
  }

  tryReceive(): T | undefined {
    this.#check();
    const channel = this.#current;
    if (channel === undefined) return undefined;
    try {
      return channel.tryReceive();
    } catch (error) {
      if (channel.closed) return undefined; // drained and dropped: the next connection is on its way
      throw error;
    }
  }

  /** Stops reconnecting and closes the current connection gracefully; idempotent (the same promise). */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#stopReconnecting();
    this.#closing = this.#current?.close() ?? Promise.resolve();
    return this.#closing;
  }

  /** Stops reconnecting and destroys the current connection (`error`, default `ClosedError`, for its waits). */
  destroy(error?: IpcError): void {
    if (this.#closing !== undefined) return;
    this.#stopReconnecting();
    this.#closing = Promise.resolve();
    this.#current?.destroy(error);
  }

  #stopReconnecting(): void {
    this.#closed = true;
    this.#stop.abort();
    this.#ready.failAll(new ClosedError());
  }

  #check(): void {
    if (this.#closed) throw new ClosedError();
    if (this.#failure !== undefined && (this.#current === undefined || this.#current.closed)) throw this.#failure;
  }

  /** A connection that is up and is not `stale`, waiting for the redial if need be. */
  async #live(limit: Deadline | undefined, what: string, stale?: StreamChannel<T, P>): Promise<StreamChannel<T, P>> {
    for (;;) {
      if (this.#closed) throw new ClosedError();
      const current = this.#current;
      if (current !== undefined && current !== stale && !current.closed) return current;
      if (this.#failure !== undefined) throw this.#failure;
      this.#redial();
      await within(limit, (o) => this.#ready.wait(what, o));
    }
  }

  #adopt(channel: StreamChannel<T, P>): void {
    this.#current = channel;
    channel.socket.once('close', () => {
      if (!this.#closed && this.#current === channel) this.#redial();
    });
    this.#ready.wakeAll();
  }

  #redial(): void {
    if (this.#redialing || this.#closed || this.#failure !== undefined) return;
    this.#redialing = true;
    this.#connect(undefined, true).then(
      (channel) => {
        this.#redialing = false;
        if (this.#closed) {
          void channel.close();
          return;
        }
        this.#reconnects++;
        this.#adopt(channel);
        try {
          this.#onReconnect?.(this.#reconnects);
        } catch {
          // An observer's error is not the channel's.
        }
      },
      (error: unknown) => {
        this.#redialing = false;
        if (this.#closed) return;
        this.#failure = new PeerGoneError(`server (gave up reconnecting after ${this.#retries} attempts)`, {
          cause: error,
        });
        this.#ready.failAll(this.#failure);
      },
    );
  }

  /** Dials with backoff; a redial (`again`) waits `minDelay` before its first attempt too. */
  async #connect(wait: WaitOptions | undefined, again = false): Promise<StreamChannel<T, P>> {
    const limit = deadline('connect', wait);
    const linked = limit === undefined ? undefined : linkSignals(limit.signal, this.#stop.signal);
    const signal = linked?.signal ?? this.#stop.signal;
    let last: unknown;
    try {
      for (let attempt = 0; attempt < this.#retries; attempt++) {
        const step = again ? attempt : attempt - 1;
        if (step >= 0) {
          const delay = Math.min(this.#maxDelay, this.#minDelay * 2 ** step);
          try {
            await sleep(delay, undefined, { signal });
          } catch {
            if (this.#stop.signal.aborted) throw new ClosedError();
            throw limit!.error();
          }
        }
        try {
          return await this.#dial({ signal });
        } catch (error) {
          if (this.#stop.signal.aborted) throw new ClosedError();
          if (limit?.signal.aborted) throw limit.error();
          if (fatal(error)) throw error;
          last = error;
        }
      }
      throw last;
    } finally {
      linked?.release();
      limit?.release();
    }
  }
}
