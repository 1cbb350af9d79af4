import type { IpcError } from '@ipcx/core';
import type { Inbox } from '@ipcx/core/transport';

/**
 * How a connected channel (stream, seqpacket) ended, shared by both: `closed` in the guide's sense, and the
 * server's observer told once when the connection ended with an error rather than a clean close.
 */
export class ConnectionEnd {
  /** `close` or `destroy` was called here. */
  local = false;
  /** The connection ended (peer closed or died, reset, bad bytes): no more messages will arrive. */
  ended = false;
  #observer: ((error: IpcError) => void) | undefined;
  #reported = false;

  constructor(private readonly inbox: Inbox<unknown>) {}

  /**
   * `closed` of the channel: closed here, or ended with everything that arrived already received (so
   * `receive` would fail at once). This is what ends a `for await` loop.
   */
  get closed(): boolean {
    return this.local || (this.ended && this.inbox.size === 0);
  }

  /** Sets the observer told once how the connection ended, when it ended with an error. */
  observe(observer: (error: IpcError) => void): void {
    this.#observer = observer;
  }

  /** Tells the observer, once, how a connection that this end did not close ended (not a clean close). */
  report(error: IpcError): void {
    if (this.#reported || this.local) return;
    this.#reported = true;
    if (error.code === 'IPCX_ERR_CLOSED') return;
    try {
      this.#observer?.(error);
    } catch {
      // an observer must not break the channel
    }
  }
}
