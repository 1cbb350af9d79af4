import { readFileSync } from 'node:fs';
import { SendQueue, checkBoolean, errnoError } from '@ipcx/core/transport';
import {
  AlreadyExistsError,
  ClosedError,
  InvalidNameError,
  NotFoundError,
  PermissionError,
  TooLargeError,
  copyBytes,
  type WaitOptions,
} from '@ipcx/core';
import {
  checkWaitOptions,
  iterate,
  lingerOption,
  registerKernelObject,
  BusySpin,
  spinOption,
  intervalOption,
  waitFor,
  type KernelObjectRegistration,
} from '@ipcx/core/transport';
import { sysv, sysvConstants, type SysvMsgStat } from '@ipcx/native';
import { failReceives, sendsSettled } from './internal/channel-access.js';
import { Ending, Waits, countOption, modeOption, type Waiter } from './internal/lifecycle.js';

export type { SysvMsgStat } from '@ipcx/native';

/** How a System V queue is found: a numeric `key`, `path` + `id` through ftok(3), or (open only) its kernel `id`. */
export interface SysvQueueKeyOptions {
  /** A System V key: a 32-bit integer other than 0 (IPC_PRIVATE). */
  key?: number | undefined;
  /** With `id`: the key is `ftok(path, id)` (the file must exist; `id` 1 to 255). */
  path?: string | undefined;
  /** With `path`: ftok's project id. Alone (in `open`): the queue's kernel identifier (as `ipcs -q` shows). */
  id?: number | undefined;
}

/** Options of every System V queue. */
export interface SysvMessageQueueOptions extends SysvQueueKeyOptions {
  /**
   * `create`: permission bits of the new queue (default 0o600). `open`: the widest bits accepted; a queue open
   * to more is refused (`PermissionError`). Default 0o600.
   */
  mode?: number;
  /**
   * The longest wait, in ms, between two attempts of a waiting `receive` (or a `send` on a full queue): how
   * often an idle wait polls, not a check of another process (that is `peerCheckInterval`). System V
   * queues have no descriptor to poll, so a waiting call retries with IPC_NOWAIT after 1, 2, 4, … ms up to this
   * bound; a message that arrives while the queue is idle is seen within it. Default 20 (50 syscalls a second per
   * waiting queue, about 0.1% of a core).
   */
  pollInterval?: number;
  /**
   * Microseconds a waiting call keeps retrying before it falls back to the timer, while the queue is busy (the
   * last call did not wait). Default 50; 0 never spins.
   */
  spinMicroseconds?: number;
  /**
   * How long, in ms, a graceful `close()` waits for room for the sends still waiting (a receiver that does not
   * read); then they reject with `ClosedError` and the queue is closed. Default 2000.
   */
  lingerTimeout?: number;
}

/** Options of `SysvMessageQueue.create`. */
export interface SysvMessageQueueCreateOptions extends SysvMessageQueueOptions {
  /**
   * Default true: a key that is taken is `AlreadyExistsError`. `false`: create, or adopt the queue that is there
   * if this user owns and created it and its mode is no wider than `mode` (else `PermissionError`).
   */
  exclusive?: boolean;
  /** How many bytes the queue holds (msg_qbytes). Default the kernel's msgmnb (16384); above msgmnb needs CAP_SYS_RESOURCE. */
  bufferBytes?: number;
}

/** A received message. */
export interface SysvMessage {
  /** The message type (mtype), > 0. */
  readonly type: number;
  /** The bytes (a copy the caller owns). */
  readonly data: Uint8Array;
}

/** Which message a receive takes (msgrcv's msgtyp and MSG_EXCEPT). */
export interface SysvSelector {
  /**
   * 0 (default): the first message. > 0: the first message of this type (with `except`: of any other type).
   * < 0: the first message of the lowest type up to |type|.
   */
  type?: number;
  /** MSG_EXCEPT: with `type` > 0, the first message whose type is NOT `type`. */
  except?: boolean;
}

/** Options of `receive`. */
export interface SysvReceiveOptions extends SysvSelector, WaitOptions {}

