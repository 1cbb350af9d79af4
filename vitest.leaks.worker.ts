/** Records this test worker's pid for the leak check of the run (see `vitest.leaks.ts`). */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

const runDir = inject('ipcxLeakRunDir');
if (runDir) appendFileSync(join(runDir, 'pids'), `${process.pid}\n`);
