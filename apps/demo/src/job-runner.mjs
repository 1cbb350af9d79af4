// The job process: takes jobs from the POSIX message queue (the kernel hands out the highest priority first, so
// urgent jobs overtake normal ones that wait), runs them on a pool of worker threads over shared-memory channels,
// and reports each job's timings to the primary over the channel @ipcx/cluster connected for it.
import { connectToParent } from '@ipcx/cluster';
import { Pool } from '@ipcx/cluster';
import { TypedMessageQueue } from '@ipcx/mq';
import { SharedCounters } from '@ipcx/cluster';
import { demoNames } from './names.mjs';

const names = demoNames(Number(process.env.IPCX_DEMO_PRIMARY));
const parent = await connectToParent();
const jobs = await TypedMessageQueue.open(names.jobs, { write: false });
const counters = await SharedCounters.open(names.counters);
const threads = Number(process.env.IPCX_DEMO_THREADS ?? 2);
const pool = new Pool({ filename: new URL('./task-thread.mjs', import.meta.url), threads });

// At most `threads` jobs taken from the queue at once: the rest wait in the kernel's priority order.
let running = 0;
let wake;
const stopped = new AbortController();
// The primary never sends to this end: a receive that ends means it closed or died, and so do we.
parent.receive().then(
  () => stopped.abort(),
  () => stopped.abort(),
);

async function run(job) {
  const startedAt = Date.now();
  const ranStarted = performance.now();
  const { digest } = await pool.run({ input: `job-${job.id}`, rounds: job.rounds });
  counters.add('jobsDone');
  await parent.send({
    id: job.id,
    urgent: job.urgent,
    startedAt,
    waitedMs: startedAt - job.queuedAt,
    ranMs: performance.now() - ranStarted,
    digest,
  });
}

try {
  for (;;) {
    while (running >= threads) await new Promise((resolve) => (wake = resolve));
    const job = /** @type {any} */ (await jobs.receive({ signal: stopped.signal }));
    running++;
    void run(job)
      .catch((error) => parent.send({ id: job.id, error: error.message }).catch(() => {}))
      .finally(() => {
        running--;
        wake?.();
      });
  }
} catch (error) {
  if (!stopped.signal.aborted && error?.code !== 'IPCX_ERR_CLOSED' && error?.code !== 'IPCX_ERR_PEER_GONE') throw error;
} finally {
  await pool.close();
  await jobs.close();
  counters.close();
  await parent.close().catch(() => {});
}
