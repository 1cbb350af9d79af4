/**
 * Signal names, numbers, and which signals a Node process may take a disposition for.
 *
 * Standard signals are named as in `os.constants.signals` ('SIGTERM'); realtime ones as 'SIGRTMIN+n' or
 * 'SIGRTMAX-n' (glibc keeps the first two kernel realtime signals for its threads, so SIGRTMIN is 34).
 */
import { constants as osConstants } from 'node:os';

import { InvalidNameError, UnsupportedError } from '@ipcx/core';
import { constants } from '@ipcx/native';

/** A standard signal name Node knows ('SIGTERM'), or a realtime one ('SIGRTMIN+2', 'SIGRTMAX-1'). */
export type SignalName = NodeJS.Signals | `SIGRTMIN+${number}` | `SIGRTMAX-${number}` | 'SIGRTMIN';

/** A signal resolved: its canonical name and number. */
export interface ResolvedSignal {
  /** 'SIGTERM', or 'SIGRTMIN+n' for every realtime signal. */
  readonly name: SignalName;
  readonly number: number;
  /** A realtime signal: queued by the kernel, never merged, may carry a value. */
  readonly realtime: boolean;
}

const byNumber = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals as Record<string, number>)) {
  // SIGIOT and SIGPOLL are aliases of SIGABRT and SIGIO; keep the first name Node lists.
  if (!byNumber.has(n)) byNumber.set(n, name);
}

/**
 * Why a handler or an ignore for a signal cannot be installed, or undefined when it can. Sending any of
 * these is still allowed.
 */
const REFUSED: Record<string, string> = {
  SIGKILL: 'the kernel never lets a process catch, block or ignore SIGKILL',
  SIGSTOP: 'the kernel never lets a process catch, block or ignore SIGSTOP',
  SIGUSR1: 'Node reserves SIGUSR1 to start its inspector (debugger); use SIGUSR2 or a realtime signal',
  SIGPIPE:
    'Node ignores SIGPIPE so that a write to a closed pipe or socket fails with EPIPE instead of killing the process',
  SIGSEGV: 'SIGSEGV is a synchronous fault: the faulting thread cannot go on, and no JavaScript can run for it',
  SIGBUS: 'SIGBUS is a synchronous fault: the faulting thread cannot go on, and no JavaScript can run for it',
  SIGFPE: 'SIGFPE is a synchronous fault: the faulting thread cannot go on, and no JavaScript can run for it',
  SIGILL: 'SIGILL is a synchronous fault: the faulting thread cannot go on, and no JavaScript can run for it',
  SIGPROF: "V8's CPU profiler uses SIGPROF (--prof, --cpu-prof, the inspector's profiler)",
};

/**
 * Resolves a signal name (or number) to its canonical name and number.
 * @throws InvalidNameError for a name or number that is not a signal of this system.
 */
export function resolveSignal(signal: SignalName | number): ResolvedSignal {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 1 || signal > constants.SIGRTMAX) {
      throw new InvalidNameError(String(signal), `a signal number is an integer from 1 to ${constants.SIGRTMAX}`);
    }
    if (signal >= constants.SIGRTMIN) return realtime(signal);
    const name = byNumber.get(signal);
    if (name === undefined) throw new InvalidNameError(String(signal), 'no signal has this number here');
    return { name: name as SignalName, number: signal, realtime: false };
  }
  if (typeof signal !== 'string')
    throw new TypeError(`signal must be a name such as 'SIGTERM' or 'SIGRTMIN+2', got ${typeof signal}`);
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d{1,2}))?$/.exec(signal);
  if (rt) {
    const base = rt[1] === 'MIN' ? constants.SIGRTMIN : constants.SIGRTMAX;
    const n = base + (rt[2] === '-' ? -1 : 1) * Number(rt[3] ?? 0);
    if (n < constants.SIGRTMIN || n > constants.SIGRTMAX) {
      throw new InvalidNameError(
        signal,
        `realtime signals here run from SIGRTMIN (${constants.SIGRTMIN}) to SIGRTMAX (${constants.SIGRTMAX})`,
      );
    }
    return realtime(n);
  }
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (n === undefined)
    throw new InvalidNameError(signal, "not a signal name (expected one such as 'SIGTERM', 'SIGHUP' or 'SIGRTMIN+2')");
  return { name: (byNumber.get(n) ?? signal) as SignalName, number: n, realtime: false };
}

function realtime(n: number): ResolvedSignal {
  return { name: `SIGRTMIN+${n - constants.SIGRTMIN}` as SignalName, number: n, realtime: true };
}

/**
 * Resolves a signal that this process may handle or ignore.
 * @throws UnsupportedError naming the reason for SIGKILL, SIGSTOP, the signals Node or V8 reserve, and
 * SIGRTMAX (which `@ipcx/native` uses to interrupt its waiter threads).
 */
export function catchableSignal(signal: SignalName | number, action = 'handling'): ResolvedSignal {
  const resolved = resolveSignal(signal);
  const why =
    resolved.number === constants.INTERRUPT_SIGNAL
      ? `@ipcx/native reserves SIGRTMAX (${constants.INTERRUPT_SIGNAL}) to interrupt its waiter threads; use SIGRTMIN+0 to SIGRTMAX-1`
      : REFUSED[resolved.name];
  if (why !== undefined) throw new UnsupportedError(`${action} ${resolved.name} (${why})`);
  return resolved;
}
