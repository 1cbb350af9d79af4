import {
  ClosedError,
  IncompatibleError,
  PeerGoneError,
  TimeoutError,
  TooLargeError,
  UnsupportedError,
  msgpackCodec,
  rawCodec,
  type Codec,
  type WaitOptions,
} from '@ipcx/core';
import { Inbox, NO_MESSAGE, checkCodec, checkWaitOptions, iterate, type WaitForNext } from '@ipcx/core/transport';
import {
  HEADER_BYTES,
  Header,
  Kind,
  RING_CONTROL_BYTES,
  SideState,
  Wake,
  checkHeader,
  initHeader,
  ringBytes,
  storedSize,
} from './layout.js';
import { MpscRingReader, MpscRingWriter } from './mpsc-ring.js';
import { decodeFrame } from './internal/ring-base.js';
import { atomicsWaker, futexWaker, loadNative, type Waker } from './internal/waker.js';
import { checkBlockingAllowed } from './internal/park.js';
import { checkMode, handleCodec } from './internal/options.js';
import { SendPump } from './internal/send-pump.js';
import { ReceivePump } from './internal/receive-pump.js';
import { LOCK_SIDE_A, type Segment, createSegment, openSegment, unlinkSegment } from './segment.js';

/** Options of a fan-in ring (`new FanIn`). */
export interface FanInOptions<T> {
  /** Ring bytes, a power of two. Default 256 KiB; a message is at most half. */
  bufferBytes?: number;
  /** Default `msgpackCodec`; every sender must use the receiver's codec. */
  codec?: Codec<T>;
}

/** Options of `FanIn.create` (a named ring, for senders in other processes). */
export interface NamedFanInOptions<T> extends FanInOptions<T> {
  /** Permissions of the segment. Default 0o600. */
  mode?: number;
}

/** Options of `FanIn.open` and `FanIn.from` (a sender). */
export interface FanInSenderOptions<T> {
  /** The receiver's codec (a custom one must be passed again; built-in ones are found by name). */
  codec?: Codec<T>;
  /** `open`: the widest permissions accepted on the segment found. Default 0o600. */
  mode?: number;
}

/** What `FanIn.from` needs in a worker thread (from `handle()`). */
export interface FanInHandle {
  readonly buffer: SharedArrayBuffer;
  readonly codec: string;
}

/** The ring starts right after the header. */
const RING_OFFSET = HEADER_BYTES;
const fanInBytes = (capacity: number): number => HEADER_BYTES + RING_CONTROL_BYTES + capacity;
/** Writes a fresh fan-in header (the receiver's pid, the ring's size, how it wakes). */
function initFanIn(buffer: SharedArrayBuffer, capacity: number, wake: Wake): void {
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  Atomics.store(header, Header.PidA, process.pid);
  initHeader(header, Kind.FanIn, capacity, wake);
}

/** Named rings: how often a sender waiting for room checks that the receiving process lives (ms). */
const RECEIVER_CHECK_MS = 500;

/**
 * Fan-in over shared memory: many senders (threads or processes), one receiver, one
 * multi-producer ring. Order is kept per sender; across senders, messages interleave as they commit.
 *
 * @example
 * ```ts
 * const inbox = new FanIn<{ from: number }>();
 * for (const worker of workers) worker.postMessage(inbox.handle()); // each: FanIn.from(handle).send(...)
 * for await (const message of inbox) console.log(message.from);
 * // between processes: await FanIn.create(name) here, await FanIn.open(name) in each sender
 * ```
 */
export class FanIn<T = unknown> implements AsyncIterable<T>, AsyncDisposable {
  readonly #buffer: SharedArrayBuffer;
  readonly #header: Int32Array;
  readonly #reader: MpscRingReader;
  readonly #codec: Codec<T>;
  readonly #inbox = new Inbox<T>();
  readonly #named: boolean;
  readonly #segment: Segment | undefined;
  #closed = false;

