/**
 * POSIX message queues. A queue descriptor is a number (on Linux an mqd_t is a file descriptor, so
 * {@link FdWatcher} can poll it: readable = a message is waiting, writable = there is room).
 * Descriptors are non-blocking unless `nonBlocking: false` is asked for: send and receive then throw
 * EAGAIN instead of blocking the event loop. The timed calls block the calling thread and are for
 * workers on a blocking descriptor.
 *
 * Kernel limits (see README): by default at most 10 messages of 8 KiB per queue and 819200 bytes of
 * queues per user (RLIMIT_MSGQUEUE); larger values need /proc/sys/fs/mqueue/* raised.
 */
import { readFileSync } from 'node:fs';

import { constants, native } from './binding.js';
import { errnoError } from './errors.js';
import {
  ipcName,
  toNativeTimeout,
  validateBoolean,
  validateBytes,
  validateFd,
  validateInt,
  validateMode,
  validateOutgoing,
} from './internal/validate.js';

export interface MqOpenOptions {
  /** Create the queue if it does not exist (default false). */
  create?: boolean;
  /** Fail with EEXIST if it exists; implies create (default false). */
  exclusive?: boolean;
  /** Permission bits of a created queue (default 0o600). */
  mode?: number;
  /** Capacity of a created queue (default /proc/sys/fs/mqueue/msg_default, usually 10). */
  maxMessages?: number;
  /** Largest message of a created queue (default /proc/sys/fs/mqueue/msgsize_default, usually 8192). */
  messageSize?: number;
  /** Open for receiving (default true). */
  read?: boolean;
  /** Open for sending (default true). */
  write?: boolean;
  /** O_NONBLOCK (default true). */
  nonBlocking?: boolean;
}

export interface MqAttributes {
  /** 0 or O_NONBLOCK */
  flags: number;
  maxMessages: number;
  messageSize: number;
  currentMessages: number;
}

export interface MqReceived {
  length: number;
  priority: number;
}

// The addon returns length * PRIO_SPAN + priority as one number: cheaper than a result object from C++.
const PRIO_SPAN = 32768;

function kernelDefault(file: string, fallback: number): number {
  try {
    return Number.parseInt(readFileSync(`/proc/sys/fs/mqueue/${file}`, 'utf8'), 10) || fallback;
  } catch {
    return fallback;
  }
}

function validatePriority(priority: unknown): number {
  return validateInt(priority, 'priority', 0, constants.MQ_PRIO_MAX - 1);
}

