/**
 * A wake-up between processes that know only each other's pid.
 *
 * The receiver creates a small POSIX shared-memory mailbox named after its pid (`/ipcx-doorbell-<pid>`)
 * and listens to a realtime signal. A sender opens the mailbox by the pid, claims a free slot with a
 * compare-and-swap, writes its bytes, marks the slot full, and rings: sigqueue(pid, signal, slot). The
 * kernel queues realtime signals in order with the sender's pid and uid, so the receiver takes the slots
 * in the order they were rung, and learns who rang without trusting the mailbox. A ring without data
 * uses no slot (value -1).
 *
 * With `wake: 'futex'` (the receiver opts in; ringers follow what the mailbox says) no signal is sent: the
 * ringer bumps a sequence word in the mailbox and wakes it with a shared futex, and the receiver waits on
 * it with `futex.waitAsync` (the event loop's io_uring, or a native waiter thread). Rings from one ringer keep their order (each takes a ticket before it is
 * published, and the receiver takes published slots in ticket order); the ringer's pid is what it wrote
 * in the slot rather than what the kernel vouches for, and the uid is the mailbox owner's (it is 0600).
 *
 * Who owns what: the receiver creates and unlinks the mailbox (registered in `@ipcx/core`'s registry);
 * senders only map it. A mailbox named after this process's pid can only be left over from a dead
 * process that had the same pid, so the receiver replaces it.
 */
import {
  AlreadyExistsError,
  ClosedError,
  FullError,
  IncompatibleError,
  NotFoundError,
  PermissionError,
  TooLargeError,
  isIpcError,
  type WaitOptions,
} from '@ipcx/core';
import {
  fromSystemError,
  iterate,
  registerKernelObject,
  Inbox,
  type KernelObjectRegistration,
} from '@ipcx/core/transport';
import { checkEnum, checkInteger } from '@ipcx/core/transport';
import { futex, shm } from '@ipcx/native';

import { ignoreSignal, onSignal, sendSignal, type Disposer } from './handlers.js';
import { ImmediateResource } from './internal/resource.js';
import { catchableSignal, resolveSignal, type SignalName } from './names.js';

// Layout of the mailbox. Header (32 bytes), then `slots` slots of SLOT_HEADER + slotBytes (8-aligned).
const MAGIC = 0x4244_5049; // 'IPDB' little-endian
const VERSION = 1;
const H_MAGIC = 0; // u32
const H_VERSION = 1; // u32
const H_SIGNAL = 2; // i32: the realtime signal number to ring with
const H_SLOTS = 3; // u32
const H_SLOT_BYTES = 4; // u32
const H_PID = 5; // i32: the receiver's pid
const H_WAKE = 6; // i32: WAKE_SIGNAL or WAKE_FUTEX
const H_SEQ = 7; // i32: bumped by each futex ring; the futex word
const H_TICKET = 8; // i32: the next ticket a futex ring takes
const HEADER_BYTES = 48;
// Per slot, in i32 words: state, length (-1: a ring without data, futex mode), sender pid, ticket.
const S_STATE = 0;
const S_LENGTH = 1;
const S_PID = 2;
const S_TICKET = 3;
const SLOT_HEADER = 16;
const WAKE_SIGNAL = 0;
const WAKE_FUTEX = 1;
// Slot states. A sender moves FREE → CLAIMED (CAS) → FULL (store after the bytes); the receiver FULL → FREE.
const FREE = 0;
const CLAIMED = 1;
const FULL = 2;

const NO_SLOT = -1;

/** A ring the receiver got. */
export interface DoorbellRing {
  /** The sender's pid and uid, as the kernel reported them with the signal. */
  pid: number;
  uid: number;
  /** The bytes sent with the ring (a copy the caller owns), if any. */
  data?: Uint8Array;
}

/** Options of {@link Doorbell.create}. */
export interface DoorbellOptions {
  /** The realtime signal to be rung with (default 'SIGRTMIN+4'); senders read it from the mailbox. */
  signal?: SignalName;
  /** Rings with data that may wait unread at once (default 16, at most 1024). */
  capacity?: number;
  /** The most bytes of data one ring carries (default 256, at most 65 536). */
  maxMessageBytes?: number;
  /**
   * How a ring wakes the receiver: 'signal' (default; the kernel vouches for the ringer's pid and uid) or
   * 'futex' (no signal; a pending futex wait, which keeps the process alive while open).
   */
  wake?: 'signal' | 'futex';
}

