/**
 * System V IPC (sysvipc(7)): shared memory segments, message queues and semaphore sets, found by a key
 * (`ftok(path, id)` or a number) or by id. Thin: flags in, errno errors out. Ownership checks, defaults
 * and waiting policy live in `@ipcx/shm` and `@ipcx/mq`.
 *
 * A segment is attached as a real SharedArrayBuffer; V8 detaches it (munmap) when the last
 * SharedArrayBuffer over it is collected. `shm.detach` detaches at once by replacing the attachment with
 * private zero pages, so JavaScript that still holds the buffer reads zeros instead of crashing.
 */
import { native, type NativeSysvConstants } from './binding.js';
import {
  toNativeTimeout,
  validateBoolean,
  validateInt,
  validateMode,
  validateSignal,
  validateString,
} from './internal/validate.js';
import { waitOnThread } from './internal/wait-on-thread.js';

/** Kernel numbers: IPC_*, MSG_*, SEM_UNDO, semctl commands, F_RDLCK/F_WRLCK/F_UNLCK. */
export const sysvConstants: NativeSysvConstants = native.sysvConstants;
const C = sysvConstants;

/** IPC_STAT of a segment. Times are seconds since the epoch (0: never). */
export interface SysvShmStat {
  size: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
  /** Process that created it. */
  creatorPid: number;
  /** Process that attached or detached last. */
  lastPid: number;
  attachCount: number;
  attachTime: number;
  detachTime: number;
  changeTime: number;
  key: number;
  /** IPC_RMID was done: the segment goes when its last attachment does (SHM_DEST). */
  removed: boolean;
  /** SHM_LOCK is on (SHM_LOCKED). */
  locked: boolean;
}

/** IPC_STAT of a message queue. */
export interface SysvMsgStat {
  /** Capacity in bytes (msg_qbytes). */
  maxBytes: number;
  /** Messages waiting. */
  messages: number;
  /** Bytes waiting. */
  bytes: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
  lastSendPid: number;
  lastReceivePid: number;
  sendTime: number;
  receiveTime: number;
  changeTime: number;
  key: number;
}

/** IPC_STAT of a semaphore set. */
export interface SysvSemStat {
  count: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
  opTime: number;
  changeTime: number;
  key: number;
}

/** Owner and permission bits for IPC_SET. */
export interface SysvOwnership {
  uid: number;
  gid: number;
  mode: number;
}

/** A received System V message: `length` bytes in the target, of `type`. */
export interface SysvReceived {
  length: number;
  type: number;
}

/** One semop operation. */
export interface SysvSemOperation {
  /** Which semaphore of the set. */
  index: number;
  /** > 0 adds, < 0 waits until it can subtract, 0 waits for zero. */
  delta: number;
  /** SEM_UNDO: the kernel reverses the operation when the process exits. */
  undo?: boolean;
  /** IPC_NOWAIT for this operation. */
  noWait?: boolean;
}

/** A key: a 32-bit integer (negative values and values up to 2^32 - 1 both accepted, as C's key_t). */
export function validateKey(key: unknown, what = 'key'): number {
  const k = validateInt(key, what, -0x8000_0000, 0xffff_ffff);
  return k | 0;
}

function validateId(id: unknown): number {
  return validateInt(id, 'id', 0, 0x7fff_ffff);
}

function ownership(o: SysvOwnership): [number, number, number] {
  return [
    validateInt(o.uid, 'uid', 0, 0xffff_fffe),
    validateInt(o.gid, 'gid', 0, 0xffff_fffe),
    validateMode(o.mode, 'mode') & 0o777,
  ];
}

const SHM_DEST = 0o1000;
const SHM_LOCKED = 0o2000;
const f64 = new Float64Array(1);

/** ops → (index, delta, flags) triples. */
function encodeOps(ops: readonly SysvSemOperation[], noWait = false): Int32Array {
  if (!Array.isArray(ops) || ops.length === 0)
    throw Object.assign(new TypeError('ops must be a non-empty array'), { code: 'ERR_INVALID_ARG_TYPE' });
  if (ops.length > 500)
    throw Object.assign(new RangeError('at most 500 operations (SEMOPM)'), { code: 'ERR_OUT_OF_RANGE' });
  const out = new Int32Array(ops.length * 3);
  ops.forEach((op, i) => {
    out[i * 3] = validateInt(op.index, `ops[${i}].index`, 0, 31999);
    out[i * 3 + 1] = validateInt(op.delta, `ops[${i}].delta`, -32767, 32767);
    out[i * 3 + 2] =
      (validateBoolean(op.undo ?? false, `ops[${i}].undo`) ? C.SEM_UNDO : 0) |
      (validateBoolean(op.noWait ?? false, `ops[${i}].noWait`) || noWait ? C.IPC_NOWAIT : 0);
  });
  return out;
}

