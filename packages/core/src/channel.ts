/** Options of every call that can wait. */
export interface WaitOptions {
  /** Ends the wait with `AbortedError` (the signal's reason as `cause`). */
  signal?: AbortSignal | undefined;
  /** Ends the wait with `TimeoutError` after this many milliseconds. */
  timeout?: number | undefined;
}

/** Options of `Channel.send`. */
export interface SendOptions extends WaitOptions {
  /** Delivery priority where the transport has priorities (POSIX queues); ignored elsewhere. */
  priority?: number | undefined;
}

/** Options of `Channel.receive`. */
export type ReceiveOptions = WaitOptions;

/**
 * A bidirectional, ordered, message-oriented connection to one peer; every ipcx transport implements it.
 *
 * - `send` waits for room (backpressure), `trySend` returns false instead of waiting.
 * - `receive` waits for a message, `tryReceive` returns undefined instead of waiting.
 * - `close` is graceful and idempotent: pending receives reject with `ClosedError`, and later calls
 *   reject (or throw) with `ClosedError`.
 * - When the peer closes, receive hands out what already arrived and then rejects with `ClosedError`;
 *   when the peer dies, it rejects with `PeerGoneError`.
 * - Async iteration yields messages until the channel is closed (by either side); leaving a
 *   `for await` loop early does not close the channel.
 *
 * @example
 * ```ts
 * await using channel = await connect();
 * await channel.send({ hello: 'world' });
 * for await (const message of channel) console.log(message);
 * ```
 */
export interface Channel<T = unknown> extends AsyncIterable<T>, AsyncDisposable {
  /** Sends one message, waiting for room when the channel is full. */
  send(message: T, options?: SendOptions): Promise<void>;
  /** Sends one message if there is room now; returns false when full. Throws `ClosedError` after close. */
  trySend(message: T): boolean;
  /** Receives the next message, waiting until one arrives. */
  receive(options?: ReceiveOptions): Promise<T>;
  /** Returns the next message if one is waiting, undefined otherwise. Throws `ClosedError` after close. */
  tryReceive(): T | undefined;
  /** Closes this end; graceful and idempotent. */
  close(): Promise<void>;
  /** True once `close` was called or the channel ended. */
  readonly closed: boolean;
}

/** A listener that accepts connections: an async iterable of channels, one per peer. */
export interface ChannelServer<T = unknown> extends AsyncIterable<Channel<T>>, AsyncDisposable {
  /** Waits for the next connection. */
  accept(options?: WaitOptions): Promise<Channel<T>>;
  /** Stops accepting and closes every channel it accepted; idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}
