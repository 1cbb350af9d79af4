import {
  BadFrameError,
  ClosedError,
  IncompatibleError,
  PeerGoneError,
  TimeoutError,
  TooLargeError,
  UnsupportedError,
  msgpackCodec,
  type Codec,
  type WaitOptions,
} from '@ipcx/core';
import { type LinkedSignal, checkWaitOptions, deadline, intervalOption } from '@ipcx/core/transport';
import { checkCodec, checkInteger } from '@ipcx/core/transport';
import {
  HEADER_BYTES,
  Header,
  Kind,
  STATE_DATA,
  STATE_LENGTH,
  STATE_SEQ,
  STATE_WAITERS,
  STATE_WAKE,
  SideState,
  Wake,
  checkHeader,
  initHeader,
  readStateCodec,
  storedSize,
  writeStateCodec,
} from './layout.js';
import { checkMode, handleCodec } from './internal/options.js';
import { cancelWait, checkBlockingAllowed, closingController } from './internal/park.js';
import { atomicsWaker, futexWaker, loadNative, type Waker } from './internal/waker.js';
import { markOnThreadExit, releaseExit, type ExitHolder } from './internal/exit.js';
import { LOCK_SIDE_A, type Segment, createSegment, openSegment, unlinkSegment } from './segment.js';

/** Options of `new SharedState` (and of `create`, `createIn`). */
export interface SharedStateOptions<T> {
  /** Largest encoded value in bytes. Default 64 KiB. */
  maxValueBytes?: number;
  /** Default `msgpackCodec`; readers get it from the state (a custom one they must pass again). */
  codec?: Codec<T>;
  /** The value readers see before the first `set`. */
  initial?: T;
}

/** Options of `SharedState.create` (a named state, for readers in other processes). */
export interface NamedSharedStateOptions<T> extends SharedStateOptions<T> {
  /** Permissions of the segment. Default 0o600. */
  mode?: number;
}

/** Options of `SharedState.open` / `from` / `openIn` (a reader). */
export interface SharedStateReaderOptions<T> {
  /**
   * The writer's codec, recorded in the state: built-in codecs are found by name and need not be passed; a
   * custom one must be. A codec of another name than the writer's is `IncompatibleError`.
   */
  codec?: Codec<T>;
  /**
   * How often (ms) a reader waiting in `changed` checks that the writer lives (a process: the kernel lock
   * it holds; a worker thread: the word its exit hook sets). Default 500.
   */
  peerCheckInterval?: number;
  /** `open`: the widest permissions accepted on the segment found (wider is `PermissionError`). Default 0o600. */
  mode?: number;
}

/** A consistent snapshot: the value and the version it had. */
export interface Snapshot<T> {
  readonly value: T;
  /** Counts writes: 0 before the first, then 1, 2, ... */
  readonly version: number;
}

/** What `SharedState.from` needs in a worker thread (from `handle()`). */
export interface SharedStateHandle {
  readonly buffer: SharedArrayBuffer;
}

// x86-64 keeps loads in order (TSO), so the plain reads of the value cannot pass the second
// Atomics.load of the sequence. Elsewhere an atomic read-modify-write orders them.
const ORDERED_LOADS = process.arch === 'x64' || process.arch === 'ia32';
/**
 * A live writer keeps the sequence odd only for one copy; a `get` that sees it odd for this long stops
 * retrying (TimeoutError) rather than block the thread: a writer stopped mid-write (SIGSTOP, a debugger).
 * A dead one is noticed sooner, through its kernel lock or its thread's exit hook.
 */
const GET_SPIN_LIMIT_MS = 1000;

/**
 * One writer, many readers: the writer encodes a value into shared memory under a sequence lock; a
 * reader takes a consistent snapshot without a lock (it retries if a write overlapped its read) and
 * can wait for the next version. Works between worker threads (`new SharedState`, `handle()`, `from`) and,
 * named, between processes (`create`, `open`).
 *
 * @example
 * ```ts
 * const state = await SharedState.create<{ users: number }>('/app-stats', { initial: { users: 0 } });
 * state.set({ users: 42 });
 * // another process:
 * const stats = await SharedState.open<{ users: number }>('/app-stats');
 * const { value, version } = stats.get();
 * await stats.changed(version, { timeout: 5000 });
 * ```
 */
export class SharedState<T = unknown> implements AsyncDisposable {
  readonly #buffer: SharedArrayBuffer;
  readonly #control: Int32Array;
  readonly #data: Uint8Array;
  readonly #capacity: number;
  readonly #codec: Codec<T>;
  readonly #waker: Waker;
  readonly #writer: boolean;
  readonly #segment: Segment | undefined;
  readonly #checkMs: number;
  #exit: ExitHolder | undefined;
  #closed = false;
  /** Aborted by `destroy`: ends this object's pending `changed` sleeps. */
  readonly #closing = closingController();

