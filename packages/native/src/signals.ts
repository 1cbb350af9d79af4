/**
 * Signals with a value: sigqueue(3) to send one, and a receiver that learns the sender's value, pid and
 * uid. No JavaScript runs in the signal handler: the handler writes a record to a pipe that the event
 * loop polls, and callbacks run as ordinary events.
 *
 * Meant for realtime signals (SIGRTMIN..SIGRTMAX-1, queued by the kernel, never merged), and SIGUSR2.
 * Standard signals that Node handles itself (SIGINT, SIGTERM, …) work too but replace Node's handler
 * while listened to. Refused: SIGKILL, SIGSTOP, the synchronous faults, and SIGRTMAX, which this package
 * reserves to interrupt its waiter threads.
 */
import { constants as osConstants } from 'node:os';

import { constants, native, type NativeSignalReceiver } from './binding.js';
import { validateFunction, validateInt } from './internal/validate.js';

export interface SignalInfo {
  /** Signal number. */
  signal: number;
  /** si_code: SI_QUEUE (-1) for sigqueue, SI_USER (0) for kill. */
  code: number;
  /** sival_int of sigqueue; 0 for kill. */
  value: number;
  pid: number;
  uid: number;
}

export interface SignalReceiver {
  /** Stops receiving; the last of this thread's listeners restores the previous disposition. Idempotent. */
  close(): void;
  readonly closed: boolean;
  /** Lets the process exit while listening (shared by all listeners of this signal in this thread). */
  unref(): void;
  ref(): void;
  /** Signals lost because the event loop fell more than ~3000 records behind. */
  dropped(): number;
  [Symbol.dispose](): void;
}

const REFUSED = new Set(['SIGKILL', 'SIGSTOP', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL']);

/**
 * A signal number from a number or a name: 'SIGUSR2', 'SIGRTMIN', 'SIGRTMIN+3', 'SIGRTMAX-2'.
 */
export function signalNumber(signal: number | string): number {
  if (typeof signal === 'number') return validateInt(signal, 'signal', 1, constants.SIGRTMAX);
  if (typeof signal !== 'string')
    throw Object.assign(new TypeError('signal must be a number or a name'), { code: 'ERR_INVALID_ARG_TYPE' });
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(signal);
  if (rt) {
    const base = rt[1] === 'MIN' ? constants.SIGRTMIN : constants.SIGRTMAX;
    const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    return validateInt(n, signal, constants.SIGRTMIN, constants.SIGRTMAX);
  }
  const n = (osConstants.signals as Record<string, number>)[signal];
  if (n === undefined) throw Object.assign(new TypeError(`unknown signal ${signal}`), { code: 'ERR_UNKNOWN_SIGNAL' });
  return n;
}

/** Sends `signal` with an integer `value` to `pid` (EPERM, ESRCH as kill). */
export function sigqueue(pid: number, signal: number | string, value = 0): void {
  native.sigqueue(
    validateInt(pid, 'pid', 1, 0x7fffffff),
    signalNumber(signal),
    validateInt(value, 'value', -0x80000000, 0x7fffffff),
  );
}

interface Slot {
  receiver: NativeSignalReceiver;
  listeners: Set<(info: SignalInfo) => void>;
}

// One native receiver per signal in this thread; listeners share it. Another thread listening to the
// same signal gets EBUSY: a disposition is process-wide.
const slots = new Map<number, Slot>();

function slotFor(signo: number): Slot {
  const existing = slots.get(signo);
  if (existing) return existing;
  const listeners = new Set<(info: SignalInfo) => void>();
  const receiver = new native.SignalReceiver(signo, (signal, code, pid, uid, value) => {
    const info: SignalInfo = { signal, code, value, pid, uid };
    for (const listener of [...listeners]) listener(info);
  });
  const slot = { receiver, listeners };
  slots.set(signo, slot);
  return slot;
}

export const signals = {
  /**
   * Calls `onSignal` on the event loop for each `signal` delivered to this process.
   * @example
   * const r = signals.listen('SIGRTMIN+1', ({ value, pid }) => console.log(`${pid} says ${value}`));
   * // elsewhere: sigqueue(pid, 'SIGRTMIN+1', 42)
   * r.close();
   */
  listen(signal: number | string, onSignal: (info: SignalInfo) => void): SignalReceiver {
    const signo = signalNumber(signal);
    validateFunction(onSignal, 'onSignal');
    const name = Object.entries(osConstants.signals).find(([, n]) => n === signo)?.[0];
    if (signo === constants.INTERRUPT_SIGNAL || (name !== undefined && REFUSED.has(name))) {
      throw Object.assign(new TypeError(`signal ${signal} cannot be listened to`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const slot = slotFor(signo);
    // A distinct function per listen() call, so listening twice with the same callback closes independently.
    const listener = (info: SignalInfo): void => onSignal(info);
    slot.listeners.add(listener);
    let closed = false;
    return {
      close() {
        if (closed) return;
        closed = true;
        slot.listeners.delete(listener);
        if (slot.listeners.size === 0 && slots.get(signo) === slot) {
          slots.delete(signo);
          slot.receiver.close();
        }
      },
      get closed() {
        return closed;
      },
      unref: () => slot.receiver.unref(),
      ref: () => slot.receiver.ref(),
      dropped: () => slot.receiver.dropped(),
      [Symbol.dispose]() {
        this.close();
      },
    };
  },

  /** Signal number of a name ('SIGRTMIN+2' → 36). */
  number: signalNumber,
};
