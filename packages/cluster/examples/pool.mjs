// A thread pool: dead workers are replaced; SIGTERM finishes the tasks in flight, stops the pool, exits 0.
import { ShutdownCoordinator } from '@ipcx/signals';
import { Pool } from '@ipcx/cluster';

const shutdown = new ShutdownCoordinator();
const pool = new Pool({ filename: new URL('./square.mjs', import.meta.url), threads: 2, shutdown });
for (let n = 0; !shutdown.shuttingDown; n++) console.log(`${n}² = ${await pool.run(n)}`);