interface PendingReceive extends Waiter<SysvMessage> {
  readonly type: number;
  readonly flags: number;
}

/** What a send that waits for room keeps in core's SendQueue. */
interface PendingSend {
  readonly type: number;
  readonly data: Uint8Array;
}

const C = sysvConstants;
/** `SysvMessageQueue.create` and `open`, synchronously (SysvChannel). */
const createSync: unique symbol = Symbol('createSync');
const openSync: unique symbol = Symbol('openSync');
const RESOLVED: Promise<void> = Promise.resolve();
/**
 * How long after the queue last moved a wait re-polls on every event-loop turn before it falls back to the
 * timer: a bounded busy period (measured: a cross-process round trip on a loaded 2-core VM takes 0.1 to 1 ms,
 * and a 1 ms timer turned each one into 2 to 3 ms).
 */
const EAGER_MS = 2;

function kernelValue(file: string, fallback: number): number {
  try {
    const v = Number(readFileSync(`/proc/sys/kernel/${file}`, 'utf8').trim());
    return Number.isInteger(v) && v > 0 ? v : fallback;
  } catch {
    return fallback;
  }
}

/** The kernel's largest message (msgmax, default 8192). */
export function sysvMaxMessageBytes(): number {
  return kernelValue('msgmax', 8192);
}

function checkKeyValue(key: unknown): number {
  if (typeof key !== 'number' || !Number.isInteger(key) || key < -0x8000_0000 || key > 0xffff_ffff || key === 0) {
    throw new InvalidNameError(String(key), 'a System V key is a 32-bit integer other than 0 (IPC_PRIVATE)');
  }
  return key | 0;
}

/** `{ key } | { path, id } | { id }` → a key, or an id (when allowed). Exported for SysvChannel. */
export function sysvQueueTarget(
  what: string,
  o: SysvQueueKeyOptions,
  allowId: boolean,
  allowPrivate: boolean,
): { key: number } | { id: number } | undefined {
  if (o === null || typeof o !== 'object')
    throw new TypeError(`${what} takes an options object with key, path + id${allowId ? ' or id' : ''}`);
  if (o.key !== undefined) {
    if (o.path !== undefined || o.id !== undefined) throw new TypeError(`${what}: give key, or path + id, not both`);
    return { key: checkKeyValue(o.key) };
  }
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path.length === 0 || o.path.includes('\0'))
      throw new InvalidNameError(String(o.path), 'ftok needs the path of an existing file');
    if (!Number.isInteger(o.id) || o.id! < 1 || o.id! > 255)
      throw new InvalidNameError(String(o.id), 'ftok takes an id from 1 to 255');
    try {
      return { key: checkKeyValue(sysv.ftok(o.path, o.id!)) };
    } catch (error) {
      if (error instanceof InvalidNameError) throw error;
      throw errnoError(error, `ftok("${o.path}", ${o.id})`);
    }
  }
  if (o.id !== undefined) {
    if (!allowId) throw new TypeError(`${what}: id without path; a new queue is found by key or by path + id`);
    if (!Number.isInteger(o.id) || o.id < 0 || o.id > 0x7fff_ffff)
      throw new InvalidNameError(String(o.id), 'a System V id is an integer from 0 to 2^31 - 1');
    return { id: o.id };
  }
  if (allowPrivate) return undefined;
  throw new TypeError(`${what} needs key, path + id${allowId ? ', or id' : ''}`);
}

function describe(target: { key: number } | { id: number } | undefined, id: number): string {
  return target !== undefined && 'key' in target
    ? `key 0x${(target.key >>> 0).toString(16).padStart(8, '0')}`
    : `id ${id}`;
}

/** Maps an errno of a queue call: removed (EIDRM, or EINVAL for an id that is gone) → ClosedError; ENOSPC → LimitError. */
function queueError(what: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EIDRM' || code === 'EINVAL')
    return new ClosedError(`${what} (the queue was removed)`, { cause: error });
  return errnoError(error, what, {
    limits: {
      ENOSPC: {
        limit: 'kernel.msgmni',
        hint: `the system holds its maximum of ${kernelValue('msgmni', 32000)} queues (kernel.msgmni); remove unused ones (ipcs -q, ipcrm) or raise it`,
      },
    },
  });
}

