import { lstatSync, unlinkSync } from 'node:fs';
import { registerKernelObject, type KernelObjectRegistration } from '@ipcx/core/transport';

/**
 * Files this process created and must remove: socket files of listening servers and datagram sockets, FIFOs.
 * Each is removed when its owner closes it and, failing that:
 *
 * - `process.on('exit')` removes them on a normal exit (including `process.exit()`): an exit hook changes
 *   nothing about how the process ends.
 * - Each is registered in `@ipcx/core`'s registry of kernel objects this process owns, so that a shutdown
 *   (`@ipcx/signals`' coordinator, or the application calling `unlinkOwnedKernelObjects()`) removes them.
 * - No signal handler: a library must not change what SIGINT or SIGTERM does behind its user's back. A process
 *   that dies of a signal (or SIGKILL, or a crash) leaves its files; the next `listen` on a path finds the
 *   file stale (nobody answers) and replaces it.
 *
 * A file is removed only if it is still the one we created (same device and inode), so that a successor's
 * socket at the same path is never deleted.
 */
interface OwnedFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  registration?: KernelObjectRegistration;
}

const owned = new Set<OwnedFile>();
let installed = false;

function onExit(): void {
  for (const file of owned) {
    removeIfOurs(file);
    file.registration?.unregister();
  }
  owned.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
}

function removeIfOurs(file: OwnedFile): void {
  try {
    const stat = lstatSync(file.path);
    if (stat.dev === file.dev && stat.ino === file.ino) unlinkSync(file.path);
  } catch {
    // Already gone (or no longer reachable): nothing of ours to remove.
  }
}

/** A file this process created, removed by `release()` or at shutdown. */
export interface FileClaim {
  /** Removes the file if it is still ours, and stops tracking it. Idempotent. */
  release(): void;
}

/** Records that we created the file now at `path`; throws the lstat error if it is not there. */
export function claimFile(path: string, kind: 'socket' | 'fifo' = 'socket'): FileClaim {
  const stat = lstatSync(path);
  const file: OwnedFile = { path, dev: stat.dev, ino: stat.ino };
  const release = (): void => {
    if (!owned.delete(file)) return;
    removeIfOurs(file);
    file.registration?.unregister();
    if (owned.size === 0) uninstall();
  };
  owned.add(file);
  file.registration = registerKernelObject({ kind, name: path, owner: '@ipcx/sockets', unlink: release });
  install();
  return { release };
}