export const sysv = {
  /** ftok(3): a key from an existing file's inode and device and the low 8 bits of `id` (1 to 255). */
  ftok(path: string, id: number): number {
    return native.sysvFtok(validateString(path, 'path'), validateInt(id, 'id', 1, 255));
  },

  shm: {
    /** shmget(2). `flags` are IPC_CREAT | IPC_EXCL | mode bits. Returns the id. */
    get(key: number, size: number, flags: number): number {
      return native.sysvShmGet(
        validateKey(key),
        validateInt(size, 'size', 0, Number.MAX_SAFE_INTEGER),
        validateInt(flags, 'flags', 0, 0x7fff_ffff),
      );
    },
    /** shmat(2), read-write, as a SharedArrayBuffer over the whole segment. */
    attach(id: number): SharedArrayBuffer {
      return native.sysvShmAttach(validateId(id));
    },
    /** Detaches now: the buffer stays valid but reads private zero pages from here on. */
    detach(buffer: SharedArrayBuffer): void {
      if (!(buffer instanceof SharedArrayBuffer))
        throw Object.assign(new TypeError('buffer must be a SharedArrayBuffer from sysv.shm.attach'), {
          code: 'ERR_INVALID_ARG_TYPE',
        });
      native.sysvShmDetach(new Uint8Array(buffer));
    },
    /** IPC_STAT. */
    stat(id: number): SysvShmStat {
      const [
        size,
        uid,
        gid,
        cuid,
        cgid,
        mode,
        creatorPid,
        lastPid,
        attachCount,
        attachTime,
        detachTime,
        changeTime,
        key,
      ] = native.sysvShmStat(validateId(id)) as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      return {
        size,
        uid,
        gid,
        cuid,
        cgid,
        mode: mode & 0o777,
        creatorPid,
        lastPid,
        attachCount,
        attachTime,
        detachTime,
        changeTime,
        key,
        removed: (mode & SHM_DEST) !== 0,
        locked: (mode & SHM_LOCKED) !== 0,
      };
    },
    /** IPC_SET: owner and permission bits. */
    set(id: number, o: SysvOwnership): void {
      native.sysvShmSet(validateId(id), ...ownership(o));
    },
    /** IPC_RMID: the segment goes when its last attachment does. */
    remove(id: number): void {
      native.sysvShmRemove(validateId(id));
    },
    /** SHM_LOCK / SHM_UNLOCK (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK room). */
    lock(id: number, on: boolean): void {
      native.sysvShmLock(validateId(id), validateBoolean(on, 'on'));
    },
  },

  msg: {
    /** msgget(2). Returns the id. */
    get(key: number, flags: number): number {
      return native.sysvMsgGet(validateKey(key), validateInt(flags, 'flags', 0, 0x7fff_ffff));
    },
    /** msgsnd(2) with IPC_NOWAIT: false when the queue is full. `type` > 0. */
    trySend(id: number, type: number, data: ArrayBufferView): boolean {
      return native.sysvMsgSend(id, type, data, C.IPC_NOWAIT);
    },
    /**
     * msgrcv(2) with IPC_NOWAIT and MSG_NOERROR (a longer message is cut to the target's length):
     * `type` 0 the first message, > 0 the first of that type (with `except`, of any other type), < 0 the
     * first of the lowest type up to |type|. Undefined when nothing matches.
     */
    tryReceive(id: number, target: ArrayBufferView, type = 0, except = false): SysvReceived | undefined {
      const length = native.sysvMsgReceive(
        id,
        target,
        type,
        C.IPC_NOWAIT | C.MSG_NOERROR | (except ? C.MSG_EXCEPT : 0),
        f64,
      );
      return length < 0 ? undefined : { length, type: f64[0]! };
    },
    /** The fast form of `tryReceive`: the length (type in `out[0]`), or -1. */
    receiveInto(id: number, target: ArrayBufferView, type: number, flags: number, out: Float64Array): number {
      return native.sysvMsgReceive(id, target, type, flags, out);
    },
    /** IPC_STAT. */
    stat(id: number): SysvMsgStat {
      const [
        maxBytes,
        messages,
        uid,
        gid,
        cuid,
        cgid,
        mode,
        lastSendPid,
        lastReceivePid,
        sendTime,
        receiveTime,
        changeTime,
        bytes,
        key,
      ] = native.sysvMsgStat(validateId(id)) as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      return {
        maxBytes,
        messages,
        bytes,
        uid,
        gid,
        cuid,
        cgid,
        mode: mode & 0o777,
        lastSendPid,
        lastReceivePid,
        sendTime,
        receiveTime,
        changeTime,
        key,
      };
    },
    /** IPC_SET: owner, permission bits and (raising it past msgmnb needs CAP_SYS_RESOURCE) the capacity. */
    set(id: number, o: SysvOwnership & { maxBytes?: number }): void {
      const qbytes = o.maxBytes === undefined ? -1 : validateInt(o.maxBytes, 'maxBytes', 0, 0x7fff_ffff);
      native.sysvMsgSet(validateId(id), ...ownership(o), qbytes);
    },
    /** IPC_RMID: the queue and its messages go now; waiting calls fail with EIDRM. */
    remove(id: number): void {
      native.sysvMsgRemove(validateId(id));
    },
  },

  sem: {
    /** semget(2). Returns the id. */
    get(key: number, count: number, flags: number): number {
      return native.sysvSemGet(
        validateKey(key),
        validateInt(count, 'count', 0, 32000),
        validateInt(flags, 'flags', 0, 0x7fff_ffff),
      );
    },
    /** semop(2) never blocking: every operation gets IPC_NOWAIT. False when it would have to wait. */
    tryOp(id: number, ops: readonly SysvSemOperation[]): boolean {
      return native.sysvSemOp(validateId(id), encodeOps(ops, true), -1);
    },
    /**
     * Operations encoded once for `tryEncoded` (a hot path such as a lock's acquire and release): the
     * validation and the array are paid here, not per call. `noWait` forces IPC_NOWAIT on every operation.
     */
    encode(ops: readonly SysvSemOperation[], noWait = false): Int32Array {
      return encodeOps(ops, noWait);
    },
    /** semop with operations from `encode(ops, true)`: false when it would have to wait. */
    tryEncoded(id: number, encoded: Int32Array): boolean {
      return native.sysvSemOp(id, encoded, -1);
    },
    /** semop/semtimedop blocking the calling thread (for workers). False when it timed out (or would block with noWait). */
    op(id: number, ops: readonly SysvSemOperation[], timeoutMs?: number): boolean {
      return native.sysvSemOp(validateId(id), encodeOps(ops), toNativeTimeout(timeoutMs));
    },
    /**
     * semop/semtimedop on a native waiter thread: true when done, false when `timeoutMs` passed. Tries
     * without a thread first. An abort rejects with `signal.reason` and nothing is applied.
     */
    opAsync(
      id: number,
      ops: readonly SysvSemOperation[],
      options: { timeoutMs?: number; signal?: AbortSignal } = {},
    ): Promise<boolean> {
      const sid = validateId(id);
      const encoded = encodeOps(ops);
      const timeout = toNativeTimeout(options.timeoutMs, 'options.timeoutMs');
      const signal = validateSignal(options.signal, 'options.signal');
      if (signal?.aborted) return Promise.reject(signal.reason);
      const quick = encoded.slice();
      for (let i = 2; i < quick.length; i += 3) quick[i]! |= C.IPC_NOWAIT;
      try {
        if (native.sysvSemOp(sid, quick, -1)) return Promise.resolve(true);
      } catch (error) {
        return Promise.reject(error);
      }
      if (timeout === 0) return Promise.resolve(false);
      return waitOnThread(
        (cb) => native.sysvSemOpAsync(sid, encoded, timeout, cb),
        (r) => r === 1,
        signal,
      );
    },
    getValue(id: number, index: number): number {
      return native.sysvSemCtl(validateId(id), validateInt(index, 'index', 0, 31999), C.GETVAL, 0);
    },
    /** SETVAL: also clears every process's undo adjustment for this semaphore. */
    setValue(id: number, index: number, value: number): void {
      native.sysvSemCtl(
        validateId(id),
        validateInt(index, 'index', 0, 31999),
        C.SETVAL,
        validateInt(value, 'value', 0, C.SEMVMX),
      );
    },
    getAll(id: number, count: number): number[] {
      const out = new Uint16Array(count);
      native.sysvSemGetAll(validateId(id), out);
      return [...out];
    },
    setAll(id: number, values: readonly number[]): void {
      native.sysvSemSetAll(
        validateId(id),
        Uint16Array.from(values, (v, i) => validateInt(v, `values[${i}]`, 0, C.SEMVMX)),
      );
    },
    /** Pid of the last process that operated on the semaphore. */
    getPid(id: number, index: number): number {
      return native.sysvSemCtl(validateId(id), validateInt(index, 'index', 0, 31999), C.GETPID, 0);
    },
    /** Processes waiting for the value to grow. */
    getNcnt(id: number, index: number): number {
      return native.sysvSemCtl(validateId(id), validateInt(index, 'index', 0, 31999), C.GETNCNT, 0);
    },
    /** Processes waiting for the value to be zero. */
    getZcnt(id: number, index: number): number {
      return native.sysvSemCtl(validateId(id), validateInt(index, 'index', 0, 31999), C.GETZCNT, 0);
    },
    stat(id: number): SysvSemStat {
      const [count, uid, gid, cuid, cgid, mode, opTime, changeTime, key] = native.sysvSemStat(validateId(id)) as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
      return { count, uid, gid, cuid, cgid, mode: mode & 0o777, opTime, changeTime, key };
    },
    set(id: number, o: SysvOwnership): void {
      native.sysvSemSet(validateId(id), ...ownership(o));
    },
    /** IPC_RMID: waiting operations fail with EIDRM. */
    remove(id: number): void {
      native.sysvSemRemove(validateId(id));
    },
  },
};
