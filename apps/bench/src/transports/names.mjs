import { tmpdir } from 'node:os';
import { join } from 'node:path';

let counter = 0;

/** A name no other run or row uses: `/ipcx-bench-<pid>-<n>-<what>` (shm segments, queues). */
export function uniqueName(what) {
  return `/ipcx-bench-${process.pid}-${++counter}-${what}`;
}

/** A socket path in the temporary directory, unique like `uniqueName`. */
export function socketPath(what) {
  return join(tmpdir(), `ipcx-bench-${process.pid}-${++counter}-${what}.sock`);
}
