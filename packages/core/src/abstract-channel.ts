import type { Channel, ReceiveOptions, SendOptions } from './channel.js';
import { NO_MESSAGE, iterate, type WaitForNext } from './wait.js';

/**
 * The part of `Channel` that is the same for every transport: async iteration (ends when the channel
 * closes or the peer is gone, and leaving the loop does not close it) and `await using`. Transports extend it.
 */
export abstract class AbstractChannel<T> implements Channel<T> {
  abstract send(message: T, options?: SendOptions): Promise<void>;
  abstract trySend(message: T): boolean;
  abstract receive(options?: ReceiveOptions): Promise<T>;
  abstract tryReceive(): T | undefined;
  abstract close(): Promise<void>;
  abstract readonly closed: boolean;

  /**
   * Async iteration at the speed of `tryReceive`: each step takes what already arrived without waiting (an
   * already resolved result), and waits in `receive` only when nothing is there.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(
      () => this.receive(),
      () => this.closed,
      () => this.poll(),
      this.waitForNext === undefined ? undefined : (received, end) => this.waitForNext!(received, end),
    );
  }

  /**
   * When a transport defines it: how the async iterator waits once `poll` found nothing, settling with the
   * iterator's result itself (see `WaitForNext`) rather than through a `then` on `receive`.
   */
  protected waitForNext?(...args: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>>;

  /**
   * The next message if one is waiting, else `NO_MESSAGE`; what the async iterator calls first. The default is
   * `tryReceive`, so a message that decodes to `undefined` cannot be told from none: a transport whose codec can
   * produce one overrides this.
   */
  protected poll(): T | typeof NO_MESSAGE {
    const message = this.tryReceive();
    return message === undefined ? NO_MESSAGE : message;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
