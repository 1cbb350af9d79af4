import { msgpackCodec, type Codec, type ReceiveOptions, type SendOptions } from '@ipcx/core';
import { NO_MESSAGE, checkCodec, iterate } from '@ipcx/core/transport';
import { RESOLVED, receiveSoon, sendSoon, waitToReceive, waitToSend } from './internal/channel-access.js';
import {
  checkPriority,
  createQueue,
  openQueue,
  type MessageQueue,
  type MessageQueueCreateOptions,
  type MessageQueueOptions,
  type QueueAttributes,
  type QueueMessage,
} from './message-queue.js';

/** What a typed handle on a POSIX queue adds to `MessageQueueOptions` (TypedMessageQueue and MqChannel). */
export interface CodecOptions<T> {
  /** Turns messages into bytes. Default `msgpackCodec`. */
  codec?: Codec<T>;
  /** Priority of `send` when the call gives none (and of every `trySend`), 0 to 32767. Default 0. */
  priority?: number;
}

/** Options of `TypedMessageQueue.create`. */
export interface TypedMessageQueueOptions<T> extends MessageQueueCreateOptions, CodecOptions<T> {}

/** Options of `TypedMessageQueue.open`. */
export interface TypedMessageQueueOpenOptions<T> extends MessageQueueOptions, CodecOptions<T> {}

/** Checks `codec` and `priority` before anything is opened or made. */
export function checkCodecOptions(options: CodecOptions<unknown>): void {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  checkCodec(options.codec, msgpackCodec, ['encode', 'decode']);
  if (options.priority !== undefined) checkPriority(options.priority);
}

/**
 * A POSIX message queue of typed messages (encoded by a codec, msgpack by default): any number of senders,
 * one receiver, highest priority first. Not a `Channel`: a queue has no peer, so nothing ends when a sender
 * closes; `for await` runs until this object is closed. For a duplex `Channel` between two processes, see
 * `MqChannel`.
 *
 * @example
 * ```ts
 * const jobs = await TypedMessageQueue.create<{ id: number }>('/jobs', { capacity: 10, maxMessageBytes: 1024 });
 * await jobs.send({ id: 1 }, { priority: 9 });
 * console.log(await jobs.receive({ timeout: 1000 })); // { id: 1 }
 * await jobs.close(); // the creator unlinks the name
 * ```
 */
export class TypedMessageQueue<T = unknown> implements AsyncIterable<T>, AsyncDisposable {
  /** The bytes underneath (`name`, `capacity`, `maxMessageBytes`, `attributes()`). */
  readonly queue: MessageQueue;
  readonly #codec: Codec<T>;
  readonly #sendOptions: { priority: number };

  private constructor(queue: MessageQueue, options: CodecOptions<T>) {
    this.queue = queue;
    this.#codec = options.codec ?? (msgpackCodec as Codec<T>);
    this.#sendOptions = { priority: options.priority ?? 0 };
  }

  /** Creates a queue this object owns, as `MessageQueue.create` (exclusive unless `exclusive: false`). */
  static async create<T = unknown>(
    name: string,
    options: TypedMessageQueueOptions<T> = {},
  ): Promise<TypedMessageQueue<T>> {
    checkCodecOptions(options); // before the queue exists
    const { codec: _, priority: __, ...rest } = options;
    return new TypedMessageQueue<T>(createQueue(name, rest), options);
  }

  /** Opens an existing queue, as `MessageQueue.open` (`NotFoundError` if there is none). */
  static async open<T = unknown>(
    name: string,
    options: TypedMessageQueueOpenOptions<T> = {},
  ): Promise<TypedMessageQueue<T>> {
    checkCodecOptions(options);
    const { codec: _, priority: __, ...rest } = options;
    return new TypedMessageQueue<T>(openQueue(name, rest), options);
  }

  /** The queue's name. */
  get name(): string {
    return this.queue.name;
  }

  /** The largest encoded message. */
  get maxMessageBytes(): number {
    return this.queue.maxMessageBytes;
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.queue.closed;
  }

  /** The kernel's view: capacity, message size and how many messages wait now. */
  attributes(): QueueAttributes {
    return this.queue.attributes();
  }

  /** Sends, waiting for room while the queue is full (`priority` from the call, else the option). */
  send(message: T, options?: SendOptions): Promise<void> {
    try {
      const bytes = this.#codec.encode(message);
      const sendOptions =
        options === undefined
          ? this.#sendOptions
          : { ...options, priority: options.priority ?? this.#sendOptions.priority };
      if (this.queue[sendSoon](bytes, sendOptions.priority)) return RESOLVED;
      return this.queue[waitToSend](bytes, sendOptions);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends if there is room now; false when the queue is full. */
  trySend(message: T, options: { priority?: number } = {}): boolean {
    return this.queue.trySend(this.#codec.encode(message), {
      priority: options.priority ?? this.#sendOptions.priority,
    });
  }

  /** Receives the next message (highest priority first), waiting while the queue is empty. */
  receive(options?: ReceiveOptions): Promise<T> {
    try {
      const data = this.queue[receiveSoon]();
      if (data !== undefined) return Promise.resolve(this.#codec.decode(data));
      return this.queue[waitToReceive](options).then(this.#decode);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The next message if one waits now, else undefined. */
  tryReceive(): T | undefined {
    const message = this.queue.tryReceive();
    return message === undefined ? undefined : this.#codec.decode(message.data);
  }

  /** Yields every message until this object is closed. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(
      () => this.receive(),
      () => this.closed,
      () => {
        const message = this.queue.tryReceive();
        return message === undefined ? NO_MESSAGE : this.#codec.decode(message.data);
      },
    );
  }

  /** As `MessageQueue.close`: waiting sends go in first; the creator unlinks the name. */
  close(): Promise<void> {
    return this.queue.close();
  }

  /** As `MessageQueue.destroy`: waiting calls reject with `error` (default `ClosedError`) at once. */
  destroy(error?: Error): void {
    this.queue.destroy(error);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  readonly #decode = (message: QueueMessage): T => this.#codec.decode(message.data);
}
