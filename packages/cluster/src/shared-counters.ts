import { AlreadyExistsError, ClosedError, IncompatibleError } from '@ipcx/core';
import { fromSystemError, registerKernelObject, type KernelObjectRegistration } from '@ipcx/core/transport';
import { isErrnoError, shm } from '@ipcx/native';
import { checkShmName } from '@ipcx/shm';

/**
 * Layout of a counters segment. Int32 header words: magic, kind, version, counter count, bytes of the
 * names (UTF-8 JSON from byte 64), creator pid. Each counter is a BigInt64 on its own 64-byte line (so
 * workers bumping different counters do not fight over a cache line), after the names.
 */
const MAGIC = 0x49504358; // "IPCX"
const KIND = 0x434e5452; // "CNTR"
const VERSION = 1;
const NAMES_AT = 64;
const LINE = 64;
const MAX_COUNTERS = 4096;

/** Options of `SharedCounters.create`. */
export interface SharedCountersOptions<Name extends string = string> {
  /** The counters' names, in order; at most 4096. */
  counters: readonly Name[];
  /** Permissions of the segment. Default 0o600 (owner only). */
  mode?: number;
}

/**
 * Counters and limits shared by every thread and process of a cluster: 64-bit integers in a named
 * shared-memory segment, changed with `Atomics` (no lock, no message). The primary creates it; every
 * worker opens it by name. Values are JavaScript numbers (safe integers).
 *
 * @example
 * ```ts
 * const counters = await SharedCounters.create('/my-app-counters', { counters: ['requests', 'inflight'] });
 * // in each worker: const counters = await SharedCounters.open('/my-app-counters');
 * counters.add('requests');
 * if (!counters.addIfBelow('inflight', 1, 100)) return res.writeHead(503).end(); // a cluster-wide limit
 * ```
 */
export class SharedCounters<Name extends string = string> implements Disposable, AsyncDisposable {
  readonly name: string;
  readonly #values: BigInt64Array;
  readonly #index: Map<string, number>;
  readonly #names: readonly Name[];
  readonly #registration: KernelObjectRegistration | undefined;
  #closed = false;

  private constructor(
    name: string,
    buffer: SharedArrayBuffer,
    names: readonly Name[],
    registration?: KernelObjectRegistration,
  ) {
    this.name = name;
    this.#names = names;
    this.#index = new Map(names.map((n, i) => [n, i]));
    this.#values = new BigInt64Array(buffer, valuesAt(Atomics.load(new Int32Array(buffer, 0, 16), 4)));
    this.#registration = registration;
  }

  /**
   * Creates the segment with every counter at 0; this process owns it and unlinks it on `close`. A
   * segment of the same name whose creator is dead is replaced; a live one's is `AlreadyExistsError`.
   */
  static async create<Name extends string>(
    name: string,
    options: SharedCountersOptions<Name>,
  ): Promise<SharedCounters<Name>> {
    const full = checkShmName(name);
    const counters = options?.counters;
    if (!Array.isArray(counters) || counters.length === 0 || counters.length > MAX_COUNTERS) {
      throw new TypeError(`counters must be an array of 1 to ${MAX_COUNTERS} names`);
    }
    if (counters.some((c) => typeof c !== 'string' || c.length === 0) || new Set(counters).size !== counters.length) {
      throw new TypeError('counter names must be distinct, non-empty strings');
    }
    const names = Buffer.from(JSON.stringify(counters));
    const size = valuesAt(names.length) + counters.length * LINE;
    for (let attempt = 0; ; attempt++) {
      let segment;
      try {
        segment = shm.open(full, { create: true, exclusive: true, size, mode: options.mode ?? 0o600 });
      } catch (error) {
        if (!isErrnoError(error, 'EEXIST') || attempt > 0) {
          throw isErrnoError(error, 'EEXIST')
            ? new AlreadyExistsError(`shared counters "${full}"`)
            : fromSystemError(`shared counters "${full}" create`, error);
        }
        if (creatorLives(full)) throw new AlreadyExistsError(`shared counters "${full}" (its creator lives)`);
        try {
          shm.unlink(full);
        } catch {
          // Someone else removed it.
        }
        continue;
      }
      const header = new Int32Array(segment.buffer, 0, 16);
      new Uint8Array(segment.buffer, NAMES_AT, names.length).set(names);
      header[1] = KIND;
      header[2] = VERSION;
      header[3] = counters.length;
      header[4] = names.length;
      header[5] = process.pid;
      Atomics.store(header, 0, MAGIC);
      const registration = registerKernelObject({
        kind: 'shm',
        name: full,
        owner: '@ipcx/cluster',
        unlink: () => unlinkQuietly(full),
      });
      return new SharedCounters<Name>(full, segment.buffer, counters, registration);
    }
  }

