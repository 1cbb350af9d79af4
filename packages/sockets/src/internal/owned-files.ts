import { lstatSync, unlinkSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

/**
 * Files this process created and must remove: socket files of listening servers, FIFOs. Each is removed when
 * its owner closes it and, failing that, on graceful shutdown:
 *
 * - `process.on('exit')` removes them on a normal exit (including `process.exit()`).
 * - SIGINT and SIGTERM: Node's default is to die at once without running 'exit' handlers, so the files would
 *   stay behind. While at least one file is owned we listen for both. On delivery, if ours is the only
 *   listener (the application has none of its own), we remove the files, remove our listeners and raise the
 *   signal again, so that the process still dies of that signal, as it would have without us. If the
 *   application listens too, it has taken the signal over and we do nothing: its shutdown (close, exit) decides.
 *   The listeners go away when the last file is released, so an idle process keeps Node's defaults.
 *   Signals are process-wide and worker threads cannot listen for them; a worker relies on 'exit' and close.
 *
 * A file is removed only if it is still the one we created (same device and inode), so that a successor's
 * socket at the same path is never deleted.
 */
interface OwnedFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

const owned = new Set<OwnedFile>();
let installed = false;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onExit(): void {
  removeAll();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else listens too: the application has taken the signal over, and its shutdown (close, exit) decides.
  if (process.listenerCount(signal) !== 1) return;
  removeAll();
  uninstall();
  process.kill(process.pid, signal);
}

function removeAll(): void {
  for (const file of owned) removeIfOurs(file);
  owned.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  if (isMainThread) for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  if (isMainThread) for (const signal of SIGNALS) process.off(signal, onSignal);
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
export function claimFile(path: string): FileClaim {
  const stat = lstatSync(path);
  const file: OwnedFile = { path, dev: stat.dev, ino: stat.ino };
  owned.add(file);
  install();
  return {
    release(): void {
      if (!owned.delete(file)) return;
      removeIfOurs(file);
      if (owned.size === 0) uninstall();
    },
  };
}
