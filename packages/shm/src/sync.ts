import { ClosedError, IncompatibleError, UnsupportedError } from '@ipcx/core';
import { CACHE_LINE, HEADER_BYTES, Header, Kind, Wake, checkHeader, initHeader } from './layout.js';
import { atomicsWaker, futexWaker, loadNative, type Waker } from './internal/waker.js';
import { type ParkCore, closingController } from './internal/park.js';
import { type Segment, createSegment, openSegment, unlinkSegment } from './segment.js';
import { checkMode } from './internal/options.js';

/**
 * What the sync primitives share: where their words live, how they sleep, guards, handles, named
 * segments and `close`.
 *
 * A primitive is a few Int32 words at a 4-byte aligned `byteOffset` of a `SharedArrayBuffer`. All-zero
 * words are a valid fresh state of every primitive (an unlocked mutex, a semaphore with no permits, an
 * empty barrier or latch that its first constructor sizes), so caller memory needs no init step
 * beyond being zeroed, and every thread may construct over it in any order.
 *
 * A named primitive lives alone in a small segment: the 64-byte header of layout.ts (KIND = Locks,
 * SIZE = which primitive (`SyncKind`), PID_A = the creator, WAKE = futex), then its words at byte 64.
 */
export type SyncKindName = 'mutex' | 'semaphore' | 'condvar' | 'barrier' | 'rwlock' | 'latch';

const TAGS: Record<SyncKindName, number> = { mutex: 1, semaphore: 2, condvar: 3, barrier: 4, rwlock: 5, latch: 6 };

/** Bytes of a named primitive's segment: the header and one cache line of words. */
const NAMED_BYTES = HEADER_BYTES + CACHE_LINE;

/** What a worker thread needs to use a primitive: send it with `postMessage`, rebuild it with `from`. */
export interface SyncHandle {
  readonly kind: SyncKindName;
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
}

/** Options of `create` and `open` (all named primitives). */
export interface NamedSyncOptions {
  /**
   * `create`: permissions of the new segment. `open`: the widest permissions accepted on the
   * segment found (wider is `PermissionError`). Default 0o600 (owner only).
   */
  mode?: number;
}

/**
 * A held lock, permit or the like. Release it exactly once, in `finally` or with `using`:
 * `release` is idempotent, so a `using` guard may also be released early by hand.
 *
 * @example
 * ```ts
 * await using guard = await mutex.lock({ timeout: 1000 });
 * // ... critical section; released when the block ends, also on throw
 * ```
 */
export interface Guard extends Disposable, AsyncDisposable {
  /** Gives the lock (or permit) back; a second call does nothing. */
  release(): void;
  /** True once released. */
  readonly released: boolean;
}

/** The one guard implementation: runs `unlock` once. */
export class GuardImpl implements Guard {
  #unlock: (() => void) | undefined;

  constructor(unlock: () => void) {
    this.#unlock = unlock;
  }

  get released(): boolean {
    return this.#unlock === undefined;
  }

  release(): void {
    const unlock = this.#unlock;
    if (unlock === undefined) return;
    this.#unlock = undefined;
    unlock();
  }

  /** @internal Marks the guard released without unlocking: the lock is not (or no longer) this guard's. */
  abandon(): void {
    this.#unlock = undefined;
  }

  [Symbol.dispose](): void {
    this.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

/** The state a primitive hands to the wait loop (internal/park.ts). */
export class SyncCore implements ParkCore {
  readonly i32: Int32Array;
  waker: Waker = atomicsWaker;
  sliceMs = Number.POSITIVE_INFINITY;
  closed = false;
  /** What pending and later waits fail with once closed: `destroy(error)`'s error, else a `ClosedError`. */
  closedError: Error | undefined;
  what: string;
  name: string | undefined;
  segment: Segment | undefined;
  /** Without a `segment`: unlink `name` on close. */
  unlinkOnClose = false;

  constructor(
    readonly kind: SyncKindName,
    readonly buffer: SharedArrayBuffer,
    readonly byteOffset: number,
    words: number,
  ) {
    if (!(buffer instanceof SharedArrayBuffer)) throw new TypeError(`a ${kind} lives in a SharedArrayBuffer`);
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
      throw new RangeError(`byteOffset must be a non-negative multiple of 4, got ${byteOffset}`);
    }
    if (byteOffset + words * 4 > buffer.byteLength) {
      throw new RangeError(
        `a ${kind} needs ${words * 4} bytes at offset ${byteOffset}; the buffer has ${buffer.byteLength}`,
      );
    }
    this.i32 = new Int32Array(buffer, byteOffset, words);
    this.what = kind;
  }

  /** Throws `ClosedError` (or `destroy`'s error) once the object is closed. */
  checkOpen(): void {
    if (this.closed) throw this.closedError ?? new ClosedError(this.what);
  }

  readonly #closing = closingController();
  readonly closing: AbortSignal = this.#closing.signal;

  /** Marks the object closed and ends its pending waits (they see it closed). */
  close(error: Error | undefined): void {
    this.closed = true;
    this.closedError = error;
    this.#closing.abort();
  }
}

/**
 * Base of the six shared-memory primitives: `handle()`, `closed`, `close`, `destroy`, `unlink`,
 * `Symbol.asyncDispose`. Subclasses keep their words in `core.i32`.
 */
export abstract class SyncObject implements AsyncDisposable {
  /** @internal */
  protected readonly core: SyncCore;

