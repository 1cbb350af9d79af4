import { fchmodSync, fstatSync } from 'node:fs';
import { FdWatcher, flock, mq } from '@ipcx/native';
import {
  ClosedError,
  PermissionError,
  registerKernelObject,
  type KernelObjectRegistration,
  TooLargeError,
  UnsupportedError,
  checkWaitOptions,
  copyBytes,
  spinOption,
  fromSystemError,
  waitFor,
  type Settle,
  type WaitOptions,
} from '@ipcx/core';
import {
  RESOLVED,
  failWaits,
  lockQueue,
  lockedElsewhere,
  markOpened,
  markedOpened,
  ownerUid,
  receiveSoon,
  sendSoon,
  waitToReceive,
  waitToSend,
} from './internal/channel-access.js';
import { checkQueueName, openError } from './internal/limits.js';

/** Queues this process created and has not unlinked: registered with @ipcx/core's registry of kernel objects. */
const registrations = new Map<string, KernelObjectRegistration>();

/** Records in core's registry that this process owns the queue `name` (idempotent). */
export function ownQueue(name: string): void {
  if (registrations.has(name)) return;
  registrations.set(
    name,
    registerKernelObject({
      kind: 'mq',
      name,
      owner: '@ipcx/mq',
      unlink: () => {
        registrations.delete(name);
        try {
          mq.unlink(name);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
      },
    }),
  );
}

/** Internal options of `openQueue`, for `MqChannel`. */
export interface OpenQueueInternals {
  /** Permission bits that another end of ours may have added to a queue we ask for (not counted as wider). */
  readonly markerBits?: number;
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/**
 * Refuses a queue that `create` found rather than made, when another uid owns it or its permissions are wider
 * than asked: that user could read our messages and inject its own.
 */
function checkAdoptable(name: string, fd: number, asked: number, markerBits: number): void {
  const stat = fstatSync(fd);
  const uid = process.geteuid?.() ?? stat.uid;
  const mode = stat.mode & 0o7777;
  const wider = mode & ~asked & ~markerBits;
  if (stat.uid === uid && wider === 0) return;
  throw new PermissionError(
    `message queue "${name}" already exists, made by uid ${stat.uid} with mode ${octal(mode)}, where this process ` +
      `(uid ${uid}) asked for a queue of its own with mode ${octal(asked)}. It is not used: ` +
      (stat.uid !== uid ? 'another user made it, and could read and inject its messages' : `mode ${octal(mode)} lets others in`) +
      `. Remove it (as its owner or root: MessageQueue.unlink("${name}"), or rm /dev/mqueue${name} where mqueue is mounted) or pick another name`,
  );
}

/** `MessageQueue.open` with what `MqChannel` needs besides. */
export function openQueue(name: string, options: MessageQueueOptions, internals: OpenQueueInternals = {}): MessageQueue {
  return MessageQueue[openWith](name, options, internals);
}

const openWith: unique symbol = Symbol('openWith');

/** Options of `MessageQueue.open`. */
export interface MessageQueueOptions {
  /** Create the queue if it does not exist. Default false. */
  create?: boolean;
  /** With `create`: fail with `AlreadyExistsError` if it exists. Default false. */
  exclusive?: boolean;
  /** Capacity of a queue this call creates. Kernel default 10 (`/proc/sys/fs/mqueue/msg_default`). */
  maxMessages?: number;
  /** Largest message of a queue this call creates. Kernel default 8192 (`msgsize_default`). */
  messageSize?: number;
  /** Permissions of a queue this call creates. Default 0o600 (owner only). */
  mode?: number;
  /** Open for receiving. Default true. */
  read?: boolean;
  /** Open for sending. Default true. */
  write?: boolean;
  /**
   * Microseconds a `receive` on an empty queue (or a `send` on a full one) keeps retrying before it
   * hands the wait to libuv, but only while the queue is busy (the last call did not have to wait).
   * A wake-up through the event loop costs tens of microseconds; a retry costs one syscall. Default 50;
   * 0 never spins. An idle queue never spins.
   */
  spinMicroseconds?: number;
}

/** A received message. */
export interface QueueMessage {
  /** The bytes (a copy the caller owns). */
  readonly data: Uint8Array;
  readonly priority: number;
}

/** Attributes of a queue, as the kernel reports them. */
export interface QueueAttributes {
  readonly maxMessages: number;
  readonly messageSize: number;
  /** Messages waiting now. */
  readonly currentMessages: number;
}

/** The highest priority + 1 (Linux: 32768). */
export const MQ_PRIORITIES = 32768;

/** Empty-queue retries per addon call while a receive spins. */
const SPIN_ATTEMPTS = 8;

interface PendingSend {
  data: Uint8Array;
  priority: number;
  settle: Settle<void>;
}

/**
 * A POSIX message queue (mq_overview(7)): a named, kernel-managed mailbox that any process, in any
 * language, can open. Highest priority first, oldest first within a priority. Async `send` and
 * `receive` never block the event loop and use no thread: the queue descriptor is polled by libuv.
 *
 * `close()` closes this process's descriptor; the queue and its messages live on until `unlink`
 * removes the name AND every process has closed it.
 *
 * @example
 * ```ts
 * await using q = MessageQueue.open('/jobs', { create: true, maxMessages: 10, messageSize: 1024 });
 * await q.send(Buffer.from('urgent'), { priority: 9 });
 * const { data, priority } = await q.receive({ timeout: 1000 });
 * ```
 */
export class MessageQueue implements AsyncDisposable {
  /** The queue's name. */
  readonly name: string;
  /** Largest message in bytes. */
  readonly messageSize: number;
  /** Capacity in messages. */
  readonly maxMessages: number;
  readonly #fd: number;
  readonly #scratch: Buffer;
  // The scratch's memory, read once: `Buffer#buffer` is a call into V8 that a receive would pay each time.
  readonly #scratchMemory: ArrayBufferLike;
  readonly #scratchOffset: number;
  /** Priority of the message `#receiveNow` returned last. */
  #priority = 0;
  readonly #watcher: FdWatcher;
  readonly #receivers = new Set<Settle<QueueMessage>>();
  readonly #senders = new Set<PendingSend>();
  readonly #canRead: boolean;
  readonly #canWrite: boolean;
  readonly #spinMs: number;
  #busy = false;
  #closed = false;

  private constructor(name: string, fd: number, read: boolean, write: boolean, spinMicroseconds: number) {
    this.name = name;
    this.#spinMs = spinMicroseconds / 1000;
    this.#fd = fd;
    this.#canRead = read;
    this.#canWrite = write;
    const attributes = mq.getAttributes(fd);
    this.messageSize = attributes.messageSize;
    this.maxMessages = attributes.maxMessages;
    this.#scratch = Buffer.allocUnsafeSlow(this.messageSize);
    this.#scratchMemory = this.#scratch.buffer;
    this.#scratchOffset = this.#scratch.byteOffset;
    this.#watcher = new FdWatcher(fd, (events) => this.#onEvents(events));
  }

  /**
   * Opens (or creates) a queue. Names are '/name' (1 to 250 bytes after the slash). Limits the kernel enforces
   * (messages per queue, message size, bytes per user) come back as `LimitError` saying how to raise them.
   *
   * With `create`, a queue that exists already is used only if this user owns it and its permissions are no
   * wider than `mode`; otherwise `PermissionError` says what was found (another user could have made it to read
   * and inject messages). A queue this call creates is registered with `@ipcx/core`'s registry of kernel
   * objects (`unlinkOwnedKernelObjects` removes it) until `MessageQueue.unlink` removes it.
   */
  static open(name: string, options: MessageQueueOptions = {}): MessageQueue {
    return MessageQueue[openWith](name, options, {});
  }

  static [openWith](name: string, options: MessageQueueOptions, internals: OpenQueueInternals): MessageQueue {
    checkQueueName(name);
    // Before the queue exists: a bad option must not leave a descriptor or a new queue behind.
    const spin = spinOption(options.spinMicroseconds, 50);
    const read = options.read ?? true;
    const write = options.write ?? true;
    const create = options.create ?? false;
    const exclusive = options.exclusive ?? false;
    const mode = options.mode ?? 0o600;
    const base = {
      mode,
      read,
      write,
      nonBlocking: true,
      ...(options.maxMessages !== undefined ? { maxMessages: options.maxMessages } : {}),
      ...(options.messageSize !== undefined ? { messageSize: options.messageSize } : {}),
    };
    let fd: number;
    let created = false;
    try {
      if (!create && !exclusive) {
        fd = mq.open(name, { ...base, create: false });
      } else if (exclusive) {
        fd = mq.open(name, { ...base, create: true, exclusive: true });
        created = true;
      } else {
        // O_CREAT alone does not say whether this call made the queue: try to make it, else open the one there.
        ({ fd, created } = openOrCreate(name, base));
      }
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw openError(name, error, options.maxMessages, options.messageSize);
    }
    try {
      if (create && !created) checkAdoptable(name, fd, mode, internals.markerBits ?? 0);
      if (created) ownQueue(name);
      return new MessageQueue(name, fd, read, write, spin);
    } catch (error) {
      mq.close(fd);
      if (created) MessageQueue.unlink(name);
      throw error;
    }
  }

  /**
   * Removes a queue's name (and its entry in core's registry). Processes that have it open keep using it.
   * Returns false if it did not exist.
   */
  static unlink(name: string): boolean {
    checkQueueName(name);
    try {
      mq.unlink(name);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fromSystemError(`message queue "${name}" unlink`, error);
    } finally {
      registrations.get(name)?.unregister();
      registrations.delete(name);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The kernel's view: capacity, message size and how many messages wait now. */
  attributes(): QueueAttributes {
    this.#checkOpen();
    const { maxMessages, messageSize, currentMessages } = mq.getAttributes(this.#fd);
    return { maxMessages, messageSize, currentMessages };
  }

  /**
   * Sends, waiting for room while the queue is full. Sends wait in order: a later send never
   * overtakes an earlier one that waits. `priority` from 0 (default) to 32767, higher first.
   */
  send(data: Uint8Array, options: WaitOptions & { priority?: number } = {}): Promise<void> {
    try {
      checkWaitOptions(options);
      if (this[sendSoon](data, options.priority ?? 0)) return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waitToSend(data, options);
  }

  /**
   * The part of `send` that needs no promise: true once the message is in the queue, now or within the
   * bounded spin; false when it must wait (`[waitToSend]`). Throws on bad arguments.
   */
  [sendSoon](data: Uint8Array, priority: number): boolean {
    this.#checkSend(data, priority);
    return this.#senders.size === 0 && (this.#sendNow(data, priority) || this.#spin(() => this.#sendNow(data, priority)));
  }

  /** `send` once `[sendSoon]` returned false. */
  [waitToSend](data: Uint8Array, options: WaitOptions & { priority?: number }): Promise<void> {
    try {
      checkWaitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waitToSend(data, options);
  }

  #waitToSend(data: Uint8Array, options: WaitOptions & { priority?: number }): Promise<void> {
    const copy = copyBytes(data);
    return waitFor<void>('send', options, (settle) => {
      const entry = { data: copy, priority: options.priority ?? 0, settle };
      this.#senders.add(entry);
      this.#watch();
      return () => {
        this.#senders.delete(entry);
        this.#watch();
      };
    });
  }

  /** Sends if there is room now; false when the queue is full (or earlier sends wait). */
  trySend(data: Uint8Array, options: { priority?: number } = {}): boolean {
    this.#checkSend(data, options.priority ?? 0);
    return this.#senders.size === 0 && this.#sendNow(data, options.priority ?? 0);
  }

  /** Receives the oldest message of the highest priority, waiting while the queue is empty. */
  receive(options: WaitOptions = {}): Promise<QueueMessage> {
    try {
      checkWaitOptions(options);
      const data = this[receiveSoon]();
      if (data !== undefined) return Promise.resolve({ data, priority: this.#priority });
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waitToReceive(options);
  }

  /**
   * The part of `receive` that needs no promise: the bytes of a message that waits, or of one that
   * comes within the bounded spin (its priority in `#priority`). MqChannel decodes them before it makes
   * its one promise.
   */
  [receiveSoon](): Uint8Array | undefined {
    this.#checkReceive();
    if (this.#receivers.size > 0) return undefined;
    let data = this.#receiveNow(1);
    if (data !== undefined || this.#spinMs === 0 || !this.#busy) return data;
    // #spin, unrolled: no closure per call; the addon retries SPIN_ATTEMPTS times per call in C (a few
    // µs), so JavaScript runs and reads the clock only between batches.
    const end = performance.now() + this.#spinMs;
    do {
      if ((data = this.#receiveNow(SPIN_ATTEMPTS)) !== undefined) return data;
    } while (performance.now() < end);
    this.#busy = false;
    return undefined;
  }

  /** `receive` once `[receiveSoon]` found nothing. */
  [waitToReceive](options: WaitOptions = {}): Promise<QueueMessage> {
    try {
      checkWaitOptions(options);
      this.#checkReceive();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waitToReceive(options);
  }

  #waitToReceive(options: WaitOptions): Promise<QueueMessage> {
    return waitFor<QueueMessage>('receive', options, (settle) => {
      this.#receivers.add(settle);
      this.#watch();
      return () => {
        this.#receivers.delete(settle);
        this.#watch();
      };
    });
  }

  /** Receives a message if one waits now, else undefined. */
  tryReceive(): QueueMessage | undefined {
    this.#checkReceive();
    const data = this.#receivers.size === 0 ? this.#receiveNow(1) : undefined;
    return data === undefined ? undefined : { data, priority: this.#priority };
  }

  [lockQueue](patienceMs = 0): boolean {
    this.#checkOpen();
    // Another end's liveness probe holds the lock for two syscalls: a caller that must not mistake that
    // for an owner retries for patienceMs.
    const end = patienceMs > 0 ? performance.now() + patienceMs : 0;
    for (;;) {
      if (this.#flock('exclusive')) return true;
      if (performance.now() >= end) return false;
    }
  }

  [lockedElsewhere](): boolean {
    if (!this[lockQueue]()) return true;
    this.#flock('unlock');
    return false;
  }

  #flock(operation: 'exclusive' | 'unlock'): boolean {
    try {
      return flock(this.#fd, operation, { nonBlocking: true });
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" flock`, error);
    }
  }

  /** Adds the marker bits to the queue's mode: an opening end was here (it stays after that end dies). */
  [markOpened](bits: number): void {
    this.#checkOpen();
    try {
      fchmodSync(this.#fd, (fstatSync(this.#fd).mode & 0o7777) | bits);
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" fchmod`, error);
    }
  }

  /** True if the marker bits are set; with `clear`, clears them. */
  [markedOpened](bits: number, clear = false): boolean {
    this.#checkOpen();
    try {
      const mode = fstatSync(this.#fd).mode & 0o7777;
      if ((mode & bits) === 0) return false;
      if (clear) fchmodSync(this.#fd, mode & ~bits);
      return true;
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" fstat`, error);
    }
  }

  [ownerUid](): number {
    this.#checkOpen();
    try {
      return fstatSync(this.#fd).uid;
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" fstat`, error);
    }
  }

  [failWaits](error: unknown): void {
    this.#failWaiters(error);
    this.#watch();
  }

  /** Closes this process's descriptor (not the queue: see `unlink`). Pending calls reject with `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    this.#failWaiters(new ClosedError(`message queue "${this.name}"`));
    mq.close(this.#fd);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`message queue "${this.name}"`);
  }

  #checkSend(data: Uint8Array, priority: number): void {
    this.#checkOpen();
    if (!this.#canWrite) throw new UnsupportedError(`sending on message queue "${this.name}" opened with write: false`);
    if (!(data instanceof Uint8Array)) throw new TypeError('a queue message is a Uint8Array (or Buffer)');
    if (!Number.isInteger(priority) || priority < 0 || priority >= MQ_PRIORITIES) {
      throw new RangeError(`priority must be an integer from 0 to ${MQ_PRIORITIES - 1}, got ${priority}`);
    }
    if (data.length > this.messageSize) throw new TooLargeError('message', data.length, this.messageSize);
  }

  #checkReceive(): void {
    this.#checkOpen();
    if (!this.#canRead) throw new UnsupportedError(`receiving on message queue "${this.name}" opened with read: false`);
  }

  #sendNow(data: Uint8Array, priority: number): boolean {
    try {
      return mq.trySend(this.#fd, data, priority);
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" send`, error);
    }
  }

  /** A copy of the next message's bytes (its priority in `#priority`), or undefined when the queue is empty. */
  #receiveNow(attempts: number): Uint8Array | undefined {
    let received: { length: number; priority: number } | undefined;
    try {
      received = mq.tryReceive(this.#fd, this.#scratch, attempts);
    } catch (error) {
      throw fromSystemError(`message queue "${this.name}" receive`, error);
    }
    if (received === undefined) return undefined;
    this.#priority = received.priority;
    return copyBytes(new Uint8Array(this.#scratchMemory, this.#scratchOffset, received.length));
  }

  /**
   * Retries `attempt` for at most spinMicroseconds while the queue is busy; true once it succeeds. A
   * spin that fails marks the queue idle: waits go straight to libuv until a waiting call is served.
   */
  #spin(attempt: () => boolean): boolean {
    if (this.#spinMs === 0 || !this.#busy) return false;
    const end = performance.now() + this.#spinMs;
    do {
      if (attempt()) return true;
    } while (performance.now() < end);
    this.#busy = false;
    return false;
  }

  /** Polls for what waiting callers need: readable for receivers, writable for senders. */
  #watch(): void {
    if (this.#closed) return;
    this.#watcher.start({ readable: this.#receivers.size > 0, writable: this.#senders.size > 0 });
  }

  #onEvents(events: { readable: boolean; writable: boolean; error?: Error }): void {
    if (events.error) {
      this.#failWaiters(fromSystemError(`message queue "${this.name}" poll`, events.error));
      this.#watch();
      return;
    }
    try {
      // Another process may take the message (or the room) first: EAGAIN just means keep polling.
      for (const receiver of this.#receivers) {
        const data = this.#receiveNow(1);
        if (data === undefined) break;
        this.#receivers.delete(receiver);
        this.#busy = true;
        receiver.resolve({ data, priority: this.#priority });
      }
      for (const sender of this.#senders) {
        if (!this.#sendNow(sender.data, sender.priority)) break;
        this.#senders.delete(sender);
        this.#busy = true;
        sender.settle.resolve();
      }
    } catch (error) {
      this.#failWaiters(error);
    }
    this.#watch();
  }

  /** Rejects every waiting receive and send with `error`. */
  #failWaiters(error: unknown): void {
    for (const receiver of this.#receivers) receiver.reject(error);
    for (const sender of this.#senders) sender.settle.reject(error);
    this.#receivers.clear();
    this.#senders.clear();
  }
}

/** Makes the queue if it is not there (O_EXCL), else opens the one that is; retries if it vanishes in between. */
function openOrCreate(name: string, options: Parameters<typeof mq.open>[1]): { fd: number; created: boolean } {
  for (let attempt = 0; ; attempt++) {
    try {
      return { fd: mq.open(name, { ...options, create: true, exclusive: true }), created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      return { fd: mq.open(name, { ...options, create: false }), created: false };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 100) throw error;
    }
  }
}
