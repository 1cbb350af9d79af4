/** mkfifo(3): a named pipe in the filesystem. Open it with node:fs; unlink it with fs.unlinkSync. */
import { native } from './binding.js';
import { validateMode, validateString } from './internal/validate.js';

/** Creates a FIFO at `path` (EEXIST if the path exists). Mode default 0o600, minus the umask. */
export function mkfifo(path: string, mode = 0o600): void {
  native.mkfifo(validateString(path, 'path'), validateMode(mode));
}
