// The C baselines: compiled at bench time with `cc -O2` into apps/bench/build/c (git-ignored), skipped with
// a note when no compiler is found. Each program measures itself (see c/harness.h) and prints one JSON line.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SOURCES = fileURLToPath(new URL('../c/', import.meta.url));
const BUILD = fileURLToPath(new URL('../build/c/', import.meta.url));

/**
 * bytes(size): what a message carries, when not the nominal size; sizes: the only sizes it runs at, with
 * `why` as the report's note (eventfd: an 8-byte counter).
 */
export const C_MECHANISMS = [
  { id: 'c-shm-spin', program: 'shm_spin', label: 'C: shared memory, spin' },
  { id: 'c-futex', program: 'futex', label: 'C: shared memory, futex' },
  {
    id: 'c-eventfd',
    program: 'eventfd',
    label: 'C: eventfd',
    bytes: () => 8,
    sizes: [64],
    why: 'an 8-byte counter with no payload, measured once and shown in the 64 B column',
  },
  { id: 'c-pipe', program: 'pipe', label: 'C: pipe' },
  { id: 'c-unix-stream', program: 'unix_stream', label: 'C: Unix stream socket' },
  // The receiver spins as ipcx's socket channels do (c/sock_spin.h): the floor of a spinning socket transport.
  { id: 'c-unix-stream-spin', program: 'unix_stream_spin', label: 'C: Unix stream socket, spinning recv' },
  { id: 'c-seqpacket-spin', program: 'seqpacket_spin', label: 'C: Unix seqpacket socket, spinning recv' },
  { id: 'c-tcp-spin', program: 'tcp_spin', label: 'C: TCP loopback, spinning recv' },
  { id: 'c-unix-dgram', program: 'unix_dgram', label: 'C: Unix datagram socket' },
  { id: 'c-mq', program: 'mq', label: 'C: POSIX mq' },
  { id: 'c-mq-spin', program: 'mq_spin', label: 'C: POSIX mq, spin' },
  { id: 'c-sysv-msg', program: 'sysv_msg', label: 'C: System V msg queue' },
  {
    id: 'c-posix-sem',
    program: 'posix_sem',
    label: 'C: POSIX semaphore',
    bytes: () => 0,
    sizes: [64],
    why: 'a semaphore carries no payload: measured once and shown in the 64 B column',
  },
  {
    id: 'c-sysv-sem',
    program: 'sysv_sem',
    label: 'C: System V semaphore',
    bytes: () => 0,
    sizes: [64],
    why: 'a semaphore carries no payload: measured once and shown in the 64 B column',
  },
];

/** `$CC` or `cc`, if it runs; undefined otherwise. */
export function findCompiler() {
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['--version'], { stdio: 'ignore' });
    return cc;
  } catch {
    return undefined;
  }
}

/** Compiles the programs; returns the ids that failed, with the compiler's first error line. */
export function compileAll(cc, mechanisms) {
  mkdirSync(BUILD, { recursive: true });
  const failed = new Map();
  for (const m of mechanisms) {
    try {
      execFileSync(cc, ['-O2', '-o', BUILD + m.program, `${SOURCES + m.program}.c`, '-lrt'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      const stderr = String(error.stderr ?? error.message);
      failed.set(m.id, stderr.split('\n').find((line) => line.includes('error')) ?? stderr.split('\n')[0]);
    }
  }
  return failed;
}

/** Runs one program for one size and measurement; resolves to its JSON line. */
export function runC(m, size, measure, s) {
  const target = measure === 'throughput' ? s.throughputSeconds : s.rttSeconds;
  const least = measure === 'throughput' ? s.minMessages : s.minRounds;
  const args = [
    String(size),
    measure,
    String(target),
    String(s.runs),
    String(s.warmup),
    String(s.calibrateSeconds),
    String(least),
  ];
  return new Promise((resolve, reject) => {
    execFile(BUILD + m.program, args, { timeout: s.timeoutSeconds * 1000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(String(stderr).trim() || error.message));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? ''));
      } catch {
        reject(new Error(`unexpected output: ${stdout.slice(0, 200)}`));
      }
    });
  });
}
