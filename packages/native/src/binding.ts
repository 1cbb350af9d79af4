/**
 * The only importer of the compiled addon. Every native function is typed here; the rest of the package
 * adds names, defaults, validation and lifetimes on top. Native functions take already-validated
 * arguments and throw an {@link ErrnoError} (errno, code, syscall) when the syscall fails.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Completion callback of a wait on a native waiter thread: (error | null, result). */
export type NativeWaitCallback = (error: Error | null, result: number) => void;

export interface NativeConstants {
  readonly O_RDONLY: number;
  readonly O_WRONLY: number;
  readonly O_RDWR: number;
  readonly O_CREAT: number;
  readonly O_EXCL: number;
  readonly O_NONBLOCK: number;
  readonly EFD_SEMAPHORE: number;
  readonly EFD_NONBLOCK: number;
  readonly LOCK_SH: number;
  readonly LOCK_EX: number;
  readonly LOCK_UN: number;
  readonly LOCK_NB: number;
  readonly SOCK_STREAM: number;
  readonly SOCK_DGRAM: number;
  readonly SOCK_SEQPACKET: number;
  readonly MQ_PRIO_MAX: number;
  readonly SIGRTMIN: number;
  readonly SIGRTMAX: number;
  /** Sent to our own waiter threads to cancel a wait; not available to signals.listen. */
  readonly INTERRUPT_SIGNAL: number;
}

export interface NativeFdWatcher {
  /** events: 1 readable | 2 writable */
  start(events: number): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeSemaphore {
  post(): void;
  /** timeoutMs < 0: forever. true = acquired, false = timed out. Blocks the calling thread. */
  wait(timeoutMs: number): boolean;
  /** Result 1 = acquired, 0 = timed out. Returns the job id (for cancelWait). */
  waitAsync(timeoutMs: number, callback: NativeWaitCallback): number;
  tryWait(): boolean;
  value(): number;
  /** Cancels pending waitAsync jobs (ECANCELED); sem_close runs after the last one. */
  close(): void;
}

export interface NativeSignalReceiver {
  close(): void;
  ref(): void;
  unref(): void;
  dropped(): number;
}

export interface NativeBinding {
  /** "v8" (Node < 24.16: V8 BackingStore) or "node-api" (node_api_create_external_sharedarraybuffer). */
  readonly sharedArrayBufferImpl: 'v8' | 'node-api';
  readonly constants: NativeConstants;

  /** shm_open(O_RDWR | oflag & (O_CREAT|O_EXCL)), ftruncate when truncateTo >= 0, mmap; undefined if size 0. */
  shmOpen(name: string, oflag: number, mode: number, truncateTo: number): SharedArrayBuffer | undefined;
  shmUnlink(name: string): void;
  /** [size, uid, gid, mode] */
  shmStat(name: string): [number, number, number, number];

  /** 0 ok | 1 not-equal | 2 timed-out; timeoutMs < 0: forever. */
  futexWait(i32: Int32Array, index: number, value: number, timeoutMs: number): number;
  /** Returns the job id; callback result: 0 | 1 | 2 as futexWait. */
  futexWaitAsync(i32: Int32Array, index: number, value: number, timeoutMs: number, callback: NativeWaitCallback): number;
  /** count < 0: all. Returns the number woken. */
  futexWake(i32: Int32Array, index: number, count: number): number;
  /** Cancels a pending waiter-thread job (futex, semaphore, flock); it completes with ECANCELED. */
  cancelWait(id: number): void;
  /** [threads in the process-wide pool, idle threads, jobs pending in this thread] */
  waiterStats(): [number, number, number];

  FdWatcher: new (fd: number, callback: (error: Error | null, events: number) => void) => NativeFdWatcher;

  mqOpen(name: string, oflag: number, mode: number, maxMessages: number, messageSize: number): number;
  /** False when a non-blocking queue is full (EAGAIN is returned, not thrown). */
  mqSend(fd: number, data: ArrayBufferView, priority: number): boolean;
  /**
   * Returns length * 32768 + priority (MQ_PRIO_MAX is 32768): one number, no result object; -1 when a
   * non-blocking queue is empty (EAGAIN is returned, not thrown) `attempts` times in a row (default 1).
   */
  mqReceive(fd: number, target: ArrayBufferView, attempts?: number): number;
  mqTimedSend(fd: number, data: ArrayBufferView, priority: number, timeoutMs: number): void;
  /** As mqReceive. */
  mqTimedReceive(fd: number, target: ArrayBufferView, timeoutMs: number): number;
  /** [flags, maxmsg, msgsize, curmsgs] */
  mqGetAttr(fd: number): [number, number, number, number];
  mqSetNonBlocking(fd: number, on: boolean): void;
  mqUnlink(name: string): void;

