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
  fromSystemError,
  isIpcError,
  iterate,
  registerKernelObject,
  Inbox,
  type KernelObjectRegistration,
  type WaitOptions,
} from '@ipcx/core';
import { shm } from '@ipcx/native';

import { ignoreSignal, onSignal, sendSignal, type Disposer } from './handlers.js';
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
const HEADER_BYTES = 32;
// Per slot, in i32 words: state, length, sender pid, reserved.
const S_STATE = 0;
const S_LENGTH = 1;
const S_PID = 2;
const SLOT_HEADER = 16;
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
  slots?: number;
  /** Bytes of data per ring (default 256, at most 65 536). */
  slotBytes?: number;
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

function intOption(value: number | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

/**
 * The receiving side: `for await (const { pid, data } of bell)`.
 * @example
 * const bell = Doorbell.create();                 // in process A (pid 1234)
 * for await (const { pid, data } of bell) console.log(pid, data);
 * Doorbell.ring(1234, { data: Buffer.from('hi') }); // in process B
 */
export class Doorbell implements AsyncIterable<DoorbellRing>, AsyncDisposable {
  /** The mailbox's name in /dev/shm. */
  readonly name: string;
  /** The signal this doorbell is rung with. */
  readonly signal: SignalName;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #slots: number;
  readonly #slotBytes: number;
  readonly #inbox = new Inbox<DoorbellRing>();
  readonly #off: Disposer;
  readonly #registration: KernelObjectRegistration;
  readonly #keepAlive: NodeJS.Timeout;
  #closed = false;

  private constructor(name: string, signal: SignalName, buffer: SharedArrayBuffer, slots: number, slotBytes: number) {
    this.name = name;
    this.signal = signal;
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#slots = slots;
    this.#slotBytes = slotBytes;
    this.#registration = registerKernelObject({ kind: 'shm', name, owner: '@ipcx/signals', unlink: () => unlinkQuietly(name) });
    this.#off = onSignal(signal, ({ value, pid, uid }) => this.#take(value!, pid!, uid!));
    this.#keepAlive = setInterval(() => {}, 0x7fffffff);
  }

  /**
   * Creates this process's mailbox and starts listening. One doorbell per process.
   * @throws AlreadyExistsError when this process has one open; UnsupportedError for a signal that is not realtime.
   */
  static create(options: DoorbellOptions = {}): Doorbell {
    const resolved = catchableSignal(options.signal ?? 'SIGRTMIN+4');
    if (!resolved.realtime) throw new TypeError(`a doorbell rings with a realtime signal (it carries the slot), got ${resolved.name}`);
    const slots = intOption(options.slots, 'slots', 16, 1, 1024);
    const slotBytes = intOption(options.slotBytes, 'slotBytes', 256, 1, 65_536);
    if (openHere && !openHere.closed) throw new AlreadyExistsError(`a doorbell in this process (${openHere.name})`);
    const name = mailboxName(process.pid);
    const size = slotOffset(slots, slotBytes);
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(name, { create: true, exclusive: true, size }).buffer;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw fromSystemError(`creating doorbell mailbox ${name}`, error);
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
    Atomics.store(i32, H_MAGIC, MAGIC); // last: a sender that sees the magic sees the rest
    try {
      openHere = new Doorbell(name, resolved.name, buffer, slots, slotBytes);
    } catch (error) {
      unlinkQuietly(name);
      throw error;
    }
    return openHere;
  }

  /**
   * Rings the doorbell of process `pid`, leaving `data` in its mailbox.
   * @throws NotFoundError when `pid` has no doorbell (or is gone), FullError when its mailbox has no free
   * slot, TooLargeError when `data` exceeds its slot size, PermissionError for another user's doorbell.
   */
  static ring(pid: number, options: RingOptions = {}): void {
    if (!Number.isInteger(pid) || pid < 1) throw new RangeError(`pid must be a positive integer, got ${String(pid)}`);
    const data = options.data;
    if (data !== undefined && !(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    const name = mailboxName(pid);
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(name).buffer;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') throw new NotFoundError(`doorbell of process ${pid}`, { cause: error });
      throw fromSystemError(`opening the doorbell of process ${pid}`, error);
    }
    const i32 = new Int32Array(buffer);
    if (buffer.byteLength < HEADER_BYTES || Atomics.load(i32, H_MAGIC) !== MAGIC) throw new IncompatibleError(`doorbell ${name}`, 'not a doorbell mailbox (or not yet initialised)');
    if (i32[H_VERSION] !== VERSION) throw new IncompatibleError(`doorbell ${name}`, `layout version ${i32[H_VERSION]}, this library speaks ${VERSION}`);
    if (i32[H_PID] !== pid) throw new NotFoundError(`doorbell of process ${pid} (the mailbox belongs to ${i32[H_PID]})`);
    const signal = resolveSignal(i32[H_SIGNAL]!).name;
    if (data === undefined) {
      ringWith(pid, signal, NO_SLOT);
      return;
    }
    const slots = i32[H_SLOTS]!;
    const slotBytes = i32[H_SLOT_BYTES]!;
    if (buffer.byteLength < slotOffset(slots, slotBytes)) throw new IncompatibleError(`doorbell ${name}`, 'smaller than its header says');
    if (data.byteLength > slotBytes) throw new TooLargeError(`doorbell data for process ${pid}`, data.byteLength, slotBytes);
    // Start the search at a different slot each time so concurrent senders rarely collide.
    const start = (process.pid + Date.now()) % slots;
    for (let k = 0; k < slots; k++) {
      const index = (start + k) % slots;
      const base = slotOffset(index, slotBytes);
      const w = base / 4;
      if (Atomics.compareExchange(i32, w + S_STATE, FREE, CLAIMED) !== FREE) continue;
      new Uint8Array(buffer, base + SLOT_HEADER, data.byteLength).set(data);
      i32[w + S_LENGTH] = data.byteLength;
      i32[w + S_PID] = process.pid;
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

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
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
   * Stops listening and unlinks the mailbox; rings already taken are still handed out. Idempotent. The
   * signal stays ignored afterwards: a sender that opened the mailbox just before may still ring, and
   * the default action of a realtime signal is to terminate.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!lateRings.has(this.signal)) {
      lateRings.add(this.signal);
      ignoreSignal(this.signal);
    }
    this.#off();
    clearInterval(this.#keepAlive);
    unlinkQuietly(this.name);
    this.#registration.unregister();
    this.#inbox.end(new ClosedError('doorbell'));
    if (openHere === this) openHere = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<DoorbellRing> {
    return iterate(() => this.receive());
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
    if (isIpcError(error) && error.code === 'IPCX_ERR_NOT_FOUND') throw new NotFoundError(`doorbell of process ${pid} (the process is gone)`, { cause: error });
    if (isIpcError(error) && error.code === 'IPCX_ERR_PERMISSION') throw new PermissionError(`ringing the doorbell of process ${pid}`, { cause: error });
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
