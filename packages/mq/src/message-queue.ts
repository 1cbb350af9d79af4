import { fchmodSync, fstatSync } from 'node:fs';
import { FdWatcher, flock, mq } from '@ipcx/native';
import { ClosedError, PermissionError, TooLargeError, UnsupportedError, copyBytes, type WaitOptions } from '@ipcx/core';
import {
  NO_MESSAGE,
  SendQueue,
  checkBoolean,
  checkWaitOptions,
  errnoError,
  iterate,
  lingerOption,
  registerKernelObject,
  BusySpin,
  spinOption,
  waitFor,
  type KernelObjectRegistration,
} from '@ipcx/core/transport';
import {
  RESOLVED,
  failWaits,
  lockQueue,
  lockedElsewhere,
  markOpened,
  markedOpened,
  own,
  ownerUid,
  receiveSoon,
  sendSoon,
  sendsSettled,
  waitToReceive,
  waitToSend,
} from './internal/channel-access.js';
import { Ending, Waits, countOption, modeOption, octal, type Waiter } from './internal/lifecycle.js';
import { checkQueueName, openError } from './internal/limits.js';

/** Queues this process created and has not unlinked: registered with @ipcx/core's registry of kernel objects. */
const registrations = new Map<string, KernelObjectRegistration>();

/** Records in core's registry that this process owns the queue `name` (idempotent). */
function ownQueue(name: string): void {
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

/** Internal options of `createQueue`, for `MqChannel`. */
export interface CreateQueueInternals {
  /** Permission bits that another end of ours may have added to a queue we ask for (not counted as wider). */
  readonly markerBits?: number;
  /** False: the caller decides later whether this object owns the name (`[own]`). Default true. */
  readonly own?: boolean;
}

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
      (stat.uid !== uid
        ? 'another user made it, and could read and inject its messages'
        : `mode ${octal(mode)} is wider than asked`) +
      `. Remove it (as its owner or root: MessageQueue.unlink("${name}"), or rm /dev/mqueue${name} where mqueue is mounted) or pick another name`,
  );
}

/**
 * Options of every handle on a POSIX queue, opened or created: `MessageQueue`, `TypedMessageQueue` and
 * `MqChannel` extend this one set (written here once).
 */
export interface MessageQueueOptions {
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
  /**
   * How long, in ms, a graceful `close()` waits for room for the sends still waiting (a receiver that does not
   * read); then they reject with `ClosedError` and the queue is closed. Default 2000.
   */
  lingerTimeout?: number;
}

/** Options of `create`: the shape and permissions of the new queue, and whether an existing one is adopted. */
export interface MessageQueueCreateOptions extends MessageQueueOptions {
  /**
   * Default true: a name that exists already is `AlreadyExistsError`. `false`: create, or adopt the queue that
   * is there if this user owns it and its permissions are no wider than `mode` (else `PermissionError`).
   */
  exclusive?: boolean;
  /** How many messages the queue holds. Kernel default 10 (`/proc/sys/fs/mqueue/msg_default`). */
  capacity?: number;
  /** The largest message in bytes. Kernel default 8192 (`msgsize_default`). */
  maxMessageBytes?: number;
  /** Permissions of the new queue. Default 0o600 (owner only). */
  mode?: number;
}

/** A received message. */
export interface QueueMessage {
  /** The bytes (a copy the caller owns). */
  readonly data: Uint8Array;
  readonly priority: number;
}

/** Attributes of a queue, as the kernel reports them. */
export interface QueueAttributes {
  /** How many messages the queue holds. */
  readonly capacity: number;
  /** The largest message in bytes. */
  readonly maxMessageBytes: number;
  /** Messages waiting now. */
  readonly currentMessages: number;
}

/** The highest priority + 1 (Linux: 32768). */
export const MQ_PRIORITIES = 32768;

/** Checks a message priority: an integer from 0 to 32767. */
export function checkPriority(priority: unknown): number {
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority >= MQ_PRIORITIES) {
    throw new RangeError(`priority must be an integer from 0 to ${MQ_PRIORITIES - 1}, got ${String(priority)}`);
  }
  return priority;
}

/** Checks every option of a POSIX queue handle before anything is opened or made. */
export function checkQueueOptions(options: MessageQueueCreateOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  spinOption(options.spinMicroseconds);
  lingerOption(options.lingerTimeout);
  countOption('capacity', options.capacity);
  countOption('maxMessageBytes', options.maxMessageBytes);
  modeOption(options.mode);
  for (const key of ['exclusive', 'read', 'write'] as const) checkBoolean(key, options[key]);
}