/** A message type to send: an integer from 1 to 2^53 - 1. */
function checkSendType(type: unknown): number {
  if (typeof type !== 'number' || !Number.isSafeInteger(type) || type < 1)
    throw new RangeError(`a message type is an integer from 1 to 2^53 - 1, got ${String(type)}`);
  return type;
}

/** msgrcv's msgtyp and flags for a selector. */
export function selectorFlags(selector: SysvSelector | undefined): [type: number, flags: number] {
  const type = selector?.type ?? 0;
  if (typeof type !== 'number' || !Number.isSafeInteger(type))
    throw new RangeError(`type must be a safe integer, got ${String(type)}`);
  const except = selector?.except ?? false;
  if (typeof except !== 'boolean') throw new TypeError('except must be a boolean');
  if (except && type <= 0) throw new RangeError('except needs a type above 0');
  return [type, C.IPC_NOWAIT | C.MSG_NOERROR | (except ? C.MSG_EXCEPT : 0)];
}

/**
 * A System V message queue (msgget/msgsnd/msgrcv): a kernel mailbox found by key, where every message has a
 * type (mtype) and a reader picks what it takes: the first message, the first of a type, the first of any
 * other type (MSG_EXCEPT), or the first of the lowest type up to a bound. This is the queue C programs make
 * with `msgget(ftok(path, id), IPC_CREAT | 0600)`; the bytes are exactly what each side sends.
 *
 * Waiting without a thread: System V queues have no descriptor to poll and msgrcv has no timeout, so a
 * blocking msgrcv would park a thread per waiting queue. Instead a waiting call retries with IPC_NOWAIT: a
 * bounded spin while the queue is busy, then a timer backing off 1, 2, 4, … ms up to `pollInterval` (default
 * 20 ms). An idle waiting queue costs one syscall per `pollInterval`; a message reaching an idle queue is
 * seen within it (a busy queue answers within the spin).
 *
 * `create` makes and owns the queue (registered for `unlinkOwnedKernelObjects`; `close` removes it, and with
 * it every unread message); `open` refuses a queue of another user or with wider permissions than asked.
 *
 * @example
 * ```ts
 * await using q = SysvMessageQueue.create({ key: 0x4d51 });
 * await q.send(2, Buffer.from('status'));
 * await q.send(1, Buffer.from('urgent'));
 * const { type, data } = await q.receive({ type: -2, timeout: 1000 }); // lowest type first: 1, 'urgent'
 * ```
 */
export class SysvMessageQueue implements AsyncIterable<SysvMessage>, AsyncDisposable {
  /** The kernel's identifier (what `ipcs -q` shows). */
  readonly id: number;
  /** The key (0: IPC_PRIVATE, or opened by id). */
  readonly key: number;
  /** True when this object created the queue (it removes it on close). */
  readonly created: boolean;
  /** The largest message this queue carries: the kernel's msgmax, or the queue's capacity if smaller. */
  readonly maxMessageBytes: number;
  readonly #what: string;
  readonly #scratch: Buffer;
  readonly #out = new Float64Array(1);
  readonly #receivers = new Waits<PendingReceive>();
  readonly #sends = new SendQueue<PendingSend>();
  readonly #pollMs: number;
  readonly #spin: BusySpin;
  readonly #lingerMs: number;
  readonly #ending = new Ending();
  #registration: KernelObjectRegistration | undefined;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** Until then (performance.now() ms), waits re-poll on every turn of the event loop instead of a timer. */
  #eagerUntil = 0;
  #delay = 1;
  #keep = false;

