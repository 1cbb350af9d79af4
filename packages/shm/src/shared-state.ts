import {
  BadFrameError,
  ClosedError,
  IncompatibleError,
  PeerGoneError,
  TimeoutError,
  TooLargeError,
  UnsupportedError,
  checkWaitOptions,
  deadline,
  intervalOption,
  msgpackCodec,
  type Codec,
  type WaitOptions,
} from '@ipcx/core';
import {
  HEADER_BYTES,
  Header,
  Kind,
  STATE_DATA,
  STATE_LENGTH,
  STATE_SEQ,
  STATE_WAITERS,
  SideState,
  Wake,
  checkHeader,
  initHeader,
  storedSize,
} from './layout.js';
import { checkBlockingAllowed } from './internal/park.js';
import { atomicsWaker, futexWaker, loadNative, nativeIfAvailable, type Waker } from './internal/waker.js';
import { LOCK_SIDE_A, Segment, checkMode, checkShmName, createSegment, openSegment } from './segment.js';

/** Options of `SharedState.create`. */
export interface SharedStateOptions<T> {
  /** Largest encoded value in bytes. Default 64 KiB. */
  capacity?: number;
  /** Default `msgpackCodec`; readers must use the same codec. */
  codec?: Codec<T>;
  /** A POSIX shared-memory name: makes the state visible to other processes (`SharedState.open`). */
  name?: string;
  /** Permissions of a named segment. Default 0o600. */
  mode?: number;
  /** The value readers see before the first `set`. */
  initial?: T;
}

/** Options of `SharedState.open` / `attach`. */
export interface SharedStateReaderOptions<T> {
  codec?: Codec<T>;
  /**
   * How often (ms) a reader waiting in `changed` checks that the writer lives (a process: the kernel lock
   * it holds; a worker thread: the word its exit hook sets). Default 500.
   */
  writerCheckInterval?: number;
  /** `open`: the widest permissions accepted on the segment found (wider is `PermissionError`). Default 0o600. */
  mode?: number;
}

/** A consistent snapshot: the value and the version it had. */
export interface Snapshot<T> {
  readonly value: T;
  /** Counts writes: 0 before the first, then 1, 2, ... */
  readonly version: number;
}