  protected constructor(kind: SyncKindName, buffer: SharedArrayBuffer, byteOffset: number, words: number) {
    this.core = new SyncCore(kind, buffer, byteOffset, words);
  }

  /** Removes a named primitive's segment by name (one left by a crashed creator); true if it was there. */
  static unlink(name: string): Promise<boolean> {
    return unlinkSegment(name);
  }

  /**
   * What `from` needs in another thread of this process (send it with `postMessage`); both threads keep
   * using the object. A named primitive has none: open it by name there.
   */
  handle(): SyncHandle {
    const core = this.core;
    if (core.name !== undefined) throw new UnsupportedError(`a handle of a named ${core.kind}; open it by name`);
    return { kind: core.kind, buffer: core.buffer, byteOffset: core.byteOffset };
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.core.closed;
  }

  /**
   * Stops using this object: its pending waits (in this thread) reject with `ClosedError`, later calls
   * throw it. The creator of a named primitive also unlinks the name (processes that opened it keep
   * working; new ones cannot open it). Locks held through it are not released. Idempotent.
   */
  async close(): Promise<void> {
    this.destroy();
  }

  /**
   * `close`, now: a primitive has nothing to flush, so the two differ only in what pending waits (in this
   * thread) reject with: `error`, else `ClosedError`. Idempotent.
   */
  destroy(error?: Error): void {
    const core = this.core;
    if (core.closed) return;
    core.close(error);
    // The creator's segment unlinks its name (if it still names it); every user drops its kernel locks.
    if (core.segment !== undefined) core.segment.close();
    else if (core.unlinkOnClose && core.name !== undefined) void unlinkSegment(core.name).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Switches a freshly constructed object over to a named segment's futex waker. @internal */
  protected bindNamed(named: NamedMemory, unlinkOnClose: boolean, sliceMs = Number.POSITIVE_INFINITY): this {
    const core = this.core;
    core.waker = named.waker;
    core.name = named.name;
    core.what = `${core.kind} "${named.name}"`;
    core.segment = named.segment;
    core.unlinkOnClose = unlinkOnClose;
    core.sliceMs = sliceMs;
    return this;
  }
}

/** Checks a handle for `from`. */
export function checkHandle(handle: SyncHandle, kind: SyncKindName): void {
  if (!(handle?.buffer instanceof SharedArrayBuffer) || typeof handle.byteOffset !== 'number') {
    throw new TypeError(`from takes the \`handle\` of a ${kind}`);
  }
  if (handle.kind !== kind)
    throw new IncompatibleError(`the handle`, `it is a ${String(handle.kind)}'s, expected a ${kind}'s`);
}

/** A named primitive's mapped segment. */
export interface NamedMemory {
  readonly name: string;
  readonly buffer: SharedArrayBuffer;
  /** Byte offset of the primitive's words. */
  readonly byteOffset: number;
  readonly waker: Waker;
  /** The mapped segment: its descriptor carries this user's kernel locks. */
  readonly segment?: Segment;
}

/**
 * Creates the segment of a named primitive (a stale one whose creator died is replaced, a live one is
 * `AlreadyExistsError`). `init` writes the primitive's initial words before the header is published.
 */
export async function createNamedMemory(
  name: string,
  kind: SyncKindName,
  options: NamedSyncOptions | undefined,
  init?: (i32: Int32Array) => void,
): Promise<NamedMemory> {
  const mode = checkMode(options?.mode);
  const native = await loadNative();
  // A segment whose creator died but that others still use is adopted, not replaced: replacing it would
  // give the survivors and the newcomers two different lock words (a split lock).
  const { segment } = await createSegment(
    name,
    NAMED_BYTES,
    mode,
    (buffer) => {
      init?.(new Int32Array(buffer, HEADER_BYTES, CACHE_LINE / 4));
      const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
      Atomics.store(header, Header.PidA, process.pid);
      // initHeader writes MAGIC last: whoever sees it also sees the initial words.
      initHeader(header, Kind.Locks, TAGS[kind], Wake.Futex);
    },
    'adopt-if-used',
    (buffer) => checkNamedMemory(buffer, kind, `${kind} "${name}"`),
  );
  return { name: segment.name, buffer: segment.buffer, byteOffset: HEADER_BYTES, waker: futexWaker(native), segment };
}

function checkNamedMemory(buffer: SharedArrayBuffer, kind: SyncKindName, what: string): void {
  if (buffer.byteLength < NAMED_BYTES) throw new IncompatibleError(what, `the segment has ${buffer.byteLength} bytes`);
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  checkHeader(header, Kind.Locks, what);
  const tag = Atomics.load(header, Header.Size);
  if (tag !== TAGS[kind]) {
    const found = Object.entries(TAGS).find(([, t]) => t === tag)?.[0] ?? `kind ${tag}`;
    throw new IncompatibleError(what, `it holds a ${found}`);
  }
}

/** Maps the segment of a named primitive that another process created, checking what it holds. */
export async function openNamedMemory(
  name: string,
  kind: SyncKindName,
  options?: NamedSyncOptions,
): Promise<NamedMemory> {
  const mode = checkMode(options?.mode);
  const native = await loadNative();
  const segment = await openSegment(name, kind, HEADER_BYTES, mode);
  try {
    checkNamedMemory(segment.buffer, kind, `${kind} "${segment.name}"`);
  } catch (error) {
    segment.close();
    throw error;
  }
  return { name: segment.name, buffer: segment.buffer, byteOffset: HEADER_BYTES, waker: futexWaker(native), segment };
}
