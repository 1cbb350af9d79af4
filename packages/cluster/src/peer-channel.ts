import { AbstractChannel, ClosedError, PeerGoneError, isIpcError, type Channel, type ReceiveOptions, type SendOptions } from '@ipcx/core';

/**
 * The channel between a parent and a worker it spawned (or, in the worker, to its parent): a `Channel`
 * over the chosen transport that also knows whether the other side still lives. Once the peer is gone
 * (a thread exited or threw, a process exited or was killed, the parent died), what it sent before is
 * still delivered, then `receive` and `send` fail with `PeerGoneError` — also a receive that was waiting.
 */
export class PeerChannel<T = unknown> extends AbstractChannel<T> {
  readonly #inner: Channel<T>;
  readonly #cleanup: (() => void | Promise<void>) | undefined;
  #gone: PeerGoneError | undefined;
  #closing: Promise<void> | undefined;
  /** The peer closed its end itself (a graceful close), before anyone saw it die. */
  #peerClosed = false;
  /** Sends after the peer closed its end fail with `PeerGoneError`, whatever the transport says. */
  readonly #mapSendError = (error: unknown): never => {
    if (this.#closing === undefined && isIpcError(error) && error.code === 'IPCX_ERR_CLOSED') {
      throw this.#gone ?? new PeerGoneError('peer (it closed its end of the channel)', { cause: error });
    }
    return this.#mapError(error);
  };
  readonly #mapError = (error: unknown): never => {
    if (this.#closing === undefined && isIpcError(error) && (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE')) {
      // The transport saw the peer's end close: say it died, if we know it did and it did not close first.
      if (this.#gone !== undefined && !this.#peerClosed) throw this.#gone;
      if (error.code === 'IPCX_ERR_CLOSED') this.#peerClosed = true;
    }
    throw error;
  };

  /** @internal Built by the spawn functions and `connectToParent`. */
  constructor(inner: Channel<T>, cleanup?: () => void | Promise<void>) {
    super();
    this.#inner = inner;
    this.#cleanup = cleanup;
  }

  /** Set once the other side is known to be gone; the error its waits end with. */
  get peerGone(): PeerGoneError | undefined {
    return this.#gone;
  }

  /** The transport's channel underneath (a `ShmChannel` or a Unix `StreamChannel`). */
  get transport(): Channel<T> {
    return this.#inner;
  }

  get closed(): boolean {
    return this.#closing !== undefined || this.#inner.closed;
  }

  send(message: T, options?: SendOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError());
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    return this.#inner.send(message, options).catch(this.#mapSendError);
  }

  trySend(message: T): boolean {
    if (this.#closing !== undefined) throw new ClosedError();
    if (this.#gone !== undefined) throw this.#gone;
    try {
      return this.#inner.trySend(message);
    } catch (error) {
      return this.#mapSendError(error);
    }
  }

  receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError());
    return this.#inner.receive(options).catch(this.#mapError);
  }

  tryReceive(): T | undefined {
    if (this.#closing !== undefined) throw new ClosedError();
    try {
      return this.#inner.tryReceive();
    } catch (error) {
      return this.#mapError(error);
    }
  }

  /** Closes this end (the peer's receives end with `ClosedError`) and frees what the spawn made. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#inner.close();
      } finally {
        await this.#cleanup?.();
      }
    })();
    return this.#closing;
  }

  /**
   * Closes this end now: pending sends reject (with `error`, else `ClosedError`) and are dropped, and what the
   * spawn made is freed. Idempotent.
   */
  destroy(error?: Error): void {
    if (this.#closing !== undefined) return;
    const inner = this.#inner as Channel<T> & { destroy?(error?: Error): void };
    this.#closing = (async () => {
      try {
        if (typeof inner.destroy === 'function') inner.destroy(error);
        else await inner.close();
      } finally {
        await this.#cleanup?.();
      }
    })();
    this.#closing.catch(() => {});
  }

  /**
   * @internal Marks the peer gone. `endWaits` is how the transport's pending waits are ended promptly
   * (e.g. marking the dead thread's end of a ring closed); without it the transport notices by itself.
   */
  markPeerGone(error: PeerGoneError, endWaits?: () => void | Promise<void>): void {
    if (this.#gone !== undefined) return;
    this.#gone = error;
    if (endWaits !== undefined) void Promise.resolve().then(endWaits).catch(() => {});
  }
}
