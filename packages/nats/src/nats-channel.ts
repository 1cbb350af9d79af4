import {
  BadFrameError,
  ClosedError,
  FullError,
  PeerGoneError,
  TooLargeError,
  copyBytes,
  isIpcError,
  msgpackCodec,
  type Codec,
  type IpcError,
  type ReceiveOptions,
  type SendOptions,
} from '@ipcx/core';
import {
  AbstractChannel,
  Inbox,
  SendQueue,
  checkCodec,
  checkInteger,
  deadline,
  intervalOption,
  lingerOption,
} from '@ipcx/core/transport';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  checkConnectOptions,
  holdConnection,
  onConnectionClosed,
  releaseConnection,
  type HeldConnection,
  type NatsConnectOptions,
} from './internal/connection.js';
import { fromNatsError } from './internal/errors.js';
import { checkSubject } from './internal/subject.js';

/** Options of one end of a `NatsChannel` (both `NatsChannel.connect` and `NatsChannelServer.listen` take them). */
export interface NatsChannelOptions<T> {
  /** Default `msgpackCodec`. */
  codec?: Codec<T> | undefined;
  /**
   * Messages this end holds received and unread before the other end's `send` waits (credit-based flow control:
   * NATS itself has no backpressure). Default 64.
   */
  capacity?: number | undefined;
  /** Largest encoded message. Default 1 MiB, and never more than the server's `max_payload`. */
  maxMessageBytes?: number | undefined;
  /**
   * Each end tells the other it lives (and how much it read) this often, in ms; a peer silent for 5 intervals
   * is gone (`PeerGoneError`): a process that died, a machine that left, or a NATS outage longer than that.
   * Default 1000.
   */
  peerCheckInterval?: number | undefined;
  /**
   * How long, in ms, a graceful `close()` waits for the peer to make room for the sends still waiting (a peer that
   * does not read); then they reject with `ClosedError` and the channel closes. Default 2000.
   */
  lingerTimeout?: number | undefined;
}

/** Options of `NatsChannel.connect`: how to reach NATS, the channel's options, and `{ signal, timeout }` of the connect. */
export interface NatsChannelConnectOptions<T> extends NatsChannelOptions<T>, NatsConnectOptions {}

/** What one end tells the other when they meet (JSON in the request and its reply). */
export interface Hello {
  v: 1;
  /** The subject prefix this end receives on. */
  prefix?: string;
  /** Messages this end takes unread. */
  capacity?: number;
  /** How often this end pings, ms. */
  interval?: number;
  /** Why a server refused (`busy`, `closed`). */
  error?: string;
}

const DEFAULT_CAPACITY = 64;
const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_INTERVAL = 1000;
/** Intervals of silence after which the peer is gone. */
const SILENT_INTERVALS = 5;
/** How long `close` waits for the server to take the close marker. */
const CLOSE_FLUSH_MS = 2000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a hello for the wire. */
export function encodeHello(hello: Hello): Uint8Array {
  return encoder.encode(JSON.stringify(hello));
}

/** True for a hello that opens a channel: a prefix of ours, a capacity and an interval in their ranges. */
export function isOpeningHello(
  hello: Hello | undefined,
): hello is Hello & { prefix: string; capacity: number; interval: number } {
  return (
    typeof hello?.prefix === 'string' &&
    /^_IPCX\.[A-Za-z0-9]{1,64}$/.test(hello.prefix) &&
    Number.isInteger(hello.capacity) &&
    hello.capacity! >= 1 &&
    hello.capacity! <= 1_000_000 &&
    typeof hello.interval === 'number' &&
    hello.interval > 0 &&
    hello.interval <= 0x7fff_ffff
  );
}

/** Decodes a hello; undefined when it is not one. */
export function decodeHello(bytes: Uint8Array): Hello | undefined {
  try {
    const hello = JSON.parse(decoder.decode(bytes)) as Hello;
    return typeof hello === 'object' && hello !== null && hello.v === 1 ? hello : undefined;
  } catch {
    return undefined;
  }
}

/** The options of an end, checked. */
export interface ChannelSettings<T> {
  codec: Codec<T>;
  capacity: number;
  maxMessageBytes: number;
  interval: number;
  lingerMs: number;
}

