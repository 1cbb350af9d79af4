// A thread pool: dead workers are replaced, SIGTERM finishes the tasks in flight and stops it cleanly.
import { Pool } from '@ipcx/cluster';

const pool = new Pool({ filename: new URL('./square.mjs', import.meta.url), threads: 2 });
let stopping = false;
process.once('SIGTERM', () => ((stopping = true), pool.close()));
for (let n = 0; !stopping; n++) console.log(`${n}² = ${await pool.run(n)}`);
