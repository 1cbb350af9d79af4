// The ipcx pool worker of the pool bench: returns its task.
import { servePool } from '@ipcx/cluster';

await servePool((task) => task);
