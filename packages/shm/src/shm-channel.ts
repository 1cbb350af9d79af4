import {
  ClosedError,
  PeerGoneError,
  TimeoutError,
  TooLargeError,
  UnsupportedError,
  AlreadyExistsError,
  BadFrameError,
  IncompatibleError,
  msgpackCodec,
  rawCodec,
  type Codec,
  type ReceiveOptions,
  type SendOptions,
  copyBytes,
} from '@ipcx/core';
import {
  AbstractChannel,
  Inbox,
  NO_MESSAGE,
  checkCodec,
  checkWaitOptions,
  intervalOption,
  lingerOption,
  BusySpin,
  spinOption,
  type WaitForNext,
} from '@ipcx/core/transport';
import {
  HEADER_BYTES,
  Header,
  Kind,
  SideState,
  Wake,
  channelBytes,
  checkHeader,
  initHeader,
  ringBytes,
  ringOffset,
  storedSize,
} from './layout.js';
import { checkMode, handleCodec } from './internal/options.js';
import { checkBlockingAllowed } from './internal/park.js';
import { SendPump } from './internal/send-pump.js';
import { ReceivePump } from './internal/receive-pump.js';
import { RingReader, RingWriter } from './ring.js';
import { decodeFrame } from './internal/ring-base.js';
import { atomicsWaker, futexWaker, loadNative, type Waker } from './internal/waker.js';
import { markOnThreadExit, releaseExit, type ExitHolder } from './internal/exit.js';
import {
  LOCK_SIDE_A,
  LOCK_SIDE_B,
  type Segment,
  createSegment,
  lockFileSegment,
  openSegment,
  unlinkSegment,
} from './segment.js';

/** Options of every ShmChannel. */
export interface ShmChannelOptions<T = unknown> {
  /** Bytes of each direction's ring, a power of two (1 KiB to 1 GiB). Default 256 KiB. A message is at most half of it. */
  bufferBytes?: number;
  /** Default `msgpackCodec`. Both sides must use the same codec. */
  codec?: Codec<T>;
  /**
   * Microseconds a receiver (or a sender on a full ring) spins before it sleeps, while the channel is
   * busy (a message moved in the last millisecond); an idle channel never spins. Waking a sleeping
   * thread costs tens of microseconds, a spin answers in well under one. Default 50; 0 never spins.
   */
  spinMicroseconds?: number;
  /**
   * How often (ms) a waiting side checks that the peer still lives (a process: the kernel lock its end
   * holds; a worker thread: the word its exit hook sets). The bound on noticing a peer that died. Default 500.
   */
  peerCheckInterval?: number;
  /**
   * How long (ms) a graceful `close()` keeps writing the sends still waiting for room while the peer does not
   * read; then they reject with `ClosedError` and the end is released. Default 2000.
   */
  lingerTimeout?: number;
}

/** Options of `ShmChannel.create` and `ShmChannel.open`. */
export interface NamedShmChannelOptions<T = unknown> extends ShmChannelOptions<T> {
  /**
   * `create`: permissions of the new segment. `open`: the widest permissions accepted on the segment found
   * (a wider one is `PermissionError`). Default 0o600 (owner only).
   */
  mode?: number;
}

/** Options of `ShmChannel.createIn` / `openIn` (a channel in memory the caller mapped). */
export interface ShmChannelInOptions<T = unknown> extends ShmChannelOptions<T> {
  /**
   * A file both ends open (created 0600 if absent, never removed by ipcx): each end holds a kernel lock on one
   * byte of it while it lives, which is how a peer that died is told from a live one.
   */
  lockFile?: string;
}

/** Options checked once, before any kernel object exists. */
interface Resolved<T> {
  codec: Codec<T>;
  spinMicroseconds: number;
  checkMs: number;
  lingerMs: number;
}

function resolveOptions<T>(options: ShmChannelOptions<T>): Resolved<T> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  return {
    // encodeInto too: a large message is encoded straight into the ring.
    codec: checkCodec(options.codec, msgpackCodec as Codec<T>),
    spinMicroseconds: spinOption(options.spinMicroseconds),
    checkMs: intervalOption('peerCheckInterval', options.peerCheckInterval, 500),
    lingerMs: lingerOption(options.lingerTimeout),
  };
}