  /** A new state for the threads of this process; returns its (only) writer. Readers: `SharedState.from(state.handle())`. */
  constructor(options?: SharedStateOptions<T>);
  constructor(options: SharedStateOptions<T> | Parts<T> = {}, parts?: Parts<T>) {
    if (parts === undefined) {
      const checked = checkWriterOptions(options as SharedStateOptions<T>);
      const buffer = new SharedArrayBuffer(checked.bytes);
      checked.init(buffer, Wake.Atomics);
      parts = { buffer, writer: true, waker: atomicsWaker, codec: checked.codec, checkMs: Number.POSITIVE_INFINITY };
    }
    const { buffer, writer, waker, codec, checkMs, segment } = parts;
    this.#buffer = buffer;
    if (buffer.byteLength < STATE_DATA)
      throw new IncompatibleError(
        'shared state',
        `its memory has ${buffer.byteLength} bytes, at least ${STATE_DATA} expected`,
      );
    this.#control = new Int32Array(buffer, 0, STATE_DATA / 4);
    checkHeader(this.#control, Kind.State, 'shared state');
    this.#capacity = storedSize(this.#control, buffer, 'shared state', false, (size) => STATE_DATA + size);
    this.#data = new Uint8Array(buffer, STATE_DATA, this.#capacity);
    this.#writer = writer;
    this.#waker = waker;
    this.#codec = codec;
    this.#checkMs = checkMs;
    this.#segment = segment;
    if (writer) {
      // A writer thread that ends without close (mid-`set` included) marks the state's writer DEAD.
      Atomics.store(this.#control, Header.StateA, SideState.Open);
      if (segment !== undefined) segment.markOnThreadExit(this.#control, Header.StateA, SideState.Dead);
      else this.#exit = markOnThreadExit(this, this.#control, Header.StateA, SideState.Dead);
    }
    if (writer && 'initial' in options) this.set((options as SharedStateOptions<T>).initial as T);
  }

  /**
   * Creates a named state and returns its (only) writer; other processes `SharedState.open(name)`. This
   * process owns the name: close unlinks it. A live state of that name is `AlreadyExistsError`.
   */
  static async create<T = unknown>(name: string, options: NamedSharedStateOptions<T> = {}): Promise<SharedState<T>> {
    const checked = checkWriterOptions(options);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const { segment } = await createSegment(name, checked.bytes, mode, (buffer) => checked.init(buffer, Wake.Futex));
    return build(options, {
      buffer: segment.buffer,
      writer: true,
      waker: futexWaker(native),
      codec: checked.codec,
      checkMs: Number.POSITIVE_INFINITY,
      segment,
    });
  }

  /** A reader in a worker thread, from the writer's `handle()`; the writer's codec comes with the state. */
  static from<T = unknown>(handle: SharedStateHandle, options: SharedStateReaderOptions<T> = {}): SharedState<T> {
    if (!(handle?.buffer instanceof SharedArrayBuffer))
      throw new IncompatibleError('the handle', "from takes what a SharedState's handle() returned");
    const checkMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    if (handle.buffer.byteLength < STATE_DATA)
      throw new IncompatibleError(
        'shared state',
        `its memory has ${handle.buffer.byteLength} bytes, at least ${STATE_DATA} expected`,
      );
    const header = new Int32Array(handle.buffer, 0, HEADER_BYTES / 4);
    checkHeader(header, Kind.State, 'shared state');
    if (Atomics.load(header, Header.Wake) !== Wake.Atomics)
      throw new UnsupportedError('rebuilding a named state from a handle; use SharedState.open');
    return build(options, {
      buffer: handle.buffer,
      writer: false,
      waker: atomicsWaker,
      codec: readerCodec(handle.buffer, options),
      checkMs,
    });
  }

  /** A reader of a named state that another process created (`NotFoundError` when there is none). */
  static async open<T = unknown>(name: string, options: SharedStateReaderOptions<T> = {}): Promise<SharedState<T>> {
    const checkMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const segment = await openSegment(name, 'shared state', STATE_DATA, mode);
    try {
      checkHeader(new Int32Array(segment.buffer, 0, HEADER_BYTES / 4), Kind.State, `shared state "${segment.name}"`);
      return build(options, {
        buffer: segment.buffer,
        writer: false,
        waker: futexWaker(native),
        codec: readerCodec(segment.buffer, options),
        checkMs,
        segment,
      });
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /** Removes a named state's segment (one left by a crashed writer); true if it was there. */
  static unlink(name: string): Promise<boolean> {
    return unlinkSegment(name);
  }

  /**
   * Creates a state, and returns its writer, in shared memory the caller mapped, such as a `SysvSegment`'s
   * `buffer` (the first `192 + maxValueBytes` bytes, rounded up to 4, are used). Readers in other processes call
   * `openIn` on their own mapping. The caller owns the memory: close does not remove it.
   */
  static async createIn<T = unknown>(
    buffer: SharedArrayBuffer,
    options: SharedStateOptions<T> = {},
  ): Promise<SharedState<T>> {
    const checked = checkWriterOptions(options);
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < checked.bytes) {
      throw new RangeError(
        `a state of maxValueBytes ${checked.maxValueBytes} needs a SharedArrayBuffer of at least ${checked.bytes} bytes`,
      );
    }
    const native = await loadNative();
    checked.init(buffer, Wake.Futex);
    return build(options, {
      buffer,
      writer: true,
      waker: futexWaker(native),
      codec: checked.codec,
      checkMs: Number.POSITIVE_INFINITY,
    });
  }

  /** A reader of a state that another process made with `createIn` in the same memory. */
  static async openIn<T = unknown>(
    buffer: SharedArrayBuffer,
    options: SharedStateReaderOptions<T> = {},
  ): Promise<SharedState<T>> {
    if (!(buffer instanceof SharedArrayBuffer))
      throw new TypeError('openIn takes the SharedArrayBuffer the state was created in');
    const checkMs = intervalOption('peerCheckInterval', options.peerCheckInterval, 500);
    const native = await loadNative();
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    checkHeader(header, Kind.State, 'shared state');
    if (Atomics.load(header, Header.Wake) !== Wake.Futex)
      throw new UnsupportedError('a state made for threads; use from');
    return build(options, {
      buffer,
      writer: false,
      waker: futexWaker(native),
      codec: readerCodec(buffer, options),
      checkMs,
    });
  }

  /** What a worker needs to make a reader (`SharedState.from`; threads only); this object keeps working. */
  handle(): SharedStateHandle {
    if (this.#waker.kind !== 'atomics') throw new UnsupportedError('a handle of a named state; open it by name');
    return { buffer: this.#buffer };
  }

  /** The number of writes so far. */
  get version(): number {
    return Atomics.load(this.#control, STATE_SEQ) >>> 1;
  }

  /** The largest encoded value, in bytes. */
  get maxValueBytes(): number {
    return this.#capacity;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Publishes a new value (writer only). Readers never see a half-written value.
   * @throws TooLargeError when the encoding exceeds the capacity.
   */
  set(value: T): number {
    if (this.#closed) throw new ClosedError('shared state');
    if (!this.#writer) throw new UnsupportedError('set on a reader (a SharedState has one writer)');
    const bytes = this.#codec.encode(value);
    if (bytes.length > this.#capacity) throw new TooLargeError('state value', bytes.length, this.#capacity);
    const control = this.#control;
    const seq = Atomics.load(control, STATE_SEQ);
    // Odd: a write is in progress; readers that overlap it will retry.
    Atomics.store(control, STATE_SEQ, seq + 1);
    this.#data.set(bytes);
    Atomics.store(control, STATE_LENGTH, bytes.length);
    Atomics.store(control, STATE_SEQ, seq + 2);
    this.#wakeReaders();
    return (seq + 2) >>> 1;
  }

  /**
   * Wakes the readers sleeping in `changed`, here or in other processes: bumps STATE_WAKE, which they sleep
   * on, then notifies it. A reader counts itself waiting before it reads STATE_WAKE and then looks at the
   * version and the writer's state, so whatever it did not see yet bumps the word it sleeps on. (Readers
   * slept on STATE_SEQ, which a close does not change: a close between a reader's look and its sleep was
   * missed until its next check.)
   */
  #wakeReaders(): void {
    const control = this.#control;
    if (Atomics.load(control, STATE_WAITERS) === 0) return;
    Atomics.add(control, STATE_WAKE, 1);
    this.#waker.notify(control, STATE_WAKE);
  }

  /** Reads the current value, passes it to `fn` and publishes the result (writer only). */
  update(fn: (value: T | undefined) => T): number {
    return this.set(fn(this.version === 0 ? undefined : this.get().value));
  }

  /**
   * A consistent snapshot, without a lock: if a write overlaps the read, the read is retried.
   * Before the first write the value is undefined.
   */
  get(): Snapshot<T> {
    if (this.#closed) throw new ClosedError('shared state');
    const control = this.#control;
    let since = 0;
    let stuckSeq = -1;
    for (let attempt = 1; ; attempt++) {
      // Now and then, ask whether retrying can still succeed: a writer killed between its two
      // sequence stores leaves the sequence odd for ever, a corrupt length never fits. Bounded either way.
      const stuck = (attempt & 1023) === 0;
      const before = Atomics.load(control, STATE_SEQ);
      if ((before & 1) === 1) {
        if (stuck) {
          this.#checkWriterAlive();
          // Only one write that never ends counts, not a busy writer making many.
          const now = performance.now();
          if (before !== stuckSeq) {
            stuckSeq = before;
            since = now;
          } else if (now - since > GET_SPIN_LIMIT_MS) {
            throw new TimeoutError('get (the writer stays in the middle of one write)', GET_SPIN_LIMIT_MS);
          }
        }
        continue;
      }
      if (before === 0) return { value: undefined as T, version: 0 };
      const length = Atomics.load(control, STATE_LENGTH);
      if (length > this.#capacity) {
        if (stuck && Atomics.load(control, STATE_SEQ) === before) {
          throw new BadFrameError(`shared state claims ${length} bytes in ${this.#capacity} (the memory is corrupt)`);
        }
        continue;
      }
      const bytes = this.#data.slice(0, length);
      const after = ORDERED_LOADS
        ? Atomics.load(control, STATE_SEQ)
        : Atomics.compareExchange(control, STATE_SEQ, before, before);
      if (after === before) return { value: this.#codec.decode(bytes), version: before >>> 1 };
    }
  }

  /**
   * Waits until the version differs from `since` and resolves with the new version. Across processes,
   * rejects with `PeerGoneError` if the writer process died.
   */
  async changed(since: number, options?: WaitOptions): Promise<number> {
    checkWaitOptions(options);
    const limit = deadline('changed', options);
    try {
      return await this.#changed(since, limit);
    } finally {
      limit?.release(); // the deadline holds the process until it fires or is released
    }
  }

  async #changed(since: number, limit: ReturnType<typeof deadline>): Promise<number> {
    const control = this.#control;
    // Ends a sleep on a timeout, an abort or this object's close (none of which changes the word).
    let cancel: LinkedSignal | undefined;
    try {
      for (;;) {
        if (this.#closed) throw new ClosedError('shared state');
        if (limit?.signal.aborted) throw limit.error();
        const ready = this.#versionAfter(since); // found at once: no count, so no wake-up for the writer to pay
        if (ready !== undefined) return ready;
        let result: string;
        Atomics.add(control, STATE_WAITERS, 1);
        try {
          const wake = this.#wakeToSleepOn(since);
          if (wake === undefined) continue; // a new version: the loop's first look returns it
          cancel ??= cancelWait(this.#closing.signal, limit?.signal);
          result = await this.#waker.waitAsync(control, STATE_WAKE, wake, this.#checkMs, cancel.signal);
        } finally {
          Atomics.sub(control, STATE_WAITERS, 1);
        }
        if (result === 'timed-out') this.#checkWriterAlive();
      }
    } finally {
      cancel?.release();
    }
  }

  /** The current version if it differs from `since` and no write is in progress, else undefined. */
  #versionAfter(since: number): number | undefined {
    const seq = Atomics.load(this.#control, STATE_SEQ);
    return (seq & 1) === 0 && seq >>> 1 !== since ? seq >>> 1 : undefined;
  }

  /**
   * Once this reader counts itself in STATE_WAITERS: the STATE_WAKE value to sleep on, or undefined when a new
   * version is there. Read after the count, and before the version and the writer's state: a change this look
   * does not see is followed by a bump of STATE_WAKE (the writer wakes counted readers), so the sleep returns.
   */
  #wakeToSleepOn(since: number): number | undefined {
    const wake = Atomics.load(this.#control, STATE_WAKE);
    if (this.#versionAfter(since) !== undefined) return undefined;
    this.#checkWriterOpen();
    return wake;
  }

  /** Blocks (workers only) until the version differs from `since`. */
  changedSync(since: number, options: { timeout?: number } = {}): number {
    checkBlockingAllowed('changed');
    checkWaitOptions(options);
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    const control = this.#control;
    for (;;) {
      if (this.#closed) throw new ClosedError('shared state');
      const ready = this.#versionAfter(since);
      if (ready !== undefined) return ready;
      let result: string;
      Atomics.add(control, STATE_WAITERS, 1);
      try {
        const wake = this.#wakeToSleepOn(since);
        if (wake === undefined) continue;
        const left = end - performance.now();
        if (left <= 0) throw new TimeoutError('changed', options.timeout);
        result = this.#waker.wait(control, STATE_WAKE, wake, Math.min(left, this.#checkMs));
      } finally {
        Atomics.sub(control, STATE_WAITERS, 1);
      }
      if (result === 'timed-out') this.#checkWriterAlive();
    }
  }

  /**
   * Yields a snapshot now and after every change (intermediate versions may be skipped: a reader
   * always gets the latest). Ends when the state is closed.
   */
  async *watch(options: { signal?: AbortSignal } = {}): AsyncGenerator<Snapshot<T>, void, undefined> {
    let snapshot = this.get();
    yield snapshot;
    for (;;) {
      try {
        await this.changed(snapshot.version, options);
      } catch (error) {
        if (error instanceof ClosedError) return;
        throw error;
      }
      snapshot = this.get();
      yield snapshot;
    }
  }

  /**
   * Stops using the state: pending `changed` (and `watch`) end with `ClosedError`, later calls throw it; the
   * writer marks the state closed for its readers and, for a named state it created, unlinks the name.
   * Idempotent.
   */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close`: a write is never left half done, so there is nothing to flush. Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(); // ends this object's pending `changed` (and so `watch`)
    if (this.#writer) {
      // Then the readers: they wake, see the writer closed and end with PeerGoneError.
      Atomics.store(this.#control, Header.StateA, SideState.Closed);
      this.#wakeReaders();
    }
    releaseExit(this.#exit);
    this.#segment?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A reader waiting for a version that a closed writer will never publish: PeerGoneError, not a wait for ever. */
  #checkWriterOpen(): void {
    if (!this.#writer && Atomics.load(this.#control, Header.StateA) === SideState.Closed)
      throw new PeerGoneError('shared state writer (it closed the state)');
  }

  /** The writer died: its thread's exit hook marked it DEAD, or (named) the kernel dropped its lock. */
  #checkWriterAlive(): void {
    if (this.#writer) return;
    const state = Atomics.load(this.#control, Header.StateA);
    const dead =
      state === SideState.Dead ||
      (this.#segment !== undefined && state !== SideState.Closed && !this.#segment.held(LOCK_SIDE_A));
    if (dead)
      throw new PeerGoneError(
        `shared state writer (pid ${Atomics.load(this.#control, Header.PidA)}${state === SideState.Dead ? ', its thread ended without closing' : ''})`,
      );
  }
}

/** How a `SharedState` is built from its parts (all factories but the constructor's own path). */
interface Parts<T> {
  buffer: SharedArrayBuffer;
  writer: boolean;
  waker: Waker;
  codec: Codec<T>;
  checkMs: number;
  segment?: Segment;
}

function build<T>(options: SharedStateOptions<T> | SharedStateReaderOptions<T>, parts: Parts<T>): SharedState<T> {
  const Ctor = SharedState as unknown as new (
    options: SharedStateOptions<T> | SharedStateReaderOptions<T>,
    parts: Parts<T>,
  ) => SharedState<T>;
  return new Ctor(options, parts);
}

/** Checks a writer's options before any memory exists: size, codec, and that the initial value fits. */
function checkWriterOptions<T>(options: SharedStateOptions<T>): {
  codec: Codec<T>;
  maxValueBytes: number;
  bytes: number;
  init: (buffer: SharedArrayBuffer, wake: Wake) => void;
} {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const maxValueBytes = checkInteger('maxValueBytes', options.maxValueBytes, { max: 1 << 30, default: 64 * 1024 });
  const codec = checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
  // The initial value is encoded before any segment exists: one that does not fit fails here.
  if ('initial' in options) {
    const bytes = codec.encode(options.initial as T);
    if (bytes.length > maxValueBytes) throw new TooLargeError('state value', bytes.length, maxValueBytes);
  }
  const init = (buffer: SharedArrayBuffer, wake: Wake): void => {
    writeStateCodec(buffer, codec.name);
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    Atomics.store(header, Header.PidA, process.pid);
    initHeader(header, Kind.State, maxValueBytes, wake);
  };
  return { codec, maxValueBytes, bytes: STATE_DATA + ((maxValueBytes + 3) & ~3), init };
}

/** A reader's codec: the writer's, as recorded in the state (see `handleCodec`); the one passed when none was recorded. */
function readerCodec<T>(buffer: SharedArrayBuffer, options: SharedStateReaderOptions<T>): Codec<T> {
  const name = readStateCodec(buffer);
  if (name === undefined) return options.codec ?? (msgpackCodec as Codec<T>);
  return handleCodec(name, options.codec, 'shared state');
}