  /** close(2); EBADF is ignored. */
  closeFd(fd: number): void;
  eventfdCreate(initial: number, flags: number): number;
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: bigint): void;
  mkfifo(path: string, mode: number): void;

  sockSocket(type: number): number;
  sockPair(type: number): [number, number];
  sockBind(fd: number, address: string, abstract: boolean): void;
  sockConnect(fd: number, address: string, abstract: boolean): void;
  sockListen(fd: number, backlog: number): void;
  sockAccept(fd: number): number;
  sockSend(fd: number, data: ArrayBufferView): number;
  sockSendTo(fd: number, data: ArrayBufferView, address: string, abstract: boolean): number;
  /** out[0] = length, out[1] = 1 if truncated. Returns the sender: a path, "\0name" (abstract) or undefined. */
  sockReceive(fd: number, target: ArrayBufferView, out: Int32Array): string | undefined;
  /** [pid, uid, gid] */
  sockPeerCred(fd: number): [number, number, number];
  sockSendFds(fd: number, data: ArrayBufferView, fds: Int32Array): number;
  /** out[0] = length, out[1] = bit 0 data truncated | bit 1 descriptors dropped. */
  sockReceiveFds(fd: number, target: ArrayBufferView, out: Int32Array): number[];

  Semaphore: new (name: string, oflag: number, mode: number, value: number) => NativeSemaphore;
  semUnlink(name: string): void;

  /** Returns false when LOCK_NB was given and the lock is held elsewhere. */
  flock(fd: number, op: number): boolean;
  /** Blocking flock on a waiter thread; returns the job id. */
  flockAsync(fd: number, op: number, callback: NativeWaitCallback): number;

  /** open(dir, O_TMPFILE | O_RDWR), fchmod(mode), ftruncate + posix_fallocate(size) → fd. */
  shmTmpfile(dir: string, mode: number, size: number): number;
  /** fstat + mmap of the whole file; undefined when it is empty. */
  shmMapFd(fd: number): SharedArrayBuffer | undefined;
  /** linkat("/proc/self/fd/<fd>", path, AT_SYMLINK_FOLLOW); EEXIST when `path` exists. */
  linkFd(fd: number, path: string): void;
  /** F_OFD_SETLK; type 0 unlock, 1 read, 2 write. False when another description holds a conflicting lock. */
  ofdLock(fd: number, type: number, start: number, length: number): boolean;
  /** F_OFD_GETLK for a write lock: 0 free, 1 read-locked elsewhere, 2 write-locked elsewhere. */
  ofdHeld(fd: number, start: number, length: number): number;
  /** Registers an action for when this thread's environment ends: store value in i32[index] (+ futex wake), close fd (>= 0). */
  atExit(fd: number, i32?: Int32Array, index?: number, value?: number): number;
  /** Forgets an `atExit` action; with `run`, performs it now. */
  cancelAtExit(id: number, run: boolean): void;

  sigqueue(pid: number, signal: number, value: number): void;
  SignalReceiver: new (
    signal: number,
    callback: (signal: number, code: number, pid: number, uid: number, value: number) => void,
  ) => NativeSignalReceiver;
}

function load(): NativeBinding {
  if (process.platform !== 'linux') {
    throw Object.assign(
      new Error(`@ipcx/native supports Linux only; this is ${process.platform}. Its syscalls (futex, POSIX mq, eventfd, SO_PEERCRED) have no equivalent here.`),
      { code: 'ERR_UNSUPPORTED_PLATFORM' },
    );
  }
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  // src/binding.ts and dist/index.js both sit one level below the package root. IPCX_NATIVE_ADDON_DIR
  // points at another directory holding build/Release (test:compat builds one per Node version).
  const root = fileURLToPath(new URL('..', import.meta.url));
  const addon = nodeGypBuild(process.env.IPCX_NATIVE_ADDON_DIR ?? root) as NativeBinding;
  // The addon's exports object has too many properties for V8's fast mode: every `native.fn` would be a
  // dictionary lookup on the hot paths. A spread copy has fast properties.
  return { ...addon };
}

export const native: NativeBinding = load();
export const constants: NativeConstants = native.constants;
