import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import { AlreadyExistsError } from '@ipcx/core';
import { fromSystemError } from '@ipcx/core/transport';
import { flock, flockAsync } from '@ipcx/native';

/**
 * The publisher's claim on a topic: an exclusive flock(2) on `<dir>/<topic>.lock`. The kernel drops it when the
 * holder dies, however it dies, so "is the publisher alive" is a question the kernel answers (never a pid probe).
 * The holder writes its pid into the file as a label for people.
 *
 * The file is removed on close. To make that safe, a locker checks after flock that the path still names the
 * file it locked (same inode): one that locked a file already unlinked by the previous holder retries.
 */
export class TopicLock {
  #released = false;
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /**
   * Takes the lock, waiting at most ~20 ms (a `listTopics` probe holds a shared lock for two syscalls).
   * @throws AlreadyExistsError while a live holder has it.
   */
  static async acquire(path: string, mode: number, what: string): Promise<TopicLock> {
    for (let attempt = 0; attempt < 8; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDWR | constants.O_CREAT, mode);
      } catch (error) {
        throw fromSystemError(`lock file ${path} open`, error);
      }
      try {
        await flockAsync(fd, 'exclusive', { timeoutMs: 20 });
      } catch (error) {
        closeSync(fd);
        if ((error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
          throw new AlreadyExistsError(`${what} (its publisher${holderLabel(path)} is alive)`);
        }
        throw fromSystemError(`lock file ${path} flock`, error);
      }
      let same = false;
      try {
        same = fstatSync(fd).ino === statSync(path).ino;
      } catch {
        same = false; // removed by the previous holder after we opened it
      }
      if (!same) {
        closeSync(fd);
        continue;
      }
      try {
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`, 0);
      } catch {
        // a label only
      }
      return new TopicLock(path, fd);
    }
    throw new AlreadyExistsError(`${what} (its lock file keeps being replaced)`);
  }

  /**
   * True while a process holds the lock at `path` (tested with a shared, non-blocking flock that is released at
   * once). False when the file is missing.
   */
  static held(path: string): boolean {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch {
      return false;
    }
    try {
      const free = flock(fd, 'shared', { nonBlocking: true });
      if (free) flock(fd, 'unlock');
      return !free;
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the file, then releases the lock (in that order: see the class comment). Idempotent. */
  release(removeFile: boolean): void {
    if (this.#released) return;
    this.#released = true;
    if (removeFile) {
      try {
        if (fstatSync(this.fd).ino === statSync(this.path).ino) unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
  }
}

/** " (pid N)" from a lock file, or "" when it cannot be read. */
export function holderLabel(path: string): string {
  const pid = lockFilePid(path);
  return pid === undefined ? '' : ` (pid ${pid})`;
}

/** The pid a lock file's holder wrote into it (a label, not proof of life). */
export function lockFilePid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