/** Empty-queue retries per addon call while a receive spins. */
const SPIN_ATTEMPTS = 8;

/** What a send that waits for room keeps in core's SendQueue. */
interface PendingSend {
  readonly data: Uint8Array;
  readonly priority: number;
}

/** Makes (or, with `exclusive: false`, adopts) a queue: `MessageQueue.create` with what `MqChannel` needs besides. */
export function createQueue(
  name: string,
  options: MessageQueueCreateOptions,
  internals: CreateQueueInternals = {},
): MessageQueue {
  checkQueueName(name);
  // Before the queue exists: a bad option must not leave a descriptor or a new queue behind.
  checkQueueOptions(options);
  const mode = modeOption(options.mode);
  const base = {
    mode,
    read: options.read ?? true,
    write: options.write ?? true,
    nonBlocking: true,
    ...(options.capacity !== undefined ? { maxMessages: options.capacity } : {}),
    ...(options.maxMessageBytes !== undefined ? { messageSize: options.maxMessageBytes } : {}),
  };
  let fd: number;
  let created = true;
  try {
    if (options.exclusive ?? true) fd = mq.open(name, { ...base, create: true, exclusive: true });
    // O_CREAT alone does not say whether this call made the queue: try to make it, else open the one there.
    else ({ fd, created } = openOrCreate(name, base));
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    throw openError(name, error, options.capacity, options.maxMessageBytes);
  }
  try {
    if (!created) checkAdoptable(name, fd, mode, internals.markerBits ?? 0);
    const q = new MessageQueue(construct, name, fd, options);
    if (internals.own ?? true) q[own]();
    return q;
  } catch (error) {
    mq.close(fd);
    if (created) unlinkQueue(name);
    throw error;
  }
}

/** Opens an existing queue (`MessageQueue.open`, synchronously, for `MqChannel`). */
export function openQueue(name: string, options: MessageQueueOptions): MessageQueue {
  checkQueueName(name);
  checkQueueOptions(options);
  let fd: number;
  try {
    fd = mq.open(name, { read: options.read ?? true, write: options.write ?? true, nonBlocking: true, create: false });
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    throw openError(name, error);
  }
  try {
    return new MessageQueue(construct, name, fd, options);
  } catch (error) {
    mq.close(fd);
    throw error;
  }
}

