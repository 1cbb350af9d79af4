import { readFileSync } from 'node:fs';

/** PF_EXITING in /proc/<pid>/stat's flags: the task is inside exit(2) (set before it closes its files). */
const PF_EXITING = 0x4;

/**
 * True if the process at the other end of a Unix socket has died: its pid (from SO_PEERCRED, taken at connect
 * time) names no process, a zombie, or a process inside exit(2). Asked only when the connection has just ended
 * cleanly, to tell a peer that closed from one that was killed (the kernel closes a killed process's sockets
 * in exit(2), after marking it exiting), so that a pid reused since is not a concern in that moment.
 * Unknown (no pid, or a pid from another PID namespace, which SO_PEERCRED gives as 0): false.
 */
export function peerProcessDied(peer: unknown): boolean {
  const pid = (peer as { pid?: unknown } | undefined)?.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // "pid (comm) state ppid pgrp session tty_nr tpgid flags ...": comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X' || state === 'x') return true;
  const flags = Number(fields[6]);
  return Number.isFinite(flags) && (flags & PF_EXITING) !== 0;
}
