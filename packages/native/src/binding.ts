/**
 * The only importer of the compiled addon. Every native function is typed here; the rest of the package
 * adds names, defaults, validation and lifetimes on top. Native functions take already-validated
 * arguments and throw an {@link ErrnoError} (errno, code, syscall) when the syscall fails.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { addonCandidates, missingAddonMessage } from './internal/addon-path.js';

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

/** Kernel numbers for System V IPC and fcntl record locks. */
export interface NativeSysvConstants {
  readonly IPC_CREAT: number;
  readonly IPC_EXCL: number;
  readonly IPC_NOWAIT: number;
  readonly IPC_PRIVATE: number;
  readonly SHMLBA: number;
  readonly MSG_EXCEPT: number;
  readonly MSG_NOERROR: number;
  readonly SEM_UNDO: number;
  readonly GETVAL: number;
  readonly SETVAL: number;
  readonly GETPID: number;
  readonly GETNCNT: number;
  readonly GETZCNT: number;
  readonly SEMVMX: number;
  readonly F_RDLCK: number;
  readonly F_WRLCK: number;
  readonly F_UNLCK: number;
}

export interface NativeBinding {
  /**
   * How shmOpen makes its SharedArrayBuffer in this process, looked up at run time (cpp/sab.cc):
   * "node-api" (node_api_create_external_sharedarraybuffer: Node 22, 24), "v8" (V8's BackingStore API:
   * Node 20) or "none" (neither: shmOpen throws ENOSYS).
   */
  readonly sharedArrayBufferImpl: 'node-api' | 'v8' | 'none';
  readonly constants: NativeConstants;

  /** shm_open(O_RDWR | oflag & (O_CREAT|O_EXCL)), ftruncate when truncateTo >= 0, mmap; undefined if size 0. */
  shmOpen(name: string, oflag: number, mode: number, truncateTo: number): SharedArrayBuffer | undefined;
  shmUnlink(name: string): void;
  /** [size, uid, gid, mode] */
  shmStat(name: string): [number, number, number, number];

  /** 0 ok | 1 not-equal | 2 timed-out; timeoutMs < 0: forever. */
  futexWait(i32: Int32Array, index: number, value: number, timeoutMs: number): number;
  /** Returns the job id; callback result: 0 | 1 | 2 as futexWait. */
  futexWaitAsync(
    i32: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
    callback: NativeWaitCallback,
  ): number;
  /** count < 0: all. Returns the number woken. */
  futexWake(i32: Int32Array, index: number, count: number): number;
  /** Cancels a pending waiter-thread job (futex, semaphore, flock); it completes with ECANCELED. */
  cancelWait(id: number): void;
  /** [threads in the process-wide pool, idle threads, waits pending in this thread, 1 when this thread's futex waits go through io_uring] */
  waiterStats(): [number, number, number, number];
  /** For tests: the id the next wait of this thread is given (wait ids are 32-bit and wrap). */
  setNextWaitId(id: number): void;

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
  dupFd(fd: number): number;
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
  /** Bytes sent, or -errno; never throws for a failed send. */
  sockTrySend(fd: number, data: ArrayBufferView): number;
  sockSendTo(fd: number, data: ArrayBufferView, address: string, abstract: boolean): number;
  /** out[0] = length, out[1] = 1 if truncated. Returns the sender: a path, "\0name" (abstract) or undefined. */
  sockReceive(
    fd: number,
    target: ArrayBufferView,
    out: Int32Array,
    emptyOk?: boolean,
    spinNs?: number,
  ): string | undefined;
  /** [pid, uid, gid] */
  sockPeerCred(fd: number): [number, number, number];
  sockSendFds(fd: number, data: ArrayBufferView, fds: Int32Array): number;
  /** out[0] = length, out[1] = bit 0 data truncated | bit 1 descriptors dropped. */
  /**
   * With emptyOk, EAGAIN is out[0] = -1 (and undefined) rather than an Error; with spinNs too, an empty queue is
   * retried for that long first. sockReceive too.
   */
  sockReceiveFds(
    fd: number,
    target: ArrayBufferView,
    out: Int32Array,
    emptyOk?: boolean,
    spinNs?: number,
  ): number[] | undefined;
  /**
   * recv(MSG_DONTWAIT [| MSG_PEEK]) retried for up to spinNs nanoseconds: bytes received (0: end of stream or
   * an empty packet), or -1 when nothing came in time. Other errors throw.
   */
  sockSpinReceive(fd: number, target: ArrayBufferView, spinNs: number, peek?: boolean): number;

  Semaphore: new (name: string, oflag: number, mode: number, value: number) => NativeSemaphore;
  semUnlink(name: string): void;

  /** Returns false when LOCK_NB was given and the lock is held elsewhere. */
  flock(fd: number, op: number): boolean;
  /** Blocking flock on a waiter thread; returns the job id. */
  flockAsync(fd: number, op: number, callback: NativeWaitCallback): number;

