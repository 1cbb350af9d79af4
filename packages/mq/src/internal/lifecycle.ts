import type { Settle } from '@ipcx/core';

/**
 * The close()/destroy() bookkeeping of every resource of this package (MessageQueue, TypedMessageQueue,
 * MqChannel, SysvMessageQueue, SysvChannel), written once: `close` is graceful and returns one promise however
 * often it is called, `destroy` releases at once (also in the middle of a close), and `release` runs once.
 */
export class Ending {
  #promise: Promise<void> | undefined;
  #released = false;

  /** True once close() or destroy() was called: every later call fails with ClosedError. */
  get called(): boolean {
    return this.#promise !== undefined;
  }

  /** Runs `drain` (what was accepted goes out), then `release`; the same promise on every call. */
  close(drain: () => Promise<void>, release: () => void | Promise<void>): Promise<void> {
    if (this.#promise !== undefined) return this.#promise;
    this.#promise = (async () => {
      try {
        await drain();
      } finally {
        await this.#release(release);
      }
    })();
    return this.#promise;
  }

  /** Releases now (a close under way finishes at once); idempotent. */
  destroy(release: () => void | Promise<void>): void {
    this.#promise ??= Promise.resolve();
    void this.#release(release);
  }

  async #release(release: () => void | Promise<void>): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await release();
  }
}

/** A call waiting for the queue: it resolves or rejects through `settle`. */
export interface Waiter<T> {
  readonly settle: Settle<T>;
}

/**
 * The receives and sends waiting on one queue (POSIX or System V), in call order, and the promises of the
 * sends, so that a graceful close can wait until each is in the kernel or has failed.
 */
export class Waits<R extends Waiter<any>, S extends Waiter<void>> {
  readonly receivers = new Set<R>();
  readonly senders = new Set<S>();
  readonly #sending = new Set<Promise<void>>();

  /** Registers a waiting send's promise (for `sendsSettled`) and returns it. */
  track(send: Promise<void>): Promise<void> {
    this.#sending.add(send);
    const done = (): void => void this.#sending.delete(send);
    send.then(done, done);
    return send;
  }

  /** Resolves once every send that waits now (and any queued behind it meanwhile) has settled. */
  async sendsSettled(): Promise<void> {
    while (this.#sending.size > 0) await Promise.allSettled([...this.#sending]);
  }

  /** Rejects every waiting receive with `error`. */
  failReceivers(error: unknown): void {
    for (const r of this.receivers) r.settle.reject(error);
    this.receivers.clear();
  }

  /** Rejects every waiting receive and send with `error`. */
  fail(error: unknown): void {
    this.failReceivers(error);
    for (const s of this.senders) s.settle.reject(error);
    this.senders.clear();
  }
}

/**
 * A bounded spin before sleeping, only while the queue is busy (the last call did not have to wait): a
 * wake-up through the event loop costs tens of microseconds, a retry one syscall. A spin that fails marks
 * the queue idle, so that waits go straight to sleep until a waiting call is served (`busy = true`).
 */
export class Spin {
  busy = false;
  /** The spin's bound in ms (performance.now() units); 0 never spins. */
  readonly ms: number;

  constructor(microseconds: number) {
    this.ms = microseconds / 1000;
  }

  /** Retries `attempt` until it returns a value other than undefined or the bound passes. */
  run<T>(attempt: () => T | undefined): T | undefined {
    if (this.ms === 0 || !this.busy) return undefined;
    const end = performance.now() + this.ms;
    do {
      const got = attempt();
      if (got !== undefined) return got;
    } while (performance.now() < end);
    this.busy = false;
    return undefined;
  }
}

/** Permission bits as people write them: 0600. */
export const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** Checks a `mode` option: permission bits from 0 to 0o777 (default 0o600). */
export function modeOption(mode: unknown): number {
  if (mode === undefined) return 0o600;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(`mode must be permission bits from 0 to 0o777, got ${String(mode)}`);
  }
  return mode;
}

/** Checks a `codec` option. */
export function checkCodec(codec: unknown): void {
  const c = codec as { encode?: unknown; decode?: unknown } | undefined;
  if (codec !== undefined && (typeof c?.encode !== 'function' || typeof c.decode !== 'function')) {
    throw new TypeError('codec must be a Codec (name, encode, encodeInto, decode)');
  }
}

/** Checks the boolean options of `keys` in `options`. */
export function checkBooleans(options: object, keys: readonly string[]): void {
  for (const key of keys) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${key} must be a boolean`);
  }
}

/** Checks a count or size option: an integer from 1 to 2^31 - 1. */
export function countOption(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 0x7fff_ffff) {
    throw new RangeError(`${name} must be an integer from 1 to ${0x7fff_ffff}, got ${String(value)}`);
  }
  return value;
}

/**
 * A channel's end-of-stream: an empty message. msgpack never encodes to zero bytes, so it cannot collide with a
 * message; with a raw codec, empty messages are refused on a channel (`encodeForChannel`).
 */
export const EOF = new Uint8Array(0);

/** Encodes a channel message; an empty one is refused, since it would mark the end. */
export function encodeForChannel<T>(codec: { encode(message: T): Uint8Array }, message: T, channel: string): Uint8Array {
  const bytes = codec.encode(message);
  if (bytes.length === 0) throw new TypeError(`an empty message cannot cross ${channel} (it marks the end)`);
  return bytes;
}

/**
 * Checks the other end while a send or receive waits (MqChannel, SysvChannel): `check` runs as the first wait
 * starts and then every `intervalMs` until the last one settles, so that a wait on a dead end fails with
 * PeerGoneError instead of lasting for ever. An idle end runs no timer.
 */
export class PeerMonitor {
  #waits = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly check: () => void,
    /** Run the first check in a microtask rather than at once (after the caller has registered its wait). */
    private readonly deferFirst = false,
  ) {}

  /** How many calls wait now. */
  get waits(): number {
    return this.#waits;
  }

  /** `wait`, with the other end checked while it lasts. */
  around<R>(wait: Promise<R>): Promise<R> {
    if (this.#waits++ === 0) {
      this.#timer = setInterval(this.check, this.intervalMs);
      this.#timer.unref();
      if (this.deferFirst) queueMicrotask(this.check);
      else this.check();
    }
    return wait.finally(() => {
      if (--this.#waits === 0) this.stop();
    });
  }

  /** Stops the timer (close, destroy). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
