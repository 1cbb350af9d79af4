import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let counter = 0;
/** Every name handed out, so that `sweep` can remove what a failed or abandoned row left behind. */
/** @type {{ shm: string[], mq: string[], files: string[], sysv: { kind: 'msg' | 'sem', id: number }[] }} */
const issued = { shm: [], mq: [], files: [], sysv: [] };

/** A name no other run or row uses: `/ipcx-bench-<pid>-<n>-<what>`; `what` 'mq' is a queue, else a segment. */
export function uniqueName(what) {
  const name = `/ipcx-bench-${process.pid}-${++counter}-${what}`;
  (what === 'mq' ? issued.mq : issued.shm).push(name);
  return name;
}

/** A socket path in the temporary directory, unique like `uniqueName`. */
export function socketPath(what) {
  const path = join(tmpdir(), `ipcx-bench-${process.pid}-${++counter}-${what}.sock`);
  issued.files.push(path);
  return path;
}

/** Records a System V object (kind 'msg' | 'sem', its id) for `sweep`. */
export function issueSysv(kind, id) {
  issued.sysv.push({ kind, id });
  return id;
}

/**
 * Removes every kernel object this run named, whether or not its row closed it (a row that timed out
 * never does): segments, both queues of a duplex mq channel, socket files. Missing ones are skipped.
 */
export async function sweep() {
  for (const name of issued.shm) rmSync(`/dev/shm${name}`, { force: true });
  for (const path of issued.files) rmSync(path, { force: true });
  if (issued.mq.length === 0 && issued.sysv.length === 0) return;
  const { mq, sysv } = await import('@ipcx/native');
  for (const { kind, id } of issued.sysv) {
    try {
      sysv[kind].remove(id);
    } catch {
      // removed by its row
    }
  }
  for (const name of issued.mq.flatMap((n) => [n, `${n}.0`, `${n}.1`])) {
    try {
      mq.unlink(name);
    } catch {
      // ENOENT: closed and unlinked by its row
    }
  }
}
