import type { Channel, ReceiveOptions, SendOptions } from './channel.js';
import { iterate } from './wait.js';

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

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(() => this.receive(), () => this.closed);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