export const mq = {
  /**
   * Opens (and with `create`, creates) a queue; returns its descriptor.
   * @example
   * const fd = mq.open('/ipcx-jobs', { create: true, maxMessages: 10, messageSize: 1024 });
   */
  open(name: string, options: MqOpenOptions = {}): number {
    const n = ipcName(name);
    const exclusive = validateBoolean(options.exclusive ?? false, 'options.exclusive');
    const create = validateBoolean(options.create ?? false, 'options.create') || exclusive;
    const read = validateBoolean(options.read ?? true, 'options.read');
    const write = validateBoolean(options.write ?? true, 'options.write');
    const nonBlocking = validateBoolean(options.nonBlocking ?? true, 'options.nonBlocking');
    const mode = validateMode(options.mode ?? 0o600, 'options.mode');
    if (!read && !write)
      throw Object.assign(new TypeError('options.read and options.write cannot both be false'), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
    let oflag = read && write ? constants.O_RDWR : read ? constants.O_RDONLY : constants.O_WRONLY;
    if (create) oflag |= constants.O_CREAT;
    if (exclusive) oflag |= constants.O_EXCL;
    if (nonBlocking) oflag |= constants.O_NONBLOCK;
    let maxMessages = 0;
    let messageSize = 0;
    if (create && (options.maxMessages !== undefined || options.messageSize !== undefined)) {
      maxMessages = validateInt(
        options.maxMessages ?? kernelDefault('msg_default', 10),
        'options.maxMessages',
        1,
        0x7fffffff,
      );
      messageSize = validateInt(
        options.messageSize ?? kernelDefault('msgsize_default', 8192),
        'options.messageSize',
        1,
        0x7fffffff,
      );
    }
    return native.mqOpen(n, oflag, mode, maxMessages, messageSize);
  },

  /** Sends one message (priority 0..32767, higher is received first). EAGAIN when full and non-blocking; EMSGSIZE when larger than the queue's messageSize. */
  send(fd: number, data: Uint8Array, priority = 0): void {
    if (!mq.trySend(fd, data, priority)) throw errnoError('EAGAIN', 'mq_send', 'the queue is full');
  },

  /**
   * `send` that returns false instead of throwing EAGAIN when a non-blocking queue is full: no Error is
   * built, which matters to a caller that retries in a loop. Other failures still throw.
   */
  trySend(fd: number, data: Uint8Array, priority = 0): boolean {
    return native.mqSend(validateFd(fd), validateOutgoing(data, 'data'), validatePriority(priority));
  },

  /**
   * Receives the oldest message of the highest priority into `target`, which must be at least the
   * queue's messageSize (else EMSGSIZE). EAGAIN when empty and non-blocking.
   */
  receive(fd: number, target: Uint8Array): MqReceived {
    const received = mq.tryReceive(fd, target);
    if (received === undefined) throw errnoError('EAGAIN', 'mq_receive', 'the queue is empty');
    return received;
  },

  /**
   * `receive` that returns undefined instead of throwing EAGAIN when a non-blocking queue is empty.
   * `attempts` (default 1) retries an empty queue in C that many times before giving up: a spin that
   * does not come back to JavaScript between syscalls.
   */
  tryReceive(fd: number, target: Uint8Array, attempts = 1): MqReceived | undefined {
    const packed = native.mqReceive(
      validateFd(fd),
      validateBytes(target, 'target'),
      validateInt(attempts, 'attempts', 1, 1_000_000),
    );
    if (packed < 0) return undefined;
    return { length: Math.floor(packed / PRIO_SPAN), priority: packed % PRIO_SPAN };
  },

  /** Blocking send with a deadline (ETIMEDOUT). Blocks the thread: for workers, on a blocking descriptor (EAGAIN at once otherwise). */
  timedSend(fd: number, data: Uint8Array, priority: number, timeoutMs: number): void {
    native.mqTimedSend(
      validateFd(fd),
      validateOutgoing(data, 'data'),
      validatePriority(priority),
      toNativeTimeout(timeoutMs),
    );
  },

  /** Blocking receive with a deadline (ETIMEDOUT). Same conditions as timedSend. */
  timedReceive(fd: number, target: Uint8Array, timeoutMs: number): MqReceived {
    const packed = native.mqTimedReceive(validateFd(fd), validateBytes(target, 'target'), toNativeTimeout(timeoutMs));
    return { length: Math.floor(packed / PRIO_SPAN), priority: packed % PRIO_SPAN };
  },

  getAttributes(fd: number): MqAttributes {
    const [flags, maxMessages, messageSize, currentMessages] = native.mqGetAttr(validateFd(fd));
    return { flags, maxMessages, messageSize, currentMessages };
  },

  /** Switches O_NONBLOCK on the open queue description (shared by every duplicate of the descriptor). */
  setNonBlocking(fd: number, on: boolean): void {
    native.mqSetNonBlocking(validateFd(fd), validateBoolean(on, 'on'));
  },

  /** Closes the descriptor. A second close does not throw (but close once: descriptor numbers are reused). */
  close(fd: number): void {
    native.closeFd(validateFd(fd));
  },

  /** Removes the name; the queue lives until its last descriptor closes. ENOENT if absent. */
  unlink(name: string): void {
    native.mqUnlink(ipcName(name));
  },
};
