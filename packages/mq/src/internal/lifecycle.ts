import { checkInteger, type Settle } from '@ipcx/core/transport';

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

/** A receive waiting for the queue: it resolves or rejects through `settle`. */
export interface Waiter<T> {
  readonly settle: Settle<T>;
}

/** The receives waiting on one queue (POSIX or System V), in call order; the sends wait in core's `SendQueue`. */
export class Waits<R extends Waiter<any>> extends Set<R> {
  /** Rejects every waiting receive with `error`. */
  fail(error: unknown): void {
    const waiting = [...this];
    this.clear();
    for (const r of waiting) r.settle.reject(error);
  }
}

/** Permission bits as people write them: 0600. */
export const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/** Checks a `mode` option: permission bits from 0 to 0o777 (default 0o600): no set-id or sticky bits on a queue. */
export function modeOption(mode: unknown): number {
  return checkInteger('mode', mode, { min: 0, max: 0o777, default: 0o600 });
}

/** Checks a count or size option: an integer from 1 to 2^31 - 1 (what the kernel's attributes hold). */
export function countOption(name: string, value: unknown): number | undefined {
  return checkInteger(name, value, { min: 1, max: 0x7fff_ffff });
}

/**
 * A channel's end-of-stream: an empty message. msgpack never encodes to zero bytes, so it cannot collide with a
 * message; with a raw codec, empty messages are refused on a channel (`encodeForChannel`).
 */
export const EOF = new Uint8Array(0);

/** Encodes a channel message; an empty one is refused, since it would mark the end. */
export function encodeForChannel<T>(
  codec: { encode(message: T): Uint8Array },
  message: T,
  channel: string,
): Uint8Array {
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