/** Options of {@link Doorbell.ring}. */
export interface RingOptions {
  /** Bytes to leave in the receiver's mailbox with the ring. */
  data?: Uint8Array;
}

let openHere: Doorbell | undefined;
// Signals of closed doorbells, ignored for the rest of the process's life (see close()).
const lateRings = new Set<SignalName>();

function mailboxName(pid: number): string {
  return `/ipcx-doorbell-${pid}`;
}

function slotOffset(index: number, slotBytes: number): number {
  return HEADER_BYTES + index * (SLOT_HEADER + align8(slotBytes));
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * The receiving side: `for await (const { pid, data } of bell)`.
 * @example
 * const bell = await Doorbell.create();           // in process A (pid 1234)
 * for await (const { pid, data } of bell) console.log(pid, data);
 * Doorbell.ring(1234, { data: Buffer.from('hi') }); // in process B
 */
export class Doorbell extends ImmediateResource implements AsyncIterable<DoorbellRing> {
  /** The mailbox's name in /dev/shm. */
  readonly name: string;
  /** The signal this doorbell is rung with. */
  readonly signal: SignalName;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #slots: number;
  readonly #slotBytes: number;
  readonly #inbox = new Inbox<DoorbellRing>();
  readonly #off: Disposer | undefined;
  readonly #abort = new AbortController();
  readonly #registration: KernelObjectRegistration;
  readonly #keepAlive: NodeJS.Timeout;

  /** How rings wake this doorbell. */
  readonly wake: 'signal' | 'futex';

  private constructor(
    name: string,
    signal: SignalName,
    buffer: SharedArrayBuffer,
    slots: number,
    slotBytes: number,
    wake: 'signal' | 'futex',
  ) {
    super();
    this.name = name;
    this.signal = signal;
    this.wake = wake;
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#slots = slots;
    this.#slotBytes = slotBytes;
    this.#registration = registerKernelObject({
      kind: 'shm',
      name,
      owner: '@ipcx/signals',
      unlink: () => unlinkQuietly(name),
    });
    this.#off =
      wake === 'signal' ? onSignal(signal, ({ value, pid, uid }) => this.#take(value!, pid!, uid!)) : undefined;
    this.#keepAlive = setInterval(() => {}, 0x7fffffff);
    if (wake === 'futex') void this.#waitLoop();
  }

  /**
   * Creates this process's mailbox and starts listening. One doorbell per process.
   * @throws AlreadyExistsError when this process has one open; UnsupportedError for a signal that is not realtime.
   */
  static async create(options: DoorbellOptions = {}): Promise<Doorbell> {
    const resolved = catchableSignal(options.signal ?? 'SIGRTMIN+4');
    if (!resolved.realtime)
      throw new TypeError(`a doorbell rings with a realtime signal (it carries the slot), got ${resolved.name}`);
    const slots = checkInteger('capacity', options.capacity, { min: 1, max: 1024, default: 16 });
    const slotBytes = checkInteger('maxMessageBytes', options.maxMessageBytes, { min: 1, max: 65_536, default: 256 });
    const wake = checkEnum('wake', options.wake, ['signal', 'futex'] as const, 'signal');
    if (openHere && !openHere.closed) throw new AlreadyExistsError(`a doorbell in this process (${openHere.name})`);
    const name = mailboxName(process.pid);
    const size = slotOffset(slots, slotBytes);
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(name, { create: true, exclusive: true, size }).buffer;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST')
        throw fromSystemError(`creating doorbell mailbox ${name}`, error);
      // Left by a dead process that had our pid (a live one cannot have it).
      unlinkQuietly(name);
      try {
        buffer = shm.open(name, { create: true, exclusive: true, size }).buffer;
      } catch (again) {
        throw fromSystemError(`creating doorbell mailbox ${name}`, again);
      }
    }
    const i32 = new Int32Array(buffer);
    i32[H_VERSION] = VERSION;
    i32[H_SIGNAL] = resolved.number;
    i32[H_SLOTS] = slots;
    i32[H_SLOT_BYTES] = slotBytes;
    i32[H_PID] = process.pid;
    i32[H_WAKE] = wake === 'futex' ? WAKE_FUTEX : WAKE_SIGNAL;
    Atomics.store(i32, H_MAGIC, MAGIC); // last: a sender that sees the magic sees the rest
    try {
      openHere = new Doorbell(name, resolved.name, buffer, slots, slotBytes, wake);
    } catch (error) {
      unlinkQuietly(name);
      throw error;
    }
    return openHere;
  }

  /**
   * Rings the doorbell of process `pid`, leaving `data` in its mailbox (`ring(pid, bytes)` is short for
   * `ring(pid, { data: bytes })`).
   * @throws NotFoundError when `pid` has no doorbell (or is gone), FullError when its mailbox has no free
   * slot, TooLargeError when `data` exceeds its slot size, PermissionError for another user's doorbell.
   */
  static ring(pid: number, options: RingOptions | Uint8Array = {}): void {
    if (!Number.isInteger(pid) || pid < 1) throw new RangeError(`pid must be a positive integer, got ${String(pid)}`);
    const data = options instanceof Uint8Array ? options : options.data;
    if (data !== undefined && !(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    const name = mailboxName(pid);
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(name).buffer;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT')
        throw new NotFoundError(`doorbell of process ${pid}`, { cause: error });
      throw fromSystemError(`opening the doorbell of process ${pid}`, error);
    }
    const i32 = new Int32Array(buffer);
    const magic = buffer.byteLength < HEADER_BYTES ? 0 : Atomics.load(i32, H_MAGIC);
    // A zero magic: the receiver is between creating the mailbox and filling its header.
    if (magic === 0) throw new NotFoundError(`doorbell of process ${pid} (its mailbox is not ready yet)`);
    if (magic !== MAGIC) throw new IncompatibleError(`doorbell ${name}`, 'not a doorbell mailbox');
    if (i32[H_VERSION] !== VERSION)
      throw new IncompatibleError(
        `doorbell ${name}`,
        `layout version ${i32[H_VERSION]}, this library speaks ${VERSION}`,
      );
    if (i32[H_PID] !== pid)
      throw new NotFoundError(`doorbell of process ${pid} (the mailbox belongs to ${i32[H_PID]})`);
    const signal = resolveSignal(i32[H_SIGNAL]!).name;
    const byFutex = i32[H_WAKE] === WAKE_FUTEX;
    if (byFutex) {
      // No signal to fail with ESRCH: a mailbox left by a dead receiver must not swallow rings.
      try {
        process.kill(pid, 0);
      } catch (error) {
        if ((error as { code?: string }).code === 'ESRCH')
          throw new NotFoundError(`doorbell of process ${pid} (the process is gone)`, { cause: error });
      }
    } else if (data === undefined) {
      ringWith(pid, signal, NO_SLOT);
      return;
    }
    const slots = i32[H_SLOTS]!;
    const slotBytes = i32[H_SLOT_BYTES]!;
    if (buffer.byteLength < slotOffset(slots, slotBytes))
      throw new IncompatibleError(`doorbell ${name}`, 'smaller than its header says');
    if (data !== undefined && data.byteLength > slotBytes)
      throw new TooLargeError(`doorbell data for process ${pid}`, data.byteLength, slotBytes);
    // Start the search at a different slot each time so concurrent senders rarely collide.
    const start = (process.pid + Date.now()) % slots;
    for (let k = 0; k < slots; k++) {
      const index = (start + k) % slots;
      const base = slotOffset(index, slotBytes);
      const w = base / 4;
      if (Atomics.compareExchange(i32, w + S_STATE, FREE, CLAIMED) !== FREE) continue;
      if (data !== undefined) new Uint8Array(buffer, base + SLOT_HEADER, data.byteLength).set(data);
      i32[w + S_LENGTH] = data === undefined ? -1 : data.byteLength;
      i32[w + S_PID] = process.pid;
      if (byFutex) {
        i32[w + S_TICKET] = Atomics.add(i32, H_TICKET, 1);
        Atomics.store(i32, w + S_STATE, FULL); // publishes the bytes above
        Atomics.add(i32, H_SEQ, 1);
        futex.notify(i32, H_SEQ, 1);
        return;
      }
      Atomics.store(i32, w + S_STATE, FULL); // publishes the bytes above
      try {
        ringWith(pid, signal, index);
      } catch (error) {
        Atomics.store(i32, w + S_STATE, FREE);
        throw error;
      }
      return;
    }
    throw new FullError(`doorbell mailbox of process ${pid} (${slots} rings unread)`);
  }

  /** The next ring, in the order rung. @throws ClosedError after close, TimeoutError, AbortedError. */
  receive(options?: WaitOptions): Promise<DoorbellRing> {
    return this.#inbox.receive('doorbell receive', options);
  }

  /** Lets the process exit while the doorbell is open. */
  unref(): this {
    this.#keepAlive.unref();
    return this;
  }

  /** Keeps the process alive while open (the default). */
  ref(): this {
    this.#keepAlive.ref();
    return this;
  }

  /**
   * Stops listening and unlinks the mailbox; a pending `receive` and every later one reject with `ClosedError`. Idempotent. The
   * signal stays ignored afterwards: a sender that opened the mailbox just before may still ring, and
   * the default action of a realtime signal is to terminate.
   */
  protected release(): void {
    this.#abort.abort();
    if (this.#off && !lateRings.has(this.signal)) {
      lateRings.add(this.signal);
      ignoreSignal(this.signal);
    }
    this.#off?.();
    clearInterval(this.#keepAlive);
    unlinkQuietly(this.name);
    this.#registration.unregister();
    this.#inbox.fail(new ClosedError('doorbell'));
    if (openHere === this) openHere = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<DoorbellRing> {
    return iterate(() => this.receive());
  }

  /** Futex mode: takes every published slot in ticket order, then sleeps until the sequence word moves. */
  async #waitLoop(): Promise<void> {
    const i32 = this.#i32;
    const uid = process.getuid?.() ?? 0;
    while (!this.closed) {
      const seen = Atomics.load(i32, H_SEQ);
      const ready: { index: number; ticket: number }[] = [];
      for (let index = 0; index < this.#slots; index++) {
        const w = slotOffset(index, this.#slotBytes) / 4;
        if (Atomics.load(i32, w + S_STATE) === FULL) ready.push({ index, ticket: i32[w + S_TICKET]! });
      }
      // Tickets wrap at 2^31: compare by difference, not by value.
      ready.sort((a, b) => (a.ticket - b.ticket) | 0);
      for (const { index } of ready) {
        const base = slotOffset(index, this.#slotBytes);
        const w = base / 4;
        const length = i32[w + S_LENGTH]!;
        const pid = i32[w + S_PID]!;
        const data =
          length < 0
            ? undefined
            : this.#u8.slice(base + SLOT_HEADER, base + SLOT_HEADER + Math.min(length, this.#slotBytes));
        Atomics.store(i32, w + S_STATE, FREE);
        this.#inbox.push(data === undefined ? { pid, uid } : { pid, uid, data });
      }
      try {
        await futex.waitAsync(i32, H_SEQ, seen, undefined, { signal: this.#abort.signal });
      } catch {
        return; // closed
      }
    }
  }

  #take(value: number, pid: number, uid: number): void {
    if (value === NO_SLOT) {
      this.#inbox.push({ pid, uid });
      return;
    }
    if (!Number.isInteger(value) || value < 0 || value >= this.#slots) return; // not a ring of ours
    const base = slotOffset(value, this.#slotBytes);
    const w = base / 4;
    if (Atomics.load(this.#i32, w + S_STATE) !== FULL) return;
    const length = Math.min(this.#i32[w + S_LENGTH]!, this.#slotBytes);
    const data = this.#u8.slice(base + SLOT_HEADER, base + SLOT_HEADER + length);
    Atomics.store(this.#i32, w + S_STATE, FREE);
    this.#inbox.push({ pid, uid, data });
  }
}

function ringWith(pid: number, signal: SignalName, value: number): void {
  try {
    sendSignal(pid, signal, { value });
  } catch (error) {
    if (isIpcError(error) && error.code === 'IPCX_ERR_NOT_FOUND')
      throw new NotFoundError(`doorbell of process ${pid} (the process is gone)`, { cause: error });
    if (isIpcError(error) && error.code === 'IPCX_ERR_PERMISSION')
      throw new PermissionError(`ringing the doorbell of process ${pid}`, { cause: error });
    throw error;
  }
}

function unlinkQuietly(name: string): void {
  try {
    shm.unlink(name);
  } catch {
    // already gone
  }
}