/** What `SharedState.attach` needs in a worker thread. */
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
 * can wait for the next version. Works between worker threads and, with a `name`, between processes.
 *
 * @example
 * ```ts
 * const state = await SharedState.create<{ users: number }>({ name: '/app-stats', initial: { users: 0 } });
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
  #exit: { cancel(run?: boolean): void } | undefined;
  #closed = false;

  private constructor(buffer: SharedArrayBuffer, writer: boolean, waker: Waker, codec: Codec<T>, checkMs: number, segment?: Segment) {
    this.#buffer = buffer;
    if (buffer.byteLength < STATE_DATA) throw new IncompatibleError('shared state', `its memory has ${buffer.byteLength} bytes, at least ${STATE_DATA} expected`);
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
      else this.#exit = nativeIfAvailable()?.atThreadExit({ i32: this.#control, index: Header.StateA, value: SideState.Dead });
    }
  }

  /** Creates a state and returns its (only) writer. With `name`, other processes can `open` it. */
  static async create<T = unknown>(options: SharedStateOptions<T> = {}): Promise<SharedState<T>> {
    const capacity = options.capacity ?? 64 * 1024;
    if (!Number.isInteger(capacity) || capacity < 0 || capacity > 1 << 30) throw new RangeError(`capacity must be an integer from 0 to 2^30`);
    const codec = options.codec ?? (msgpackCodec as Codec<T>);
    if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function') throw new TypeError('options.codec must be a Codec');
    const mode = checkMode(options.mode);
    if (options.name !== undefined) checkShmName(options.name);
    // The initial value is encoded before any segment exists: one that does not fit fails here.
    if ('initial' in options) {
      const bytes = codec.encode(options.initial as T);
      if (bytes.length > capacity) throw new TooLargeError('state value', bytes.length, capacity);
    }
    const bytes = STATE_DATA + ((capacity + 3) & ~3);
    const init = (buffer: SharedArrayBuffer): void => {
      const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
      Atomics.store(header, Header.PidA, process.pid);
      initHeader(header, Kind.State, capacity, options.name === undefined ? Wake.Atomics : Wake.Futex);
    };
    let state: SharedState<T>;
    if (options.name === undefined) {
      const buffer = new SharedArrayBuffer(bytes);
      init(buffer);
      state = new SharedState<T>(buffer, true, atomicsWaker, codec, Number.POSITIVE_INFINITY);
    } else {
      const native = await loadNative();
      const { segment } = await createSegment(options.name, bytes, mode, init);
      state = new SharedState<T>(segment.buffer, true, futexWaker(native), codec, Number.POSITIVE_INFINITY, segment);
    }
    if ('initial' in options) state.set(options.initial as T);
    return state;
  }

  /** A reader in a worker thread, from the writer's `handle`. */
  static attach<T = unknown>(handle: SharedStateHandle, options: SharedStateReaderOptions<T> = {}): SharedState<T> {
    if (!(handle?.buffer instanceof SharedArrayBuffer)) throw new TypeError('attach takes the `handle` of a SharedState');
    const checkMs = intervalOption('writerCheckInterval', options.writerCheckInterval, 500);
    if (handle.buffer.byteLength < STATE_DATA) throw new IncompatibleError('shared state', `its memory has ${handle.buffer.byteLength} bytes, at least ${STATE_DATA} expected`);
    const header = new Int32Array(handle.buffer, 0, HEADER_BYTES / 4);
    checkHeader(header, Kind.State, 'shared state');
    if (Atomics.load(header, Header.Wake) !== Wake.Atomics) throw new UnsupportedError('attaching a named state by handle; use SharedState.open');
    return new SharedState<T>(handle.buffer, false, atomicsWaker, options.codec ?? (msgpackCodec as Codec<T>), checkMs);
  }

  /** A reader of a named state that another process created. */
  static async open<T = unknown>(name: string, options: SharedStateReaderOptions<T> = {}): Promise<SharedState<T>> {
    const checkMs = intervalOption('writerCheckInterval', options.writerCheckInterval, 500);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const segment = await openSegment(name, 'shared state', STATE_DATA, mode);
    try {
      return new SharedState<T>(segment.buffer, false, futexWaker(native), options.codec ?? (msgpackCodec as Codec<T>), checkMs, segment);
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /** What a worker needs to `attach` a reader (threads only). */
  get handle(): SharedStateHandle {
    if (this.#waker.kind !== 'atomics') throw new UnsupportedError('a handle of a named state; open it by name');
    return { buffer: this.#buffer };
  }

  /** The number of writes so far. */
  get version(): number {
    return Atomics.load(this.#control, STATE_SEQ) >>> 1;
  }

  /** The largest encoded value. */
  get capacity(): number {
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
    if (Atomics.load(control, STATE_WAITERS) !== 0) this.#waker.notify(control, STATE_SEQ);
    return (seq + 2) >>> 1;
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
    for (let attempt = 1; ; attempt++) {
      // Now and then, ask whether retrying can still succeed: a writer killed between its two
      // sequence stores leaves the sequence odd for ever, a corrupt length never fits. Bounded either way.
      const stuck = (attempt & 1023) === 0;
      const before = Atomics.load(control, STATE_SEQ);
      if ((before & 1) === 1) {
        if (stuck) {
          this.#checkWriterAlive();
          const now = performance.now();
          if (since === 0) since = now;
          else if (now - since > GET_SPIN_LIMIT_MS) throw new TimeoutError('get (the writer stays in the middle of a write)', GET_SPIN_LIMIT_MS);
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
      const after = ORDERED_LOADS ? Atomics.load(control, STATE_SEQ) : Atomics.compareExchange(control, STATE_SEQ, before, before);
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
    const control = this.#control;
    for (;;) {
      if (this.#closed) throw new ClosedError('shared state');
      if (limit?.signal.aborted) throw limit.error();
      const seq = Atomics.load(control, STATE_SEQ);
      if ((seq & 1) === 0 && seq >>> 1 !== since) return seq >>> 1;
      this.#checkWriterOpen();
      Atomics.add(control, STATE_WAITERS, 1);
      // A pending wait cannot be cancelled: on abort, wake it (and, harmlessly, other readers) instead.
      const wake = (): unknown => this.#waker.notify(control, STATE_SEQ);
      limit?.signal.addEventListener('abort', wake, { once: true });
      let result: string;
      try {
        result = await this.#waker.waitAsync(control, STATE_SEQ, seq, this.#checkMs);
      } finally {
        limit?.signal.removeEventListener('abort', wake);
        Atomics.sub(control, STATE_WAITERS, 1);
      }
      if (result === 'timed-out') this.#checkWriterAlive();
    }
  }

  /** Blocks (workers only) until the version differs from `since`. */
  changedSync(since: number, options: { timeout?: number } = {}): number {
    checkBlockingAllowed('changed');
    checkWaitOptions(options);
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    const control = this.#control;
    for (;;) {
      if (this.#closed) throw new ClosedError('shared state');
      const seq = Atomics.load(control, STATE_SEQ);
      if ((seq & 1) === 0 && seq >>> 1 !== since) return seq >>> 1;
      this.#checkWriterOpen();
      const left = end - performance.now();
      if (left <= 0) throw new TimeoutError('changed', options.timeout);
      Atomics.add(control, STATE_WAITERS, 1);
      const result = this.#waker.wait(control, STATE_SEQ, seq, Math.min(left, this.#checkMs));
      Atomics.sub(control, STATE_WAITERS, 1);
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

  /** Stops using the state; the writer of a named state unlinks its name. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // End this object's pending `changed` (and so `watch`); other readers wake, find nothing new, sleep again.
    this.#waker.notify(this.#control, STATE_SEQ);
    if (this.#writer) Atomics.store(this.#control, Header.StateA, SideState.Closed);
    this.#exit?.cancel(false);
    this.#exit = undefined;
    this.#segment?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A reader waiting for a version that a closed writer will never publish: PeerGoneError, not a wait for ever. */
  #checkWriterOpen(): void {
    if (!this.#writer && Atomics.load(this.#control, Header.StateA) === SideState.Closed) throw new PeerGoneError('shared state writer (it closed the state)');
  }

  /** The writer died: its thread's exit hook marked it DEAD, or (named) the kernel dropped its lock. */
  #checkWriterAlive(): void {
    if (this.#writer) return;
    const state = Atomics.load(this.#control, Header.StateA);
    const dead = state === SideState.Dead || (this.#segment !== undefined && state !== SideState.Closed && !this.#segment.held(LOCK_SIDE_A));
    if (dead) throw new PeerGoneError(`shared state writer (pid ${Atomics.load(this.#control, Header.PidA)}${state === SideState.Dead ? ', its thread ended without closing' : ''})`);
  }
}