/**
 * A send on a named channel asks the kernel whether the peer lives (one fcntl, about 1 µs) when this many
 * ms or this many sends passed since it last asked: after a peer's death at most SEND_CHECK_COUNT sends
 * resolve, and a send after a pause rejects at once.
 */
const SEND_CHECK_MS = 10;
const SEND_CHECK_COUNT = 64;

/** What `ShmChannel.from` needs, sent to a worker with `postMessage` (from `transfer()`). */
export interface ShmChannelHandle {
  readonly buffer: SharedArrayBuffer;
  readonly side: 'a' | 'b';
  /** The name of the codec the other end uses, when it is a built-in one. */
  readonly codec: string;
}

/** Once a message this large was sent, encode the next ones straight into the ring. */
const IN_PLACE_BYTES = 4096;

/**
 * A `Channel` over shared memory: one single-producer single-consumer ring in each direction.
 * Between worker threads (`pair` + `transfer()` + `from`) it wakes with `Atomics`; between processes (`create` +
 * `open` on a named segment) with the native futex. Messages are encoded straight into the ring and
 * decoded straight out of it.
 *
 * @example
 * ```ts
 * const [main, forWorker] = ShmChannel.pair();
 * const worker = new Worker('./worker.js', { workerData: forWorker.transfer() });
 * // in the worker: const channel = ShmChannel.from(workerData);
 * await main.send({ job: 1 });
 * console.log(await main.receive());
 * ```
 */
export class ShmChannel<T = unknown> extends AbstractChannel<T> {
  readonly #buffer: SharedArrayBuffer;
  readonly #side: 'a' | 'b';
  readonly #header: Int32Array;
  readonly #writer: RingWriter;
  readonly #reader: RingReader;
  readonly #codec: Codec<T>;
  readonly #waker: Waker;
  readonly #inbox = new Inbox<T>();
  readonly #parkMs: number;
  readonly #myState: Header;
  readonly #peerState: Header;
  readonly #peerPid: Header;
  readonly #segment: Segment | undefined;
  readonly #peerLock: number;
  /** Between threads: marks this side DEAD if its thread ends without close. */
  #exit: ExitHolder | undefined;
  #checkedAt = 0;
  #sendsSinceCheck = 0;
  /** Set once the ring's indices or a frame header were found corrupt: the channel is over. */
  #corrupt: BadFrameError | undefined;
  #closed = false;
  readonly #lingerMs: number;
  #handedOff = false;
  /** The promise of the first `close()`, returned again by later calls. */
  #closing: Promise<void> | undefined;
  /** The memory and locks are let go (close finished, or destroy). */
  #released = false;
  /** Set once a wait found the peer process dead (across processes). */
  #peerGone: PeerGoneError | undefined;
  /** The bounded spin of a receive that finds the ring empty, while the channel is busy. */
  readonly #spinner: BusySpin;
  #held = false;
  #encodeInPlace = false;
  readonly #raw: boolean;