  readonly sysvConstants: NativeSysvConstants;
  sysvFtok(path: string, id: number): number;
  sysvShmGet(key: number, size: number, flags: number): number;
  /** shmat read-write; the buffer's collection detaches. */
  sysvShmAttach(id: number): SharedArrayBuffer;
  /** Replaces the attachment under `view` (all of it) with private zero pages: detaches without unmapping. */
  sysvShmDetach(view: Uint8Array): void;
  /** [size, uid, gid, cuid, cgid, mode, cpid, lpid, nattch, atime, dtime, ctime, key] */
  sysvShmStat(id: number): number[];
  sysvShmSet(id: number, uid: number, gid: number, mode: number): void;
  sysvShmRemove(id: number): void;
  sysvShmLock(id: number, on: boolean): void;
  sysvMsgGet(key: number, flags: number): number;
  /** False when IPC_NOWAIT was given and the queue is full. */
  sysvMsgSend(id: number, type: number, data: ArrayBufferView, flags: number): boolean;
  /** The length (out[0] = type), or -1 when IPC_NOWAIT was given and nothing matches. */
  sysvMsgReceive(id: number, target: ArrayBufferView, type: number, flags: number, out: Float64Array): number;
  /** [qbytes, qnum, uid, gid, cuid, cgid, mode, lspid, lrpid, stime, rtime, ctime, cbytes, key] */
  sysvMsgStat(id: number): number[];
  /** qbytes < 0: unchanged. */
  sysvMsgSet(id: number, uid: number, gid: number, mode: number, qbytes: number): void;
  sysvMsgRemove(id: number): void;
  sysvSemGet(key: number, nsems: number, flags: number): number;
  /** ops: (index, delta, flags) triples. True when done; false when it would block (IPC_NOWAIT) or timed out. */
  sysvSemOp(id: number, ops: Int32Array, timeoutMs: number): boolean;
  /** On a waiter thread; result 1 done, 0 timed out. Returns the job id. */
  sysvSemOpAsync(id: number, ops: Int32Array, timeoutMs: number, callback: NativeWaitCallback): number;
  /** GETVAL, SETVAL, GETPID, GETNCNT, GETZCNT. */
  sysvSemCtl(id: number, index: number, cmd: number, value: number): number;
  sysvSemGetAll(id: number, out: Uint16Array): void;
  sysvSemSetAll(id: number, values: Uint16Array): void;
  /** [nsems, uid, gid, cuid, cgid, mode, otime, ctime, key] */
  sysvSemStat(id: number): number[];
  sysvSemSet(id: number, uid: number, gid: number, mode: number): void;
  sysvSemRemove(id: number): void;

  /** F_SETLK / F_OFD_SETLK; false when the range is held elsewhere. */
  recordLock(fd: number, ofd: boolean, type: number, start: number, length: number): boolean;
  /** F_GETLK / F_OFD_GETLK: undefined when free, else [type, start, length, pid]. */
  recordLockTest(
    fd: number,
    ofd: boolean,
    type: number,
    start: number,
    length: number,
  ): [number, number, number, number] | undefined;
  /** F_SETLKW / F_OFD_SETLKW on a waiter thread; returns the job id. */
  recordLockAsync(
    fd: number,
    ofd: boolean,
    type: number,
    start: number,
    length: number,
    callback: NativeWaitCallback,
  ): number;
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

/**
 * Bun loads the addon but has no libuv `uv_poll` (it panics, killing the process, at the first
 * `uv_poll_init`): there FdWatcher and SignalReceiver fail with ENOSYS instead, like an errno from the addon.
 */
function withoutUvPoll(what: string): never {
  return class {
    constructor() {
      throw Object.assign(
        new Error(`ENOSYS: ${what} needs libuv's uv_poll, which Bun does not provide, uv_poll_init`),
        {
          errno: osConstants.errno.ENOSYS,
          code: 'ENOSYS',
          syscall: 'uv_poll_init',
        },
      );
    }
  } as never;
}

function load(): NativeBinding {
  if (process.platform !== 'linux') {
    throw Object.assign(
      new Error(
        `@ipcx/native supports Linux only; this is ${process.platform}. Its syscalls (futex, POSIX mq, eventfd, SO_PEERCRED) have no equivalent here.`,
      ),
      { code: 'ERR_UNSUPPORTED_PLATFORM' },
    );
  }
  const require = createRequire(import.meta.url);
  // src/binding.ts and dist/index.js both sit one level below the package root.
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tried: { file: string; error: unknown }[] = [];
  for (const file of addonCandidates(root)) {
    try {
      // The addon's exports object has too many properties for V8's fast mode: every `native.fn` would be a
      // dictionary lookup on the hot paths. A spread copy has fast properties.
      const addon = { ...(require(file) as NativeBinding) };
      if (process.versions.bun !== undefined) {
        addon.FdWatcher = withoutUvPoll('FdWatcher');
        addon.SignalReceiver = withoutUvPoll('SignalReceiver');
      }
      return addon;
    } catch (error) {
      tried.push({ file, error });
    }
  }
  throw Object.assign(new Error(missingAddonMessage(root, tried)), { code: 'ERR_IPCX_NATIVE_NO_BINARY' });
}

export const native: NativeBinding = load();
export const constants: NativeConstants = native.constants;