  /** Opens counters another process (or thread) created. */
  static async open<Name extends string = string>(name: string): Promise<SharedCounters<Name>> {
    const full = checkShmName(name);
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(full, { create: false }).buffer;
    } catch (error) {
      throw fromSystemError(`shared counters "${full}" open`, error);
    }
    const header = new Int32Array(buffer, 0, Math.min(16, buffer.byteLength >> 2));
    if (header.length < 16 || Atomics.load(header, 0) !== MAGIC || header[1] !== KIND || header[2] !== VERSION) {
      throw new IncompatibleError(`shared counters "${full}"`, 'not a counters segment of this version');
    }
    const names = JSON.parse(Buffer.from(buffer, NAMES_AT, header[4]!).toString()) as Name[];
    if (buffer.byteLength < valuesAt(header[4]!) + names.length * LINE)
      throw new IncompatibleError(`shared counters "${full}"`, 'segment too small');
    return new SharedCounters<Name>(full, buffer, names);
  }

  /** The counters' names. */
  get names(): readonly Name[] {
    return this.#names;
  }

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Adds `delta` (default 1, may be negative) and returns the new value. */
  add(name: Name, delta = 1): number {
    const i = this.#at(name);
    const d = toBig(delta, 'delta');
    return Number(Atomics.add(this.#values, i, d) + d);
  }

  /** The current value. */
  get(name: Name): number {
    return Number(Atomics.load(this.#values, this.#at(name)));
  }

  /** Sets the value; returns the one it replaced. */
  set(name: Name, value: number): number {
    return Number(Atomics.exchange(this.#values, this.#at(name), toBig(value, 'value')));
  }

  /** Sets `replacement` if the value is `expected`; returns the value found (equal to `expected` on success). */
  compareExchange(name: Name, expected: number, replacement: number): number {
    return Number(
      Atomics.compareExchange(
        this.#values,
        this.#at(name),
        toBig(expected, 'expected'),
        toBig(replacement, 'replacement'),
      ),
    );
  }

  /**
   * A limit: adds `delta` only if the result stays at or below `limit`; true if it did. With
   * `add(name, -delta)` when done, a cluster-wide cap on work in flight.
   */
  addIfBelow(name: Name, delta: number, limit: number): boolean {
    const i = this.#at(name);
    const d = toBig(delta, 'delta');
    const max = toBig(limit, 'limit');
    for (;;) {
      const current = Atomics.load(this.#values, i);
      if (current + d > max) return false;
      if (Atomics.compareExchange(this.#values, i, current, current + d) === current) return true;
    }
  }

  /** Every counter's value. */
  snapshot(): Record<Name, number> {
    const out = {} as Record<Name, number>;
    for (const name of this.#names) out[name] = this.get(name);
    return out;
  }

  /** Stops using the counters; the creator also unlinks the segment (mappings elsewhere stay valid). Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#registration !== undefined) {
      this.#registration.unregister();
      unlinkQuietly(this.name);
    }
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #at(name: Name): number {
    if (this.#closed) throw new ClosedError('shared counters');
    const i = this.#index.get(name);
    if (i === undefined)
      throw new TypeError(`no counter named ${JSON.stringify(name)} (have ${this.#names.join(', ')})`);
    return i * (LINE / 8);
  }
}

function valuesAt(namesBytes: number): number {
  return Math.ceil((NAMES_AT + namesBytes) / LINE) * LINE;
}

function toBig(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what} must be a safe integer, got ${String(value)}`);
  return BigInt(value);
}

function creatorLives(name: string): boolean {
  try {
    const header = new Int32Array(shm.open(name, { create: false }).buffer, 0, 16);
    const pid = Atomics.load(header, 0) === MAGIC ? header[5]! : 0;
    if (pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isErrnoError(error, 'EPERM');
  }
}

function unlinkQuietly(name: string): void {
  try {
    shm.unlink(name);
  } catch {
    // Already gone.
  }
}
