import {
  ClosedError,
  PeerGoneError,
  isIpcError,
  type Channel,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import { AbstractChannel } from '@ipcx/core/transport';
import { DEFAULT_LINGER_TIMEOUT } from '@ipcx/core/transport';

/** A transport's channel, with the `destroy` every ipcx channel has (docs/API.md, "Closing"). */
type Destroyable<T> = Channel<T> & { destroy?(error?: Error): void };

/**
 * The channel between a parent and a worker it spawned (or, in the worker, to its parent): a `Channel`
 * over the chosen transport that also knows whether the other side still lives. Once the peer is gone
 * (a thread exited or threw, a process exited or was killed, the parent died), what it sent before is
 * still delivered, then `receive` and `send` fail with `PeerGoneError` — also a receive that was waiting.
 */
export class PeerChannel<T = unknown> extends AbstractChannel<T> {
  readonly #inner: Destroyable<T>;
  readonly #cleanup: (() => void | Promise<void>) | undefined;
  readonly #lingerMs: number;
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
    if (
      this.#closing === undefined &&
      isIpcError(error) &&
      (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_PEER_GONE')
    ) {
      // The transport saw the peer's end close: say it died, if we know it did and it did not close first.
      if (this.#gone !== undefined && !this.#peerClosed) throw this.#gone;
      if (error.code === 'IPCX_ERR_CLOSED') this.#peerClosed = true;
    }
    throw error;
  };

  /**
   * @internal Built by the spawn functions and `connectToParent`. `lingerMs`: how long `close` waits for the
   * transport's graceful close (checked by the caller, default 2000).
   */
  constructor(inner: Channel<T>, cleanup?: () => void | Promise<void>, lingerMs = DEFAULT_LINGER_TIMEOUT) {
    super();
    this.#inner = inner;
    this.#cleanup = cleanup;
    this.#lingerMs = lingerMs;
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

  /**
   * Closes this end gracefully (what was sent goes to the peer first; the peer's receives then end with
   * `ClosedError`) and frees what the spawn made. Bounded by `lingerTimeout` (default 2000 ms): if the peer
   * does not take what is left by then, the transport is destroyed and the sends still waiting reject with
   * `ClosedError`. Never hangs. Idempotent (the same promise).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#closeInner();
      } finally {
        await this.#cleanup?.();
      }
    })();
    return this.#closing;
  }

  /** The transport's graceful close, for at most `lingerTimeout` ms; then its destroy. */
  async #closeInner(): Promise<void> {
    const inner = this.#inner;
    const closing = inner.close();
    if (typeof inner.destroy !== 'function') return closing; // nothing to cut it short with
    let timer: NodeJS.Timeout | undefined;
    const lingered = new Promise<'lingered'>(
      (resolve) => (timer = setTimeout(() => resolve('lingered'), this.#lingerMs)),
    );
    try {
      if ((await Promise.race([closing, lingered])) !== 'lingered') return;
    } finally {
      clearTimeout(timer);
    }
    closing.catch(() => {}); // the destroy below settles or abandons it
    inner.destroy(
      new ClosedError(`channel (the peer took nothing within lingerTimeout, ${this.#lingerMs} ms, at close)`),
    );
  }

  /**
   * Closes this end now: pending sends reject (with `error`, else `ClosedError`) and are dropped, and what the
   * spawn made is freed. Idempotent.
   */
  destroy(error?: Error): void {
    if (this.#closing !== undefined) return;
    const inner = this.#inner;
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
    if (endWaits !== undefined)
      void Promise.resolve()
        .then(endWaits)
        .catch(() => {});
  }
}
