// The pool's worker: one call serves the pool's tasks until it closes.
import { servePool } from '@ipcx/cluster';

await servePool((n) => n * n);