  /** A new ring for the threads of this process; senders in workers use `FanIn.from(inbox.handle())`. */
  constructor(options?: FanInOptions<T>);
  constructor(options: FanInOptions<T> = {}, named?: { segment: Segment; waker: Waker }) {
    const codec = checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
    let buffer: SharedArrayBuffer;
    if (named === undefined) {
      buffer = new SharedArrayBuffer(fanInBytes(ringBytes(options.bufferBytes)));
      initFanIn(buffer, ringBytes(options.bufferBytes), Wake.Atomics);
    } else {
      buffer = named.segment.buffer;
    }
    const waker = named?.waker ?? atomicsWaker;
    const segment = named?.segment;
    this.#buffer = buffer;
    this.#header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    const capacity = storedSize(this.#header, buffer, 'fan-in ring', true, fanInBytes);
    this.#reader = new MpscRingReader(buffer, RING_OFFSET, capacity, waker);
    this.#codec = codec;
    this.#named = waker.kind === 'futex';
    this.#segment = segment;
    Atomics.store(this.#header, Header.StateA, SideState.Open);
  }

  /**
   * Creates a named ring and returns its receiver; senders in other processes `FanIn.open(name)`. This
   * process owns the name: close unlinks it. A live ring of that name is `AlreadyExistsError`.
   */
  static async create<T = unknown>(name: string, options: NamedFanInOptions<T> = {}): Promise<FanIn<T>> {
    const capacity = ringBytes(options.bufferBytes);
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const { segment } = await createSegment(name, fanInBytes(capacity), mode, (buffer) =>
      initFanIn(buffer, capacity, Wake.Futex),
    );
    return new (FanIn as new (o: FanInOptions<T>, n: { segment: Segment; waker: Waker }) => FanIn<T>)(options, {
      segment,
      waker: futexWaker(native),
    });
  }

  /** A sender into the named ring another process created (`NotFoundError` when there is none). */
  static async open<T = unknown>(name: string, options: FanInSenderOptions<T> = {}): Promise<FanInSender<T>> {
    const mode = checkMode(options.mode);
    const native = await loadNative();
    const segment = await openSegment(name, 'fan-in ring', HEADER_BYTES, mode);
    try {
      checkHeader(new Int32Array(segment.buffer, 0, HEADER_BYTES / 4), Kind.FanIn, 'fan-in ring');
      return new FanInSender<T>(
        segment.buffer,
        futexWaker(native),
        checkCodec(options.codec, msgpackCodec as Codec<T>, ['encode', 'decode']),
        segment,
      );
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  /** A sender in a worker thread, from the receiver's `handle()`. */
  static from<T = unknown>(handle: FanInHandle, options: Pick<FanInSenderOptions<T>, 'codec'> = {}): FanInSender<T> {
    if (!(handle?.buffer instanceof SharedArrayBuffer))
      throw new IncompatibleError('the handle', "from takes what a FanIn's handle() returned");
    const codec = handleCodec(handle.codec, options.codec, 'fan-in ring');
    return new FanInSender<T>(handle.buffer, atomicsWaker, codec);
  }

  /** Removes a named ring's segment (one left by a crashed receiver); true if it was there. */
  static unlink(name: string): Promise<boolean> {
    return unlinkSegment(name);
  }

  /** What a worker thread needs to make a sender (`FanIn.from`); the receiver keeps working here. */
  handle(): FanInHandle {
    // A named ring sleeps on the native futex, which Atomics.notify (a handle's sender) does not wake.
    if (this.#named) throw new UnsupportedError('a handle of a named fan-in ring; open it by name');
    return { buffer: this.#buffer, codec: this.#codec.name };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next message from any sender. */
  receive(options?: WaitOptions): Promise<T> {
    let value: T | typeof NO_MESSAGE;
    try {
      if (this.#closed) throw new ClosedError('fan-in');
      checkWaitOptions(options);
      value = this.#readFirst();
    } catch (error) {
      return Promise.reject(error);
    }
    if (value !== NO_MESSAGE) return Promise.resolve(value);
    const received = this.#inbox.receive('receive', options);
    void this.#pump.start();
    if (options !== undefined) received.catch(() => this.#inbox.waiting === 0 && this.#reader.wakeConsumer());
    return received;
  }

  /** `for await` once `#poll` found nothing: `receive`, settling the iterator's result from the inbox itself. */
  readonly #waitForNext: WaitForNext<T> = (received, end) => {
    if (this.#closed) throw new ClosedError('fan-in');
    const value = this.#readFirst();
    return value !== NO_MESSAGE ? Promise.resolve(received(value)) : this.#pump.waitForNext(received, end);
  };

  /** A message read now, when nobody waits in line before this receive; else NO_MESSAGE. */
  #readFirst(): T | typeof NO_MESSAGE {
    return this.#inbox.size === 0 && this.#inbox.waiting === 0 ? this.#read() : NO_MESSAGE;
  }

  /** The next message if one is committed, else undefined. */
  tryReceive(): T | undefined {
    const value = this.#poll();
    return value === NO_MESSAGE ? undefined : value;
  }

  /** The next message without waiting, or NO_MESSAGE (a message that decodes to `undefined` is still one). */
  #poll(): T | typeof NO_MESSAGE {
    if (this.#closed) throw new ClosedError('fan-in');
    if (this.#inbox.size > 0) return this.#inbox.shift() as T;
    return this.#read();
  }

  /** Blocks (workers only) until a message arrives. */
  receiveSync(options: { timeout?: number } = {}): T {
    checkBlockingAllowed('receive');
    checkWaitOptions(options);
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    for (;;) {
      if (this.#closed) throw new ClosedError('fan-in');
      const value = this.#read();
      if (value !== NO_MESSAGE) return value;
      const left = end - performance.now();
      if (left <= 0) throw new TimeoutError('receive', options.timeout);
      this.#reader.waitForFrameSync(left, () => this.#closed);
    }
  }

  /**
   * Every message until the ring is closed: what already arrived is taken without waiting (at the speed of
   * `tryReceive`), and only an empty ring waits in `receive`. Leaving the loop early does not close it.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(
      () => this.receive(),
      () => this.#closed,
      () => this.#poll(),
      this.#waitForNext,
    );
  }

  /**
   * Stops receiving: pending receives reject with `ClosedError`, senders' later sends fail with
   * `PeerGoneError`. A named ring's creator unlinks the name. Idempotent.
   */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (a receiver has nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#header, Header.StateA, SideState.Closed);
    this.#inbox.fail(new ClosedError('fan-in'));
    this.#reader.wakeConsumer();
    this.#reader.wakeProducers();
    this.#segment?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #read(): T | typeof NO_MESSAGE {
    if (this.#reader.next() < 0) return NO_MESSAGE;
    return decodeFrame(this.#reader, this.#codec, this.#codec === (rawCodec as Codec<unknown>));
  }

  readonly #pump = new ReceivePump<T>({
    inbox: this.#inbox,
    closed: () => this.#closed,
    read: () => this.#read(),
    fatal: () => false,
    waitForFrame: () =>
      this.#reader.waitForFrame(Number.POSITIVE_INFINITY, () => this.#closed || this.#inbox.waiting === 0),
    alive: () => true,
  });
}

/** One sender into a `FanIn`; any number may exist, in any thread or process. */
export class FanInSender<T = unknown> implements AsyncDisposable {
  readonly #header: Int32Array;
  readonly #writer: MpscRingWriter;
  readonly #codec: Codec<T>;
  /** How long a wait for room sleeps before it checks that the receiving process lives (named rings). */
  readonly #parkMs: number;
  #closed = false;
  #released = false;
  #closing: Promise<void> | undefined;
  readonly #segment: Segment | undefined;

  /** @internal Use `FanIn.open` or `FanIn.from`. */
  constructor(buffer: SharedArrayBuffer, waker: Waker, codec: Codec<T>, segment?: Segment) {
    this.#segment = segment;
    this.#header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    checkHeader(this.#header, Kind.FanIn, 'fan-in ring');
    this.#writer = new MpscRingWriter(
      buffer,
      RING_OFFSET,
      storedSize(this.#header, buffer, 'fan-in ring', true, fanInBytes),
      waker,
    );
    this.#codec = codec;
    this.#parkMs = waker.kind === 'futex' ? RECEIVER_CHECK_MS : Number.POSITIVE_INFINITY;
  }

  /** True once this sender was closed or destroyed, or the receiver closed (sends would fail). */
  get closed(): boolean {
    return this.#closed || this.#receiverClosed();
  }

  /** Sends, waiting for room while the ring is full. */
  send(message: T, options?: WaitOptions): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(message);
      checkWaitOptions(options);
      if (this.#sendPump.queue.size === 0 && this.#writer.tryWrite(bytes)) return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendPump.send(bytes, options);
  }

  /** Sends if there is room now; false when full. */
  trySend(message: T): boolean {
    const bytes = this.#encode(message);
    return this.#sendPump.queue.size === 0 && this.#writer.tryWrite(bytes);
  }

  /** Sends, blocking while the ring is full (workers only). */
  sendSync(message: T, options: { timeout?: number } = {}): void {
    checkBlockingAllowed('send');
    checkWaitOptions(options);
    // Writing ahead of queued async sends would break this sender's order.
    if (this.#sendPump.queue.size > 0) throw new UnsupportedError('sendSync while async sends are waiting');
    const bytes = this.#encode(message);
    const end = options.timeout === undefined ? Number.POSITIVE_INFINITY : performance.now() + options.timeout;
    while (!this.#writer.tryWrite(bytes)) {
      const left = end - performance.now();
      if (left <= 0) throw new TimeoutError('send', options.timeout);
      if (
        this.#writer.waitForRoomSync(bytes.length, Math.min(left, this.#parkMs), () => this.#receiverClosed()) ===
        'timed-out'
      )
        this.#checkReceiverAlive();
      this.#encodeCheckOpen();
    }
  }

  /**
   * Stops sending here (the ring stays the receiver's): later sends fail with `ClosedError`; sends already
   * waiting for room are written first (or fail if the receiver goes). Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#sendPump.queue.drained().then(() => this.destroy());
    this.#closed = true;
    return this.#closing;
  }

  /** Stops sending now: sends waiting for room reject (with `error`, else `ClosedError`). Idempotent. */
  destroy(error?: Error): void {
    this.#closed = true;
    this.#closing ??= Promise.resolve();
    if (this.#released) return;
    this.#released = true;
    this.#sendPump.queue.rejectAll(error ?? new ClosedError('fan-in sender'));
    this.#writer.wakeProducers();
    this.#segment?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #receiverClosed(): boolean {
    return Atomics.load(this.#header, Header.StateA) === SideState.Closed;
  }

  /** A receiver that died without closing (the kernel dropped its lock): `PeerGoneError` rather than a wait for ever. */
  #checkReceiverAlive(): void {
    if (this.#segment !== undefined && !this.#segment.held(LOCK_SIDE_A)) {
      throw new PeerGoneError(`fan-in receiver (pid ${Atomics.load(this.#header, Header.PidA)})`);
    }
  }

  #encodeCheckOpen(): void {
    if (this.#closed) throw new ClosedError('fan-in sender');
    if (this.#receiverClosed()) throw new PeerGoneError('fan-in receiver (it closed the ring)');
  }

  #encode(message: T): Uint8Array {
    this.#encodeCheckOpen();
    const bytes = this.#codec.encode(message);
    if (bytes.length > this.#writer.maxPayload)
      throw new TooLargeError('message', bytes.length, this.#writer.maxPayload);
    return bytes;
  }

  readonly #sendPump = new SendPump({
    // A closing sender still writes what it accepted; only a released one stops.
    closed: () => this.#released,
    ended: () => this.#receiverClosed(),
    endedError: () => new PeerGoneError('fan-in receiver (it closed the ring)'),
    tryWrite: (bytes) => this.#writer.tryWrite(bytes),
    waitForRoom: (bytes, stop) => this.#writer.waitForRoom(bytes.length, this.#parkMs, stop),
    checkAlive: () => this.#checkReceiverAlive(),
    wakeProducer: () => this.#writer.wakeProducers(),
  });
}