/** Checks the channel options before anything is opened. */
export function channelSettings<T>(options: NatsChannelOptions<T> | undefined): ChannelSettings<T> {
  const codec = checkCodec(options?.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
  const capacity = checkInteger('capacity', options?.capacity, { min: 1, max: 1_000_000, default: DEFAULT_CAPACITY });
  const maxMessageBytes = checkInteger('maxMessageBytes', options?.maxMessageBytes, {
    min: 1,
    default: DEFAULT_MAX_MESSAGE_BYTES,
  });
  const interval = intervalOption('peerCheckInterval', options?.peerCheckInterval, DEFAULT_INTERVAL);
  const lingerMs = lingerOption(options?.lingerTimeout);
  return { codec, capacity, maxMessageBytes, interval, lingerMs };
}

/** A fresh subject prefix one end receives on. */
export function newPrefix(): string {
  return `_IPCX.${createInbox('')
    .replace(/^\./, '')
    .replace(/^_INBOX\./, '')}`;
}

/** The two ends' parameters, as agreed in the hello. */
export interface Link {
  /** The prefix this end receives on (already subscribed: `sub`). */
  prefix: string;
  sub: Subscription;
  /** The prefix the peer receives on. */
  peerPrefix: string;
  peerCapacity: number;
  peerInterval: number;
}

/**
 * One end of a channel over NATS: messages are published on the other end's subjects (`<prefix>.d`), in order
 * (NATS keeps the order of one connection's messages to one subscription). NATS has no backpressure and may drop
 * messages when a connection breaks, so each end tells the other, on `<prefix>.p.<sent>.<read>` every
 * `peerCheckInterval` and whenever it has read a quarter of its capacity, how many messages it sent and read:
 * a sender never has more than the reader's capacity unread, and a reader that learns that more were sent than
 * arrived ends the channel with `PeerGoneError` instead of losing them silently. `close` sends
 * `<prefix>.c.<sent>`.
 *
 * Made by `NatsChannel.connect` (the client side) and `NatsChannelServer` (the accepted side).
 *
 * @example
 * ```ts
 * await using channel = await NatsChannel.connect('jobs', { servers: 'nats://10.0.0.5:4222', timeout: 2000 });
 * await channel.send({ job: 1 });
 * console.log(await channel.receive({ timeout: 1000 }));
 * ```
 */
export class NatsChannel<T = unknown> extends AbstractChannel<T> {
  readonly #nc: NatsConnection;
  readonly #held: HeldConnection | undefined;
  readonly #settings: ChannelSettings<T>;
  readonly #link: Link;
  readonly #dataSubject: string;
  readonly #inbox = new Inbox<Uint8Array>();
  readonly #pending = new SendQueue<Uint8Array>();
  readonly #timer: NodeJS.Timeout;
  readonly #onClose: (() => void) | undefined;
  readonly #maxMessageBytes: number;
  /** `close` or `destroy` was called: every call fails with `ClosedError`. */
  #closed = false;
  /** The subscription, timer and connection were let go (after `close` drained the pending sends, or `destroy`). */
  #released = false;
  #closing: Promise<void> | undefined;
  /** Set when the channel ended without a local close: sends fail with it. */
  #ended: IpcError | undefined;
  #sent = 0;
  #peerRead = 0;
  #received = 0;
  #read = 0;
  #readTold = 0;
  #lastHeard = Date.now();
  #unwatchClosed: () => void = () => {};

  /** @internal Use `NatsChannel.connect` or `NatsChannelServer`. */
  constructor(
    nc: NatsConnection,
    held: HeldConnection | undefined,
    settings: ChannelSettings<T>,
    link: Link,
    onClose?: () => void,
  ) {
    super();
    this.#nc = nc;
    this.#held = held;
    this.#settings = settings;
    this.#link = link;
    this.#onClose = onClose;
    this.#dataSubject = `${link.peerPrefix}.d`;
    this.#maxMessageBytes = Math.min(settings.maxMessageBytes, nc.info?.max_payload ?? Infinity);
    const controlStart = link.prefix.length + 1;
    void (async () => {
      try {
        for await (const msg of link.sub) this.#onMessage(msg, controlStart);
      } catch (error) {
        this.#end(fromNatsError('NATS channel subscription', error));
      }
    })();
    this.#unwatchClosed = onConnectionClosed(nc, () =>
      this.#end(new PeerGoneError('NATS channel (its NATS connection closed)')),
    );
    this.#timer = setInterval(() => this.#tick(), settings.interval);
    this.#timer.unref();
  }

  /**
   * Connects to the `NatsChannelServer` that listens on `subject` (one of its queue group, chosen by NATS).
   * Fails with `NotFoundError` when no server listens, `FullError` when the server's backlog is full,
   * `TimeoutError`/`AbortedError` by the options (default timeout 5000 ms).
   */
  static async connect<T = unknown>(
    subject: string,
    options: NatsChannelConnectOptions<T> = {},
  ): Promise<NatsChannel<T>> {
    checkSubject(subject);
    checkConnectOptions(options);
    const settings = channelSettings(options);
    const what = `NATS channel to "${subject}"`;
    const started = Date.now();
    const held = await holdConnection(what, options);
    let sub: Subscription | undefined;
    try {
      const prefix = newPrefix();
      sub = held.nc.subscribe(`${prefix}.>`);
      const timeout = options.timeout ?? 5000;
      const limit = deadline(`${what}: connect`, {
        signal: options.signal,
        timeout: Math.max(1, timeout - (Date.now() - started)),
      })!;
      let reply: Msg;
      try {
        if (limit.signal.aborted) throw limit.error();
        const requesting = held.nc.request(
          subject,
          encodeHello({ v: 1, prefix, capacity: settings.capacity, interval: settings.interval }),
          {
            timeout: Math.max(1, Math.ceil(timeout - (Date.now() - started))),
          },
        );
        reply = await limit.race(requesting);
      } catch (error) {
        if (limit.signal.aborted) throw limit.error();
        throw fromNatsError(`${what}: connect`, error);
      } finally {
        limit.release();
      }
      const hello = decodeHello(reply.data);
      if (hello?.error === 'busy') throw new FullError(`${what}: the server's backlog`);
      if (hello?.error !== undefined) throw new ClosedError(`${what}: the server (${hello.error})`);
      if (!isOpeningHello(hello)) throw new BadFrameError(`${what}: the server's reply is not an ipcx hello`);
      return new NatsChannel<T>(held.nc, held, settings, {
        prefix,
        sub,
        peerPrefix: hello.prefix,
        peerCapacity: hello.capacity,
        peerInterval: hello.interval,
      });
    } catch (error) {
      sub?.unsubscribe();
      await releaseConnection(held);
      throw isIpcError(error) ? error : fromNatsError(`${what}: connect`, error);
    }
  }

  /**
   * True once `close` or `destroy` was called, or the channel ended (the peer closed or is gone) and every message
   * that arrived before was received.
   */
  get closed(): boolean {
    return this.#closed || (this.#ended !== undefined && this.#inbox.size === 0);
  }

  /** The NATS connection this channel uses. */
  get connection(): NatsConnection {
    return this.#nc;
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    const bytes = this.#encode(message);
    if (this.#pending.size === 0 && this.#hasRoom()) {
      this.#publish(bytes);
      return;
    }
    return this.#pending.enqueue(bytes, options, 'NATS channel send');
  }

  trySend(message: T): boolean {
    const bytes = this.#encode(message);
    if (this.#pending.size > 0 || !this.#hasRoom()) return false;
    this.#publish(bytes);
    return true;
  }

  async receive(options?: ReceiveOptions): Promise<T> {
    if (this.#closed) throw new ClosedError('NATS channel');
    const bytes = await this.#inbox.receive('NATS channel receive', options);
    return this.#decode(bytes);
  }

  tryReceive(): T | undefined {
    if (this.#closed) throw new ClosedError('NATS channel');
    const bytes = this.#inbox.shift();
    return bytes === undefined ? undefined : this.#decode(bytes);
  }

  /**
   * Closes this end gracefully: sends still waiting for room go out first (or fail with `PeerGoneError` if the peer
   * goes), for at most `lingerTimeout` ms (then they reject with `ClosedError`), then the peer is told. Never
   * hangs. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Closes this end now: sends still waiting for room reject (with `error`, else `ClosedError`). Idempotent. */
  destroy(error?: Error): void {
    if (this.#closing !== undefined && this.#released) return;
    this.#closed = true;
    this.#pending.rejectAll(error ?? new ClosedError('NATS channel'));
    this.#closing ??= this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#ended === undefined) {
      const ms = this.#settings.lingerMs;
      await this.#pending.drainedWithin(
        ms,
        () => new ClosedError(`NATS channel (the peer made no room within its lingerTimeout of ${ms} ms at close)`),
      );
    }
    this.#released = true;
    clearInterval(this.#timer);
    if (this.#ended === undefined && !this.#nc.isClosed()) {
      try {
        this.#nc.publish(`${this.#link.peerPrefix}.c.${this.#sent}`);
        // The marker must reach the server before a connection of our own closes; bounded for a server that is down.
        if (this.#held?.owned)
          await Promise.race([
            this.#nc.flush(),
            new Promise((resolve) => setTimeout(resolve, CLOSE_FLUSH_MS).unref()),
          ]).catch(() => {});
      } catch {
        // The connection is closing: the peer learns it from the silence.
      }
    }
    // Waiting calls end after the awaits above, so that a caller who awaits close() first still handles them in time.
    const closed = new ClosedError('NATS channel');
    this.#inbox.fail(closed);
    this.#pending.rejectAll(closed);
    this.#ended ??= closed;
    this.#unwatchClosed();
    this.#link.sub.unsubscribe();
    this.#onClose?.();
    await releaseConnection(this.#held);
  }

  #encode(message: T): Uint8Array {
    if (this.#closed) throw new ClosedError('NATS channel');
    if (this.#ended !== undefined) throw this.#sendError();
    const encoded = this.#settings.codec.encode(message);
    if (encoded.length > this.#maxMessageBytes)
      throw new TooLargeError('message', encoded.length, this.#maxMessageBytes);
    // The client holds the bytes until its next flush and the codec may reuse its buffer: keep a copy.
    return copyBytes(encoded);
  }

  #sendError(): IpcError {
    const ended = this.#ended!;
    return ended.code === 'IPCX_ERR_CLOSED'
      ? new PeerGoneError('NATS channel peer (it closed the channel)', { cause: ended })
      : ended;
  }

  #publish(bytes: Uint8Array): void {
    try {
      this.#nc.publish(this.#dataSubject, bytes);
    } catch (error) {
      throw fromNatsError('NATS channel send', error);
    }
    this.#sent++;
  }

  #hasRoom(): boolean {
    return this.#sent - this.#peerRead < this.#link.peerCapacity;
  }

  #decode(bytes: Uint8Array): T {
    this.#read++;
    if (this.#read - this.#readTold >= Math.max(1, this.#settings.capacity >> 2)) this.#ping();
    try {
      return this.#settings.codec.decode(bytes, false);
    } catch (error) {
      throw isIpcError(error) ? error : new BadFrameError('the codec could not decode a message', { cause: error });
    }
  }

  #ping(): void {
    if (this.#released || this.#ended !== undefined || this.#nc.isClosed()) return;
    this.#readTold = this.#read;
    try {
      this.#nc.publish(`${this.#link.peerPrefix}.p.${this.#sent}.${this.#read}`);
    } catch {
      // A closing connection; the end comes through nc.closed().
    }
  }

  #tick(): void {
    if (Date.now() - this.#lastHeard > SILENT_INTERVALS * Math.max(this.#settings.interval, this.#link.peerInterval)) {
      this.#end(
        new PeerGoneError(
          `NATS channel peer (not heard from in ${SILENT_INTERVALS} intervals of ${Math.max(this.#settings.interval, this.#link.peerInterval)} ms)`,
        ),
      );
      return;
    }
    this.#ping();
  }

  #onMessage(msg: Msg, controlStart: number): void {
    if (this.#released || this.#ended !== undefined) return;
    this.#lastHeard = Date.now();
    const subject = msg.subject;
    const kind = subject.charCodeAt(controlStart);
    if (kind === 100 /* d */) {
      this.#received++;
      if (this.#inbox.size >= this.#settings.capacity) {
        this.#end(
          new BadFrameError(
            `the peer sent more than the channel's capacity of ${this.#settings.capacity} unread messages`,
          ),
          true,
        );
        return;
      }
      this.#inbox.push(msg.data);
      return;
    }
    const counts = subject.slice(controlStart + 2).split('.');
    const sent = Number(counts[0]);
    if (kind === 112 /* p */) {
      const read = Number(counts[1]);
      if (read > this.#peerRead) {
        this.#peerRead = read;
        this.#flushPending();
      }
      if (sent > this.#received)
        this.#end(
          new PeerGoneError(
            `NATS channel: ${sent - this.#received} message(s) from the peer were lost by NATS (a broken connection)`,
          ),
        );
    } else if (kind === 99 /* c */) {
      if (sent > this.#received)
        this.#end(
          new PeerGoneError(
            `NATS channel: ${sent - this.#received} message(s) from the peer were lost by NATS (a broken connection)`,
          ),
        );
      else this.#end(new ClosedError('NATS channel (closed by the peer)'));
    }
  }

  #flushPending(): void {
    this.#pending.flush((bytes) => {
      if (!this.#hasRoom()) return false;
      this.#publish(bytes);
      return true;
    });
  }

  /** The channel ends without a local close: what arrived is still handed out (unless `drop`), then `error`. */
  #end(error: IpcError, drop = false): void {
    if (this.#released || this.#ended !== undefined) return;
    this.#ended = error;
    clearInterval(this.#timer);
    if (drop) this.#inbox.fail(error);
    else this.#inbox.end(error);
    this.#pending.rejectAll(this.#sendError());
    this.#unwatchClosed();
    this.#link.sub.unsubscribe();
  }
}
