import { ClosedError, type ChannelServer, type WaitOptions } from '@ipcx/core';
import { Inbox, checkInteger, iterate } from '@ipcx/core/transport';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  checkConnectOptions,
  holdConnection,
  releaseConnection,
  type HeldConnection,
  type NatsConnectOptions,
} from './internal/connection.js';
import { fromNatsError } from './internal/errors.js';
import { checkSubject } from './internal/subject.js';
import {
  NatsChannel,
  channelSettings,
  decodeHello,
  encodeHello,
  isOpeningHello,
  newPrefix,
  type ChannelSettings,
  type NatsChannelOptions,
} from './nats-channel.js';

/** Options of `NatsChannelServer.listen`. */
export interface NatsChannelServerOptions<T> extends NatsChannelOptions<T>, NatsConnectOptions {
  /**
   * The NATS queue group: every server listening on the subject in the same group shares the connections
   * (each connect reaches one of them). Default `'ipcx'`.
   */
  queue?: string | undefined;
  /** Connections that arrived and were not yet accepted; a connect beyond it fails with `FullError`. Default 128. */
  backlog?: number | undefined;
}

/**
 * A `ChannelServer` on a NATS subject: `NatsChannel.connect(subject)` from any machine that reaches the NATS
 * server lands on one of the servers listening on that subject in the same queue group, so N servers share the
 * load. Each connection is a `NatsChannel` on subjects of its own; the service subject carries only the hellos.
 *
 * @example
 * ```ts
 * await using server = await NatsChannelServer.listen('jobs', { servers: 'nats://10.0.0.5:4222' });
 * for await (const channel of server) {
 *   void (async () => {
 *     for await (const job of channel) await channel.send({ done: job });
 *   })();
 * }
 * ```
 */
export class NatsChannelServer<T = unknown> implements ChannelServer<T> {
  readonly #held: HeldConnection;
  readonly #settings: ChannelSettings<T>;
  readonly #sub: Subscription;
  readonly #backlog: number;
  readonly #waiting = new Inbox<NatsChannel<T>>();
  readonly #channels = new Set<NatsChannel<T>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(held: HeldConnection, settings: ChannelSettings<T>, sub: Subscription, backlog: number) {
    this.#held = held;
    this.#settings = settings;
    this.#sub = sub;
    this.#backlog = backlog;
    void (async () => {
      try {
        for await (const msg of sub) this.#onHello(msg);
      } catch (error) {
        this.#waiting.end(fromNatsError('NATS channel server', error));
      }
      this.#waiting.end(new ClosedError('NATS channel server'));
    })();
  }

  /** Listens on `subject` in the queue group `queue`; resolves once the server has the subscription. */
  static async listen<T = unknown>(
    subject: string,
    options: NatsChannelServerOptions<T> = {},
  ): Promise<NatsChannelServer<T>> {
    checkSubject(subject);
    checkConnectOptions(options);
    const settings = channelSettings(options);
    const queue = options.queue ?? 'ipcx';
    if (typeof queue !== 'string' || !/^[^\s*>.]+$/.test(queue))
      throw new TypeError(`queue must be a NATS queue group name (no spaces, dots or wildcards), got ${String(queue)}`);
    const backlog = checkInteger('backlog', options.backlog, { min: 1, default: 128 });
    const what = `NATS channel server on "${subject}"`;
    const held = await holdConnection(what, options);
    try {
      const sub = held.nc.subscribe(subject, { queue });
      // A connect sent after listen resolves must find the subscription.
      await held.nc.flush();
      return new NatsChannelServer<T>(held, settings, sub, backlog);
    } catch (error) {
      await releaseConnection(held);
      throw fromNatsError(what, error);
    }
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The NATS connection this server (and every channel it accepted) uses. */
  get connection(): NatsConnection {
    return this.#held.nc;
  }

  /** Waits for the next connection. */
  async accept(options?: WaitOptions): Promise<NatsChannel<T>> {
    if (this.#closed) throw new ClosedError('NATS channel server');
    return this.#waiting.receive('NATS channel server accept', options);
  }

  [Symbol.asyncIterator](): AsyncIterator<NatsChannel<T>> {
    return iterate(() => this.accept());
  }

  /** Stops listening and closes every channel it accepted (and those not yet accepted); idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown((channel) => channel.close());
    return this.#closing;
  }

  /** Stops listening and destroys every channel it accepted (`NatsChannel.destroy(error)`); idempotent. */
  destroy(error?: Error): void {
    this.#closing ??= this.#shutdown(async (channel) => channel.destroy(error));
    this.#closing.catch(() => {});
  }

  async #shutdown(end: (channel: NatsChannel<T>) => Promise<void>): Promise<void> {
    this.#closed = true;
    this.#sub.unsubscribe();
    this.#waiting.fail(new ClosedError('NATS channel server'));
    await Promise.all([...this.#channels].map(end));
    await releaseConnection(this.#held);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #onHello(msg: Msg): void {
    const hello = decodeHello(msg.data);
    if (!msg.reply || !isOpeningHello(hello)) return;
    if (this.#closed) return void msg.respond(encodeHello({ v: 1, error: 'closed' }));
    if (this.#waiting.size >= this.#backlog) return void msg.respond(encodeHello({ v: 1, error: 'busy' }));
    const nc = this.#held.nc;
    const prefix = newPrefix();
    const sub = nc.subscribe(`${prefix}.>`);
    const channel: NatsChannel<T> = new NatsChannel<T>(
      nc,
      undefined,
      this.#settings,
      { prefix, sub, peerPrefix: hello.prefix, peerCapacity: hello.capacity, peerInterval: hello.interval },
      () => this.#channels.delete(channel),
    );
    this.#channels.add(channel);
    // The subscription is sent before the reply on this connection, so the client's first message finds it.
    msg.respond(encodeHello({ v: 1, prefix, capacity: this.#settings.capacity, interval: this.#settings.interval }));
    this.#waiting.push(channel);
  }
}