  private constructor(
    buffer: SharedArrayBuffer,
    side: 'a' | 'b',
    waker: Waker,
    options: Resolved<T>,
    segment?: Segment,
  ) {
    super();
    this.#buffer = buffer;
    this.#side = side;
    this.#waker = waker;
    if (buffer.byteLength < HEADER_BYTES)
      throw new IncompatibleError(
        'shared-memory channel',
        `its memory has ${buffer.byteLength} bytes, less than a header`,
      );
    this.#header = new Int32Array(buffer, 0, 16);
    checkHeader(this.#header, Kind.Channel, 'shared-memory channel');
    const capacity = storedSize(this.#header, buffer, 'shared-memory channel', true, channelBytes);
    this.#writer = new RingWriter(buffer, ringOffset(capacity, side), capacity, waker);
    this.#reader = new RingReader(buffer, ringOffset(capacity, side === 'a' ? 'b' : 'a'), capacity, waker);
    this.#codec = options.codec;
    this.#raw = this.#codec === (rawCodec as Codec<unknown>);
    this.#spinner = new BusySpin(options.spinMicroseconds);
    this.#myState = side === 'a' ? Header.StateA : Header.StateB;
    this.#peerState = side === 'a' ? Header.StateB : Header.StateA;
    this.#peerPid = side === 'a' ? Header.PidB : Header.PidA;
    this.#parkMs = options.checkMs;
    this.#lingerMs = options.lingerMs;
    this.#segment = segment;
    this.#peerLock = side === 'a' ? LOCK_SIDE_B : LOCK_SIDE_A;
    Atomics.store(this.#header, side === 'a' ? Header.PidA : Header.PidB, process.pid);
    Atomics.store(this.#header, this.#myState, SideState.Open);
    // A thread that ends without close (throws, is terminated) marks its side DEAD: the peer's waits
    // look at that word every peerCheckInterval. Across processes the kernel lock does the same.
    if (segment !== undefined) segment.markOnThreadExit(this.#header, this.#myState, SideState.Dead);
    else this.#exit = markOnThreadExit(this, this.#header, this.#myState, SideState.Dead);
  }

  /** Two connected ends in this process, for worker threads: send one end's `transfer()` to a worker. */
  static pair<T = unknown>(options: ShmChannelOptions<T> = {}): [ShmChannel<T>, ShmChannel<T>] {
    const capacity = ringBytes(options?.bufferBytes);
    const resolved = resolveOptions(options);
    const buffer = new SharedArrayBuffer(channelBytes(capacity));
    initHeader(new Int32Array(buffer, 0, 16), Kind.Channel, capacity, Wake.Atomics);
    return [
      new ShmChannel<T>(buffer, 'a', atomicsWaker, resolved),
      new ShmChannel<T>(buffer, 'b', atomicsWaker, resolved),
    ];
  }

  /**
   * Takes over an end whose `transfer()` another thread sent. A custom codec must be passed again
   * (functions do not cross `postMessage`); built-in codecs are found by name, and a codec other than
   * the one the handle names is `IncompatibleError`.
   */
  static from<T = unknown>(
    handle: ShmChannelHandle,
    options: Omit<ShmChannelOptions<T>, 'bufferBytes'> = {},
  ): ShmChannel<T> {
    if (!(handle?.buffer instanceof SharedArrayBuffer) || (handle.side !== 'a' && handle.side !== 'b')) {
      throw new IncompatibleError('the handle', "from takes what a ShmChannel end's transfer() returned");
    }
    const codec = handleCodec(handle.codec, options.codec, 'channel');
    const resolved = resolveOptions({ ...options, codec });
    if (handle.buffer.byteLength < HEADER_BYTES)
      throw new IncompatibleError(
        'shared-memory channel',
        `its memory has ${handle.buffer.byteLength} bytes, less than a header`,
      );
    const header = new Int32Array(handle.buffer, 0, 16);
    checkHeader(header, Kind.Channel, 'shared-memory channel');
    if (Atomics.load(header, Header.Wake) !== Wake.Atomics) {
      throw new UnsupportedError('rebuilding a named (cross-process) channel from a handle; use ShmChannel.open');
    }
    return new ShmChannel<T>(handle.buffer, handle.side, atomicsWaker, resolved);
  }

  /**
   * Creates a named channel for another process to `open`. This process owns the segment: it unlinks the
   * name on close, and registers it with `@ipcx/core`'s registry of kernel objects until then. Atomic:
   * of several processes creating one name, exactly one succeeds. A segment whose creator died is replaced;
   * a live one is `AlreadyExistsError`; one another user made, or with wider permissions than `mode`,
   * is `PermissionError`. Every option is checked before the segment exists.
   */
  static async create<T = unknown>(name: string, options: NamedShmChannelOptions<T> = {}): Promise<ShmChannel<T>> {
    const resolved = resolveOptions(options);
    const capacity = ringBytes(options.bufferBytes);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const { segment } = await createSegment(name, channelBytes(capacity), mode, (buffer) => {
      const header = new Int32Array(buffer, 0, 16);
      Atomics.store(header, Header.PidA, process.pid);
      initHeader(header, Kind.Channel, capacity, Wake.Futex);
    });
    try {
      return new ShmChannel<T>(segment.buffer, 'a', futexWaker(native), resolved, segment);
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /**
   * Opens the other end of a channel that a process made with `create`. Atomic: of several openers,
   * exactly one gets the end (the others `AlreadyExistsError`) until it closes or dies.
   */
  static async open<T = unknown>(name: string, options: NamedShmChannelOptions<T> = {}): Promise<ShmChannel<T>> {
    const resolved = resolveOptions(options);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const segment = await openSegment(name, 'shared-memory channel', HEADER_BYTES, mode);
    try {
      const header = new Int32Array(segment.buffer, 0, 16);
      checkHeader(header, Kind.Channel, `shared-memory channel "${segment.name}"`);
      if (Atomics.load(header, Header.Wake) !== Wake.Futex)
        throw new IncompatibleError(`shared-memory channel "${segment.name}"`, 'it is not a named channel');
      // The kernel lock on SIDE_B is the end: exactly one description holds it, whatever the interleaving.
      if (!segment.lock(LOCK_SIDE_B, 'write')) {
        throw new AlreadyExistsError(
          `the second end of shared-memory channel "${segment.name}" (held by a live process or thread, pid ${Atomics.load(header, Header.PidB)})`,
        );
      }
      return new ShmChannel<T>(segment.buffer, 'b', futexWaker(native), resolved, segment);
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /**
   * Creates a cross-process channel in shared memory the caller mapped, such as a `SysvSegment`'s `buffer`
   * (the first `channelBytes(bufferBytes)` bytes are used). The other process calls `openIn` on its own mapping
   * of the same memory. The caller owns the memory: close does not remove it.
   *
   * Such memory has no file of its own to carry the kernel locks that tell a live end from a dead one, so give
   * both ends the same `lockFile` (any path both may open, such as the path given to `ftok`): each end holds an
   * OFD lock on one byte of it for its lifetime, and a peer that dies, however it dies, is `PeerGoneError`.
   * Without it, only an orderly close (or a thread's end) is noticed across processes.
   */
  static async createIn<T = unknown>(
    buffer: SharedArrayBuffer,
    options: ShmChannelInOptions<T> = {},
  ): Promise<ShmChannel<T>> {
    const resolved = resolveOptions(options);
    const capacity = ringBytes(options.bufferBytes);
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < channelBytes(capacity)) {
      throw new RangeError(
        `a channel of bufferBytes ${capacity} needs a SharedArrayBuffer of at least ${channelBytes(capacity)} bytes`,
      );
    }
    const native = await loadNative();
    const locks = options.lockFile === undefined ? undefined : lockFileSegment(options.lockFile, buffer, native);
    if (locks !== undefined && !locks.lock(LOCK_SIDE_A, 'write')) {
      locks.close();
      throw new AlreadyExistsError(
        `the first end of the shared-memory channel locked by "${options.lockFile}" (held by a live process or thread)`,
      );
    }
    const header = new Int32Array(buffer, 0, 16);
    Atomics.store(header, Header.PidA, process.pid);
    Atomics.store(header, Header.StateB, SideState.Unattached);
    initHeader(header, Kind.Channel, capacity, Wake.Futex);
    return new ShmChannel<T>(buffer, 'a', futexWaker(native), resolved, locks);
  }

  /**
   * Opens the other end of a channel that another process made with `createIn` in the same memory. With the
   * same `lockFile` as the creator, exactly one opener gets the end and a dead one is replaced; without it, an
   * end still marked open is `AlreadyExistsError` (nothing tells whether its process lives).
   */
  static async openIn<T = unknown>(
    buffer: SharedArrayBuffer,
    options: ShmChannelInOptions<T> = {},
  ): Promise<ShmChannel<T>> {
    if (!(buffer instanceof SharedArrayBuffer))
      throw new TypeError('openIn takes the SharedArrayBuffer the channel was created in');
    const resolved = resolveOptions(options);
    const native = await loadNative();
    if (buffer.byteLength < HEADER_BYTES)
      throw new IncompatibleError(
        'shared-memory channel',
        `its memory has ${buffer.byteLength} bytes, less than a header`,
      );
    const header = new Int32Array(buffer, 0, 16);
    checkHeader(header, Kind.Channel, 'shared-memory channel');
    if (Atomics.load(header, Header.Wake) !== Wake.Futex)
      throw new UnsupportedError('a channel made for threads (pair); use from');
    const locks = options.lockFile === undefined ? undefined : lockFileSegment(options.lockFile, buffer, native);
    if (locks !== undefined) {
      if (!locks.lock(LOCK_SIDE_B, 'write')) {
        locks.close();
        throw new AlreadyExistsError(
          `the second end of the shared-memory channel (held by a live process or thread, pid ${Atomics.load(header, Header.PidB)})`,
        );
      }
    } else if (Atomics.load(header, Header.StateB) === SideState.Open) {
      throw new AlreadyExistsError(
        `the second end of the shared-memory channel (marked open by pid ${Atomics.load(header, Header.PidB)}; pass the creator's lockFile to tell a dead end from a live one)`,
      );
    }
    return new ShmChannel<T>(buffer, 'b', futexWaker(native), resolved, locks);
  }

  /** Removes a named channel's segment (e.g. one left by a crashed owner); true if it was there. */
  static unlink(name: string): Promise<boolean> {
    return unlinkSegment(name);
  }

  /**
   * Hands this end to another thread: returns what `ShmChannel.from` needs there (send it with
   * `postMessage`), and closes this end here (it moved, like a transferred `MessagePort`).
   */
  transfer(): ShmChannelHandle {
    if (this.#closed) throw new ClosedError();
    if (this.#waker.kind !== 'atomics') throw new UnsupportedError('transferring a named channel; open it by name');
    if (this.#sendPump.queue.size > 0 || this.#inbox.size > 0 || this.#inbox.waiting > 0) {
      throw new UnsupportedError(
        'transferring an end with sends or receives in progress or messages received but not read',
      );
    }
    this.#writer.flush();
    this.#handedOff = true;
    this.#closed = true;
    this.#released = true;
    releaseExit(this.#exit);
    return { buffer: this.#buffer, side: this.#side, codec: this.#codec.name };
  }

  /** The largest encoded message this channel carries (half the ring, less an 8-byte frame header). */
  get maxMessageBytes(): number {
    return this.#writer.maxPayload;
  }

  /**
   * True once `close()`/`destroy()` was called, or the channel ended: the peer closed or died and every
   * message it sent has been received (so `receive()` would fail at once).
   */
  get closed(): boolean {
    if (this.#closed || this.#peerGone !== undefined || this.#corrupt !== undefined) return true;
    if (this.#inbox.size > 0 || this.#held || !this.#peerEnded()) return false;
    try {
      return !this.#reader.hasFrame();
    } catch {
      return true;
    }
  }

  async send(message: T, options?: SendOptions): Promise<void> {
    this.#checkSendable();
    checkWaitOptions(options);
    let bytes: Uint8Array;
    if (this.#sendPump.queue.size === 0) {
      const written = this.#write(message);
      if (written === true) return;
      bytes = written;
    } else {
      bytes = this.#encodeChecked(message);
    }
    return this.#sendPump.send(bytes, options);
  }

  trySend(message: T): boolean {
    this.#checkSendable();
    if (this.#sendPump.queue.size > 0) {
      this.#encodeChecked(message);
      return false;
    }
    return this.#write(message) === true;
  }

  /**
   * Sends, blocking the thread while the ring is full (workers only; on the main thread use `send`).
   * @throws TimeoutError after `timeout` ms.
   */
  sendSync(message: T, options: { timeout?: number } = {}): void {
    checkBlockingAllowed('wait');
    this.#checkSendable();
    checkWaitOptions(options);
    if (this.#sendPump.queue.size === 0) {
      const written = this.#write(message);
      if (written === true) {
        this.#writer.flush();
        return;
      }
      const bytes = copyBytes(written);
      const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
      for (;;) {
        this.#checkSendable();
        if (this.#writer.tryWrite(bytes)) {
          this.#writer.flush();
          return;
        }
        const left = end - performance.now();
        if (left <= 0) throw new TimeoutError('send', options.timeout);
        const result = this.#writer.waitForRoomSync(
          bytes.length,
          Math.min(left, this.#parkMs),
          () => this.#closed || this.#peerEnded(),
        );
        if (result === 'timed-out') this.#checkPeerAlive();
      }
    }
    throw new UnsupportedError('sendSync while async sends are waiting');
  }

  receive(options?: ReceiveOptions): Promise<T> {
    let value: T | typeof NO_MESSAGE;
    try {
      if (this.#closed) throw new ClosedError();
      checkWaitOptions(options);
      value = this.#readOrSpin();
    } catch (error) {
      return Promise.reject(error);
    }
    if (value !== NO_MESSAGE) return Promise.resolve(value);
    const received = this.#inbox.receive('receive', options);
    void this.#receivePump.start();
    // A parked pump holds the event loop open: when the last receiver gave up, wake it so it can stop.
    if (options !== undefined) received.catch(() => this.#inbox.waiting === 0 && this.#reader.wakeConsumer());
    return received;
  }

  /** `for await` once `poll` found nothing: `receive`, settling the iterator's result from the inbox itself. */
  protected override waitForNext(...[received, end]: Parameters<WaitForNext<T>>): ReturnType<WaitForNext<T>> {
    if (this.#closed) throw new ClosedError();
    const value = this.#readOrSpin();
    return value !== NO_MESSAGE ? Promise.resolve(received(value)) : this.#receivePump.waitForNext(received, end);
  }

  /** A message read now or within the spin, when nobody waits in line before this receive; else NO_MESSAGE. */
  #readOrSpin(): T | typeof NO_MESSAGE {
    if (this.#inbox.size > 0 || this.#inbox.waiting > 0) return NO_MESSAGE;
    const value = this.#read();
    return value === NO_MESSAGE && this.#spin() ? this.#read() : value;
  }

  tryReceive(): T | undefined {
    const value = this.poll();
    return value === NO_MESSAGE ? undefined : value;
  }

  /**
   * What `for await` takes first: the next message without waiting, or `NO_MESSAGE` (so a message that decodes
   * to `undefined` is still one).
   */
  protected override poll(): T | typeof NO_MESSAGE {
    if (this.#closed) throw new ClosedError();
    if (this.#inbox.size > 0) return this.#inbox.shift() as T;
    return this.#read();
  }

  /**
   * Receives, blocking the thread until a message arrives (workers only; on the main thread use
   * `receive`). Spins briefly first when the channel is busy.
   * @throws TimeoutError after `timeout` ms.
   */
  receiveSync(options: { timeout?: number } = {}): T {
    checkBlockingAllowed('wait');
    if (this.#closed) throw new ClosedError();
    if (this.#inbox.size > 0) return this.#inbox.shift()!;
    const value = this.#read();
    if (value !== NO_MESSAGE) return value;
    this.#waitSync(options);
    return this.#read() as T;
  }

  /** Blocks until a frame waits (or throws: timeout, closed, peer gone). */
  #waitSync(options: { timeout?: number }): void {
    checkBlockingAllowed('wait');
    checkWaitOptions(options);
    // A blocked thread runs no microtasks: publish what trySend left for the end of the task.
    this.#writer.flush();
    if (this.#spin()) return;
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    for (;;) {
      if (this.#closed) throw new ClosedError();
      if (this.#reader.hasFrame()) return;
      this.#endIfPeerClosed();
      const left = end - performance.now();
      if (left <= 0) throw new TimeoutError('receive', options.timeout);
      const result = this.#reader.waitForFrameSync(
        Math.min(left, this.#parkMs),
        () => this.#closed || this.#peerEnded(),
      );
      if (result === 'timed-out') this.#checkPeerAlive();
    }
  }

  /**
   * The next message's encoded bytes as a view into the shared memory, neither decoded nor copied, or
   * undefined when none waits. The view is valid until the next receive call on this channel: the
   * fastest way to read raw bytes, for callers that consume them at once.
   */
  tryReceiveBytes(): Uint8Array | undefined {
    if (this.#closed) throw new ClosedError();
    if (this.#inbox.size > 0)
      throw new UnsupportedError('tryReceiveBytes while decoded messages wait (mixing it with receive)');
    this.#release();
    if (this.#nextFrame() < 0) {
      this.#endIfPeerClosed();
      return undefined;
    }
    this.#spinner.busy = true;
    this.#held = true;
    return this.#reader.view();
  }

  /** `tryReceiveBytes`, blocking until a message arrives (workers only). */
  receiveBytesSync(options: { timeout?: number } = {}): Uint8Array {
    const bytes = this.tryReceiveBytes();
    if (bytes !== undefined) return bytes;
    this.#waitSync(options);
    return this.tryReceiveBytes()!;
  }

  /**
   * Graceful: later calls fail with `ClosedError` and pending receives reject with it at once; sends already
   * accepted (waiting for room) are written first (or fail when the peer goes, or with `ClosedError` once
   * `lingerTimeout` passed with the peer not reading), then the end is released and the peer sees it closed. The creator of a named channel unlinks its name. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#closed) return (this.#closing = Promise.resolve());
    this.#closed = true;
    this.#inbox.fail(new ClosedError());
    this.#reader.wakeConsumer();
    if (this.#sendPump.queue.size === 0) {
      this.#releaseEnd();
      return (this.#closing = Promise.resolve());
    }
    this.#closing = this.#sendPump.queue
      .drainedWithin(
        this.#lingerMs,
        () => new ClosedError(`channel (closed: the peer took nothing for ${this.#lingerMs} ms)`),
      )
      .then(() => this.#releaseEnd());
    return this.#closing;
  }

  /** Immediate: sends still waiting for room reject (with `error`, else `ClosedError`), and the end is released now. Idempotent. */
  destroy(error?: Error): void {
    if (this.#released) return;
    const wasClosed = this.#closed;
    this.#closed = true;
    if (!wasClosed) this.#inbox.fail(new ClosedError());
    this.#sendPump.queue.rejectAll(error ?? new ClosedError());
    this.#closing ??= Promise.resolve();
    this.#releaseEnd();
  }

  #releaseEnd(): void {
    if (this.#released) return;
    this.#released = true;
    this.#release();
    this.#writer.flush();
    Atomics.store(this.#header, this.#myState, SideState.Closed);
    // End our own parked waits, and the peer's: its receive on our outgoing ring, its send into ours.
    this.#reader.wakeConsumer();
    this.#writer.wakeProducer();
    this.#writer.wakeConsumer();
    this.#reader.wakeProducer();
    releaseExit(this.#exit);
    this.#segment?.close();
  }

  #checkSendable(): void {
    if (this.#closed) throw new ClosedError(this.#handedOff ? 'channel end (handed to another thread)' : 'channel');
    // Found dead: a later send, even one with room, would be a message nobody reads.
    if (this.#peerGone !== undefined) throw this.#peerGone;
    if (this.#corrupt !== undefined) throw this.#corrupt;
    const state = Atomics.load(this.#header, this.#peerState);
    if (state === SideState.Closed) throw new PeerGoneError('peer (it closed the channel)');
    if (state === SideState.Dead) this.#checkPeerAlive();
    else if (this.#segment !== undefined && state === SideState.Open) {
      // Ask the kernel now and then (a syscall; a hot loop pays it once per SEND_CHECK_MS).
      const now = performance.now();
      if (++this.#sendsSinceCheck >= SEND_CHECK_COUNT || now - this.#checkedAt >= SEND_CHECK_MS) {
        this.#checkedAt = now;
        this.#sendsSinceCheck = 0;
        this.#checkPeerAlive();
      }
    }
  }

  /** The peer closed, or its thread ended without closing. */
  #peerEnded(): boolean {
    const state = Atomics.load(this.#header, this.#peerState);
    return state === SideState.Closed || state === SideState.Dead;
  }

  /** True when the peer died: its thread's exit hook marked it DEAD, or (named) the kernel dropped its lock. */
  #peerDied(): boolean {
    const state = Atomics.load(this.#header, this.#peerState);
    if (state === SideState.Dead) return true;
    return this.#segment !== undefined && state === SideState.Open && !this.#segment.held(this.#peerLock);
  }

  #checkPeerAlive(): void {
    if (this.#peerDied()) {
      const pid = Atomics.load(this.#header, this.#peerPid);
      const gone = new PeerGoneError(
        `peer (pid ${pid}${Atomics.load(this.#header, this.#peerState) === SideState.Dead ? ', its thread ended without closing' : ''})`,
      );
      this.#peerGone = gone;
      this.#inbox.end(gone);
      this.#sendPump.queue.rejectAll(gone);
      throw gone;
    }
  }

  #encodeChecked(message: T): Uint8Array {
    const bytes = this.#codec.encode(message);
    if (bytes.length > this.#writer.maxPayload)
      throw new TooLargeError('message', bytes.length, this.#writer.maxPayload);
    return bytes;
  }

  /**
   * Writes now if there is room: true, or the encoded bytes (possibly the codec's buffer) to send later.
   * Small messages are encoded and copied in (one short copy beats setting up a target view); once a
   * message was large, the next ones are encoded straight into the ring.
   */
  #write(message: T): true | Uint8Array {
    const writer = this.#writer;
    let bytes: Uint8Array;
    if (this.#encodeInPlace) {
      const codec = this.#codec;
      const result = writer.tryEncode((target) => codec.encodeInto(message, target));
      if (result === true) return true;
      bytes = result;
    } else {
      bytes = this.#codec.encode(message);
    }
    if (bytes.length > writer.maxPayload) throw new TooLargeError('message', bytes.length, writer.maxPayload);
    this.#encodeInPlace = bytes.length >= IN_PLACE_BYTES && this.#codec !== (rawCodec as Codec<unknown>);
    return writer.tryWrite(bytes) ? true : bytes;
  }

  /**
   * Decodes the next frame, or NO_MESSAGE; once the peer closed and the ring is drained, ends the inbox.
   *
   * Finding nothing publishes what this end wrote and left for the end-of-task flush (ring.ts): a side that
   * looks for a reply is about to spin or sleep, and a `trySend` not yet visible to the peer would make both
   * sides wait (the peer for the message, this side for the reply to it). A busy stream, whose receiver finds
   * frames, keeps the batching.
   */
  #read(): T | typeof NO_MESSAGE {
    this.#release();
    if (this.#nextFrame() < 0) {
      this.#writer.flush();
      this.#endIfPeerClosed();
      return NO_MESSAGE;
    }
    this.#spinner.busy = true;
    return decodeFrame(this.#reader, this.#codec, this.#raw);
  }

  /**
   * Once the peer closed and everything it sent was read, every receive ends with ClosedError; once it
   * died (thread ended without close) and its messages were read, with PeerGoneError.
   */
  #endIfPeerClosed(): void {
    if (Atomics.load(this.#header, this.#peerState) === SideState.Dead && !this.#reader.hasFrame())
      this.#checkPeerAlive();
    if (this.#peerEnded() && !this.#reader.hasFrame()) {
      const ended = new ClosedError('channel (closed by the peer)');
      this.#inbox.end(ended);
      throw ended;
    }
  }

  /** The reader's next frame; a corrupt ring ends the channel for every receive (BadFrameError). */
  #nextFrame(): number {
    if (this.#corrupt !== undefined) throw this.#corrupt;
    try {
      return this.#reader.next();
    } catch (error) {
      if (error instanceof BadFrameError) {
        this.#corrupt = error;
        this.#inbox.end(error);
      }
      throw error;
    }
  }

  /** Gives back the frame `tryReceiveBytes` lent out. */
  #release(): void {
    if (this.#held) {
      this.#held = false;
      this.#reader.advance();
    }
  }

  /**
   * Spins for at most spinMicroseconds, but only while the channel is busy: a message was read since
   * the last spin that found nothing. So an idle channel spins once, then sleeps until a message comes.
   */
  #spin(): boolean {
    return this.#spinner.until(this.#hasFrame);
  }

  readonly #hasFrame = (): boolean => this.#reader.hasFrame();

  readonly #receivePump = new ReceivePump<T>({
    inbox: this.#inbox,
    closed: () => this.#closed,
    read: () => this.#read(),
    fatal: (error) => error === this.#corrupt,
    waitForFrame: () =>
      this.#reader.waitForFrame(this.#parkMs, () => this.#closed || this.#inbox.waiting === 0 || this.#peerEnded()),
    alive: () => {
      try {
        this.#checkPeerAlive();
        return true;
      } catch {
        return false;
      }
    },
  });

  readonly #sendPump = new SendPump({
    // A closing end still writes what it accepted; only a released one stops.
    closed: () => this.#released,
    ended: () => this.#peerEnded(),
    endedError: () => new PeerGoneError('peer (it closed the channel)'),
    tryWrite: (bytes) => this.#writer.tryWrite(bytes),
    waitForRoom: (bytes, stop) => this.#writer.waitForRoom(bytes.length, this.#parkMs, stop),
    // #checkPeerAlive rejects the queued sends itself (and ends the inbox) before it throws.
    checkAlive: () => this.#checkPeerAlive(),
    wakeProducer: () => this.#writer.wakeProducer(),
  });
}