  private constructor(
    id: number,
    key: number,
    created: boolean,
    what: string,
    options: SysvMessageQueueOptions,
    capacity: number,
  ) {
    this.id = id;
    this.key = key;
    this.created = created;
    this.#what = what;
    this.maxMessageBytes = Math.min(sysvMaxMessageBytes(), capacity);
    this.#scratch = Buffer.allocUnsafeSlow(this.maxMessageBytes + 1);
    this.#pollMs = intervalOption('pollInterval', options.pollInterval, 20);
    this.#spin = new BusySpin(spinOption(options.spinMicroseconds));
    this.#lingerMs = lingerOption(options.lingerTimeout);
    if (created) {
      this.#registration = registerKernelObject({
        kind: 'sysv-msg',
        name: what.replace(/^System V queue /, ''),
        owner: '@ipcx/mq',
        unlink: () => removeQuietly(id),
      });
    }
  }

  /**
   * Creates a new queue this object owns (IPC_CREAT | IPC_EXCL: `AlreadyExistsError` if the key is taken; with
   * `exclusive: false`, adopts a queue of this user no wider than `mode`). No key: IPC_PRIVATE.
   */
  static async create(options: SysvMessageQueueCreateOptions = {}): Promise<SysvMessageQueue> {
    return createSysvQueue(options);
  }

  /** @internal `create`, synchronously (SysvChannel). */
  static [createSync](options: SysvMessageQueueCreateOptions): SysvMessageQueue {
    const target = sysvQueueTarget('SysvMessageQueue.create', options, false, true) as { key: number } | undefined;
    const mode = modeOption(options.mode);
    intervalOption('pollInterval', options.pollInterval, 20);
    spinOption(options.spinMicroseconds);
    lingerOption(options.lingerTimeout);
    checkBoolean('exclusive', options.exclusive);
    const bufferBytes = countOption('bufferBytes', options.bufferBytes);
    let id: number;
    try {
      id = sysv.msg.get(target?.key ?? C.IPC_PRIVATE, C.IPC_CREAT | C.IPC_EXCL | mode);
    } catch (error) {
      const what = `System V queue ${describe(target, -1)}`;
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw queueError(`${what} create`, error);
      if (options.exclusive ?? true) throw new AlreadyExistsError(what, { cause: error });
      const adopted = SysvMessageQueue[openSync]({ key: target!.key, mode, ...pick(options) }, true);
      if (bufferBytes !== undefined) adopted.set({ maxBytes: bufferBytes });
      return adopted;
    }
    const what = `System V queue ${describe(target, id)}`;
    let stat: SysvMsgStat;
    try {
      if (bufferBytes !== undefined) {
        const s = sysv.msg.stat(id);
        sysv.msg.set(id, { uid: s.uid, gid: s.gid, mode: s.mode, maxBytes: bufferBytes });
      }
      stat = sysv.msg.stat(id);
    } catch (error) {
      removeQuietly(id);
      throw queueError(`${what} set bufferBytes`, error);
    }
    return new SysvMessageQueue(id, target?.key ?? 0, true, what, options, stat.maxBytes);
  }

  /**
   * Opens an existing queue by key, `path` + `id` (ftok) or kernel `id`. Refuses (`PermissionError`) a queue
   * owned or created by another uid, or open to more than `mode` (default 0o600).
   */
  static async open(options: SysvMessageQueueOptions): Promise<SysvMessageQueue> {
    return SysvMessageQueue[openSync](options, false);
  }

  /** @internal `open`, synchronously (SysvChannel); `owned`: adopted by `create`. */
  static [openSync](options: SysvMessageQueueOptions, owned: boolean): SysvMessageQueue {
    const target = sysvQueueTarget('SysvMessageQueue.open', options, true, false)!;
    const mode = modeOption(options.mode);
    intervalOption('pollInterval', options.pollInterval, 20);
    spinOption(options.spinMicroseconds);
    lingerOption(options.lingerTimeout);
    let id: number;
    if ('id' in target) {
      id = target.id;
    } else {
      try {
        id = sysv.msg.get(target.key, 0);
      } catch (error) {
        throw queueError(`System V queue ${describe(target, -1)} open`, error);
      }
    }
    const what = `System V queue ${describe(target, id)}`;
    let stat: SysvMsgStat;
    try {
      stat = sysv.msg.stat(id);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'EIDRM') throw new NotFoundError(what, { cause: error });
      throw queueError(`${what} open`, error);
    }
    checkAdoptable(what, stat, mode);
    return new SysvMessageQueue(id, 'key' in target ? target.key : stat.key, owned, what, options, stat.maxBytes);
  }

  /**
   * Removes the queue found by key, `path` + `id` or kernel `id` (IPC_RMID: its messages go with it, and waits on
   * it everywhere fail): true if it was there.
   */
  static async unlink(options: SysvQueueKeyOptions): Promise<boolean> {
    const target = sysvQueueTarget('SysvMessageQueue.unlink', options, true, false)!;
    let id: number;
    try {
      id = 'id' in target ? target.id : sysv.msg.get(target.key, 0);
      sysv.msg.remove(id);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL' || code === 'EIDRM') return false;
      throw queueError(`System V queue ${describe(target, -1)} remove`, error);
    }
    return true;
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#ending.called;
  }

  /**
   * Sends one message of `type` (1 to 2^53 - 1), waiting while the queue is full. Sends wait in call order.
   * @throws TooLargeError over `maxMessageBytes`, TimeoutError, AbortedError, ClosedError (also once removed).
   */
  send(type: number, data: Uint8Array, options?: WaitOptions): Promise<void> {
    try {
      this.#checkSend(type, data);
      if (options !== undefined) checkWaitOptions(options);
      if (
        this.#sends.size === 0 &&
        (this.#sendNow(type, data) || this.#spin.run(() => this.#sendNow(type, data) || undefined) === true)
      )
        return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    const sent = this.#sends.enqueue({ type, data: copyBytes(data) }, options);
    this.#schedule();
    return sent;
  }

  /** Sends if there is room now; false when the queue is full (or earlier sends wait). */
  trySend(type: number, data: Uint8Array): boolean {
    this.#checkSend(type, data);
    return this.#sends.size === 0 && this.#sendNow(type, data);
  }

  /**
   * Receives the first message the selector matches (`type`, `except`; default: the first message), waiting
   * while there is none. Receives that wait are served in call order among those a message matches.
   * A message longer than `maxMessageBytes` (from a C peer) is taken off the queue and rejects with TooLargeError.
   */
  receive(options?: SysvReceiveOptions): Promise<SysvMessage> {
    let type: number;
    let flags: number;
    try {
      this.#check();
      [type, flags] = selectorFlags(options);
      if (options !== undefined) checkWaitOptions(options);
      if (this.#receivers.size === 0) {
        const now = this.#receiveNow(type, flags) ?? this.#spin.run(() => this.#receiveNow(type, flags));
        if (now !== undefined) return Promise.resolve(now);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#waitToReceive(type, flags, options);
  }

  /** The first message the selector matches, if one waits now; else undefined. */
  tryReceive(selector?: SysvSelector): SysvMessage | undefined {
    this.#check();
    const [type, flags] = selectorFlags(selector);
    return this.#receivers.size === 0 ? this.#receiveNow(type, flags) : undefined;
  }

  /** Yields every message (any type) until the queue is closed or removed. */
  [Symbol.asyncIterator](): AsyncIterator<SysvMessage> {
    return iterate(
      () => this.receive(),
      () => this.closed,
    );
  }

  /** IPC_STAT: capacity, messages and bytes waiting, owner, mode, last sender and receiver pids and times. */
  stat(): SysvMsgStat {
    this.#check();
    try {
      return sysv.msg.stat(this.id);
    } catch (error) {
      throw queueError(`${this.#what} stat`, error);
    }
  }

  /** IPC_SET: owner uid/gid, permission bits and capacity in bytes (only those given). */
  set(options: { uid?: number; gid?: number; mode?: number; maxBytes?: number }): void {
    const s = this.stat();
    try {
      const o: { uid: number; gid: number; mode: number; maxBytes?: number } = {
        uid: options.uid ?? s.uid,
        gid: options.gid ?? s.gid,
        mode: options.mode === undefined ? s.mode : modeOption(options.mode),
      };
      if (options.maxBytes !== undefined) o.maxBytes = options.maxBytes;
      sysv.msg.set(this.id, o);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      throw queueError(`${this.#what} set`, error);
    }
  }

  /** IPC_RMID: removes the queue and its messages now; waiting calls here and in other processes fail. */
  remove(): void {
    this.#check();
    try {
      sysv.msg.remove(this.id);
    } catch (error) {
      throw queueError(`${this.#what} remove`, error);
    }
    this.#registration?.unregister();
    this.#registration = undefined;
  }

  /**
   * Graceful: waiting receives reject with `ClosedError` at once; sends already waiting for room go into the
   * queue first (or fail), for at most `lingerTimeout` ms (then they reject with `ClosedError`); then the creator
   * removes the queue (unless it was removed already), an opener leaves it. Never hangs. Idempotent (the same
   * promise again).
   */
  close(): Promise<void> {
    return this.#ending.close(
      async () => {
        this.#receivers.fail(new ClosedError(this.#what));
        await this[sendsSettled]();
      },
      () => this.#release(new ClosedError(this.#what)),
    );
  }

  /** Immediate: waiting calls reject with `error` (default `ClosedError`), then as `close`. Idempotent. */
  destroy(error?: Error): void {
    this.#ending.destroy(() => this.#release(error ?? new ClosedError(this.#what)));
  }

  #release(error: Error): void {
    clearTimeout(this.#timer as NodeJS.Timeout);
    clearImmediate(this.#timer as NodeJS.Immediate);
    this.#timer = undefined;
    this.#fail(error);
    if (this.#registration !== undefined && !this.#keep) {
      this.#registration.unregister();
      this.#registration = undefined;
      removeQuietly(this.id);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * @internal SysvChannel: `close` leaves the queue to the other end, which removes it; it stays registered,
   * so that this process's shutdown removes it if the other end never does.
   */
  disownOnClose(): void {
    this.#keep = true;
  }

  /**
   * Resolves once every send waiting now is in the queue or has failed, or `lingerTimeout` passed (then those
   * still waiting reject with `ClosedError`). SysvChannel's close.
   */
  [sendsSettled](): Promise<void> {
    return this.#sends.drainedWithin(
      this.#lingerMs,
      () => new ClosedError(`${this.#what} (no room within its lingerTimeout of ${this.#lingerMs} ms at close)`),
    );
  }

  /** Rejects every waiting receive with `error` (SysvChannel's close). */
  [failReceives](error: unknown): void {
    this.#receivers.fail(error);
  }

  /** @internal SysvChannel: rejects every waiting call with `error`. */
  fail(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): void {
    this.#receivers.fail(error);
    this.#sends.rejectAll(error);
  }

  /** @internal SysvChannel: receives into the scratch buffer: the length (type in `out`) or -1. */
  receiveRaw(type: number, flags: number): number {
    try {
      return sysv.msg.receiveInto(this.id, this.#scratch, type, flags, this.#out);
    } catch (error) {
      throw queueError(`${this.#what} receive`, error);
    }
  }

  #check(): void {
    if (this.#ending.called) throw new ClosedError(this.#what);
  }

  #checkSend(type: number, data: Uint8Array): void {
    this.#check();
    checkSendType(type);
    if (!(data instanceof Uint8Array)) throw new TypeError('a queue message is a Uint8Array (or Buffer)');
    if (data.length > this.maxMessageBytes) throw new TooLargeError('message', data.length, this.maxMessageBytes);
  }

  #sendNow(type: number, data: Uint8Array): boolean {
    let sent: boolean;
    try {
      sent = sysv.msg.trySend(this.id, type, data);
    } catch (error) {
      throw queueError(`${this.#what} send`, error);
    }
    if (sent) this.#moved();
    return sent;
  }

  /** Something went through: the queue is busy, so waits spin and re-poll eagerly for a while. */
  #moved(): void {
    this.#spin.busy = true;
    this.#eagerUntil = performance.now() + EAGER_MS;
  }

  #receiveNow(type: number, flags: number): SysvMessage | undefined {
    const length = this.receiveRaw(type, flags);
    if (length < 0) return undefined;
    this.#moved();
    if (length > this.maxMessageBytes)
      throw new TooLargeError(
        `incoming message (more than ${this.maxMessageBytes} bytes)`,
        undefined,
        this.maxMessageBytes,
      );
    return { type: this.#out[0]!, data: copyBytes(this.#scratch.subarray(0, length)) };
  }

  #waitToReceive(type: number, flags: number, options: WaitOptions | undefined): Promise<SysvMessage> {
    return waitFor<SysvMessage>('receive', options, (settle) => {
      const entry: PendingReceive = { type, flags, settle };
      this.#receivers.add(entry);
      this.#schedule();
      return () => this.#receivers.delete(entry);
    });
  }

  /**
   * Arms the next attempt while calls wait. For EAGER_MS after the queue last moved, on the next turn of the
   * event loop (setImmediate: other callbacks still run, and a peer's answer in a round trip is caught in
   * microseconds, not a timer's millisecond); then a timer whose delay doubles up to pollInterval while
   * nothing moves.
   */
  #schedule(): void {
    if (this.#timer !== undefined || (this.#receivers.size === 0 && this.#sends.size === 0)) return;
    if (performance.now() < this.#eagerUntil) {
      this.#timer = setImmediate(this.#onTimer);
      return;
    }
    this.#timer = setTimeout(this.#onTimer, this.#delay);
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#poll();
  };

  #poll(): void {
    let moved = false;
    try {
      for (const r of this.#receivers) {
        let got: SysvMessage | undefined;
        try {
          got = this.#receiveNow(r.type, r.flags);
        } catch (error) {
          if (!(error instanceof TooLargeError)) throw error;
          this.#receivers.delete(r);
          r.settle.reject(error);
          moved = true;
          continue;
        }
        if (got === undefined) continue; // a later receive may select another type
        this.#receivers.delete(r);
        r.settle.resolve(got);
        moved = true;
      }
    } catch (error) {
      this.#fail(error);
    }
    if (this.#sends.size > 0 && this.#sends.flush((s) => this.#sendNow(s.type, s.data)) > 0) moved = true;
    if (moved) {
      this.#delay = 1;
      this.#eagerUntil = performance.now() + EAGER_MS;
    } else if (performance.now() >= this.#eagerUntil) {
      this.#delay = Math.min(this.#delay * 2, this.#pollMs);
    }
    this.#schedule();
  }
}

/** `SysvMessageQueue.create`, synchronously, for SysvChannel. */
export function createSysvQueue(options: SysvMessageQueueCreateOptions): SysvMessageQueue {
  return SysvMessageQueue[createSync](options);
}

/** `SysvMessageQueue.open`, synchronously, for SysvChannel. */
export function openSysvQueue(options: SysvMessageQueueOptions): SysvMessageQueue {
  return SysvMessageQueue[openSync](options, false);
}

/** The polling options of `options` (what an adopted queue keeps of create's options). */
function pick(options: SysvMessageQueueOptions): SysvMessageQueueOptions {
  const { pollInterval, spinMicroseconds, lingerTimeout } = options;
  return {
    ...(pollInterval !== undefined ? { pollInterval } : {}),
    ...(spinMicroseconds !== undefined ? { spinMicroseconds } : {}),
    ...(lingerTimeout !== undefined ? { lingerTimeout } : {}),
  };
}

/** Refuses a queue owned or created by another uid, or open wider than `mode`. */
export function checkAdoptable(what: string, stat: { uid: number; cuid: number; mode: number }, mode: number): void {
  const me = process.geteuid?.() ?? -1;
  if (stat.uid !== me || stat.cuid !== me) {
    throw new PermissionError(
      `${what} belongs to uid ${stat.uid} (created by uid ${stat.cuid}), not to this process's uid ${me}; it is not adopted`,
    );
  }
  if ((stat.mode & ~mode) !== 0) {
    throw new PermissionError(
      `${what} has mode 0o${stat.mode.toString(8)}, wider than the 0o${mode.toString(8)} asked for; it is not adopted (pass a wider mode to accept it)`,
    );
  }
}

function removeQuietly(id: number): void {
  try {
    sysv.msg.remove(id);
  } catch {
    // already removed
  }
}