/** Removes a queue's name (and its entry in core's registry): false if there was none. */
export function unlinkQueue(name: string): boolean {
  try {
    mq.unlink(name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw errnoError(error, `message queue "${name}" unlink`);
  } finally {
    registrations.get(name)?.unregister();
    registrations.delete(name);
  }
}

/** Only this module constructs a MessageQueue. */
const construct: unique symbol = Symbol('construct');

/**
 * A POSIX message queue (mq_overview(7)): a named, kernel-managed mailbox that any process, in any
 * language, can open. Highest priority first, oldest first within a priority. Async `send` and
 * `receive` never block the event loop and use no thread: the queue descriptor is polled by libuv.
 *
 * The object `create` returned owns the name: its `close()` and `destroy()` unlink it (processes that have
 * the queue open keep using it, messages included, until they close). What `open` returned never unlinks.
 *
 * @example
 * ```ts
 * await using q = await MessageQueue.create('/jobs', { capacity: 10, maxMessageBytes: 1024 });
 * await q.send(Buffer.from('urgent'), { priority: 9 });
 * const { data, priority } = await q.receive({ timeout: 1000 });
 * ```
 */
export class MessageQueue implements AsyncIterable<QueueMessage>, AsyncDisposable {
  /** The queue's name. */
  readonly name: string;
  /** The largest message in bytes. */
  readonly maxMessageBytes: number;
  /** How many messages the queue holds. */
  readonly capacity: number;
  readonly #fd: number;
  readonly #scratch: Buffer;
  // The scratch's memory, read once: `Buffer#buffer` is a call into V8 that a receive would pay each time.
  readonly #scratchMemory: ArrayBufferLike;
  readonly #scratchOffset: number;
  /** Priority of the message `#receiveNow` returned last. */
  #priority = 0;
  readonly #watcher: FdWatcher;
  readonly #receivers = new Waits<Waiter<QueueMessage>>();
  readonly #sends = new SendQueue<PendingSend>(() => this.#watch());
  readonly #canRead: boolean;
  readonly #canWrite: boolean;
  readonly #spin: BusySpin;
  readonly #lingerMs: number;
  readonly #ending = new Ending();
  #owned = false;

  /** @internal Use `MessageQueue.create` or `MessageQueue.open`. */
  constructor(token: typeof construct, name: string, fd: number, options: MessageQueueOptions) {
    if (token !== construct) throw new TypeError('use MessageQueue.create or MessageQueue.open');
    this.name = name;
    this.#spin = new BusySpin(spinOption(options.spinMicroseconds));
    this.#lingerMs = lingerOption(options.lingerTimeout);
    this.#fd = fd;
    this.#canRead = options.read ?? true;
    this.#canWrite = options.write ?? true;
    const attributes = mq.getAttributes(fd);
    this.maxMessageBytes = attributes.messageSize;
    this.capacity = attributes.maxMessages;
    this.#scratch = Buffer.allocUnsafeSlow(this.maxMessageBytes);
    this.#scratchMemory = this.#scratch.buffer;
    this.#scratchOffset = this.#scratch.byteOffset;
    this.#watcher = new FdWatcher(fd, (events) => this.#onEvents(events));
  }

  /**
   * Creates a queue this object owns (`AlreadyExistsError` if the name exists; with `exclusive: false`, adopts
   * a queue of this user no wider than `mode`, else `PermissionError` saying what was found). Names are '/name'
   * (1 to 250 bytes after the slash). Limits the kernel enforces (messages per queue, message size, bytes per
   * user) come back as `LimitError` saying how to raise them. The queue is registered with `@ipcx/core`'s
   * registry of kernel objects until it is unlinked.
   */
  static async create(name: string, options: MessageQueueCreateOptions = {}): Promise<MessageQueue> {
    return createQueue(name, options);
  }

  /** Opens an existing queue (`NotFoundError` if there is none; never creates). It never unlinks the name. */
  static async open(name: string, options: MessageQueueOptions = {}): Promise<MessageQueue> {
    return openQueue(name, options);
  }

  /**
   * Removes a queue's name (and its entry in core's registry): true if it was there. Processes that have it
   * open keep using it.
   */
  static async unlink(name: string): Promise<boolean> {
    checkQueueName(name);
    return unlinkQueue(name);
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#ending.called;
  }

  /** The kernel's view: capacity, message size and how many messages wait now. */
  attributes(): QueueAttributes {
    this.#checkOpen();
    const { maxMessages, messageSize, currentMessages } = mq.getAttributes(this.#fd);
    return { capacity: maxMessages, maxMessageBytes: messageSize, currentMessages };
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
    return (
      this.#sends.size === 0 &&
      (this.#sendNow(data, priority) || this.#spin.run(() => this.#sendNow(data, priority) || undefined) === true)
    );
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
    const sent = this.#sends.enqueue({ data: copyBytes(data), priority: options.priority ?? 0 }, options);
    this.#watch();
    return sent;
  }

  /** Sends if there is room now; false when the queue is full (or earlier sends wait). */
  trySend(data: Uint8Array, options: { priority?: number } = {}): boolean {
    this.#checkSend(data, options.priority ?? 0);
    return this.#sends.size === 0 && this.#sendNow(data, options.priority ?? 0);
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
    // The addon retries SPIN_ATTEMPTS times per call in C (a few µs), so JavaScript runs and reads the clock
    // only between batches.
    return this.#receiveNow(1) ?? this.#spin.run(() => this.#receiveNow(SPIN_ATTEMPTS));
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
      const entry = { settle };
      this.#receivers.add(entry);
      this.#watch();
      return () => {
        this.#receivers.delete(entry);
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

  /** Yields every message until this object is closed. */
  [Symbol.asyncIterator](): AsyncIterator<QueueMessage> {
    return iterate(
      () => this.receive(),
      () => this.closed,
      () => this.tryReceive() ?? NO_MESSAGE,
    );
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
      throw errnoError(error, `message queue "${this.name}" flock`, { stage: 'connected' });
    }
  }

  /** Adds the marker bits to the queue's mode: an opening end was here (it stays after that end dies). */
  [markOpened](bits: number): void {
    this.#checkOpen();
    try {
      fchmodSync(this.#fd, (fstatSync(this.#fd).mode & 0o7777) | bits);
    } catch (error) {
      throw errnoError(error, `message queue "${this.name}" fchmod`, { stage: 'connected' });
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
      throw errnoError(error, `message queue "${this.name}" fstat`, { stage: 'connected' });
    }
  }

  [ownerUid](): number {
    this.#checkOpen();
    try {
      return fstatSync(this.#fd).uid;
    } catch (error) {
      throw errnoError(error, `message queue "${this.name}" fstat`, { stage: 'connected' });
    }
  }

  /** This object owns the name from now on: registered with core's registry, unlinked by close/destroy. */
  [own](): void {
    this.#owned = true;
    ownQueue(this.name);
  }

  [failWaits](error: unknown): void {
    this.#fail(error);
    this.#watch();
  }

  /**
   * Resolves once every send waiting now is in the queue or has failed, or `lingerTimeout` passed (then those
   * still waiting reject with `ClosedError`).
   */
  [sendsSettled](): Promise<void> {
    return this.#sends.drainedWithin(
      this.#lingerMs,
      () =>
        new ClosedError(
          `message queue "${this.name}" (no room within its lingerTimeout of ${this.#lingerMs} ms at close)`,
        ),
    );
  }

  /**
   * Graceful: waiting receives reject with `ClosedError` at once; sends already waiting for room go into the
   * queue first (or fail), for at most `lingerTimeout` ms (then they reject with `ClosedError`); then the
   * descriptor is closed and, if this object created the queue, its name is unlinked. Never hangs. Idempotent
   * (the same promise again).
   */
  close(): Promise<void> {
    return this.#ending.close(
      async () => {
        this.#receivers.fail(new ClosedError(`message queue "${this.name}"`));
        this.#watch();
        await this[sendsSettled]();
      },
      () => this.#release(new ClosedError(`message queue "${this.name}"`)),
    );
  }

  /** Immediate: waiting calls reject with `error` (default `ClosedError`), then as `close`. Idempotent. */
  destroy(error?: Error): void {
    this.#ending.destroy(() => this.#release(error ?? new ClosedError(`message queue "${this.name}"`)));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #release(error: Error): void {
    this.#watcher.close();
    this.#fail(error);
    mq.close(this.#fd);
    if (this.#owned) unlinkQueue(this.name);
  }

  #checkOpen(): void {
    if (this.#ending.called) throw new ClosedError(`message queue "${this.name}"`);
  }

  #checkSend(data: Uint8Array, priority: number): void {
    this.#checkOpen();
    if (!this.#canWrite) throw new UnsupportedError(`sending on message queue "${this.name}" opened with write: false`);
    if (!(data instanceof Uint8Array)) throw new TypeError('a queue message is a Uint8Array (or Buffer)');
    checkPriority(priority);
    if (data.length > this.maxMessageBytes) throw new TooLargeError('message', data.length, this.maxMessageBytes);
  }

  #checkReceive(): void {
    this.#checkOpen();
    if (!this.#canRead) throw new UnsupportedError(`receiving on message queue "${this.name}" opened with read: false`);
  }

  #sendNow(data: Uint8Array, priority: number): boolean {
    try {
      return mq.trySend(this.#fd, data, priority);
    } catch (error) {
      throw errnoError(error, `message queue "${this.name}" send`, { stage: 'connected' });
    }
  }

  /** A copy of the next message's bytes (its priority in `#priority`), or undefined when the queue is empty. */
  #receiveNow(attempts: number): Uint8Array | undefined {
    let received: { length: number; priority: number } | undefined;
    try {
      received = mq.tryReceive(this.#fd, this.#scratch, attempts);
    } catch (error) {
      throw errnoError(error, `message queue "${this.name}" receive`, { stage: 'connected' });
    }
    if (received === undefined) return undefined;
    this.#priority = received.priority;
    return copyBytes(new Uint8Array(this.#scratchMemory, this.#scratchOffset, received.length));
  }

  /** Polls for what waiting callers need: readable for receivers, writable for senders. */
  #watch(): void {
    if (this.#watcher.closed) return;
    this.#watcher.start({ readable: this.#receivers.size > 0, writable: this.#sends.size > 0 });
  }

  #onEvents(events: { readable: boolean; writable: boolean; error?: Error }): void {
    if (events.error) {
      this.#fail(errnoError(events.error, `message queue "${this.name}" poll`));
      this.#watch();
      return;
    }
    try {
      // Another process may take the message (or the room) first: EAGAIN just means keep polling.
      for (const receiver of this.#receivers) {
        const data = this.#receiveNow(1);
        if (data === undefined) break;
        this.#receivers.delete(receiver);
        this.#spin.busy = true;
        receiver.settle.resolve({ data, priority: this.#priority });
      }
    } catch (error) {
      this.#receivers.fail(error);
    }
    if (this.#sends.size > 0 && this.#sends.flush((send) => this.#sendNow(send.data, send.priority)) > 0)
      this.#spin.busy = true;
    this.#watch();
  }

  /** Rejects every waiting receive and send with `error`. */
  #fail(error: unknown): void {
    this.#receivers.fail(error);
    this.#sends.rejectAll(error);
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
