// A worker process: takes jobs from the POSIX queue (highest priority first), computes, and reports each
// result into the supervisor's FanIn ring in shared memory. Exits when the queue channel says stop.
import { createHash } from 'node:crypto';
import { MqChannel } from '@ipcx/mq';
import { FanIn } from '@ipcx/shm';

const [jobsName, resultsName, id] = process.argv.slice(2);
const jobs = MqChannel.queue(jobsName, { write: false });
const results = await FanIn.connect(resultsName);

/** The work: iterate a hash `rounds` times over the job's input. */
function work(job) {
  let digest = Buffer.from(job.input);
  for (let i = 0; i < job.rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex').slice(0, 16);
}

try {
  for await (const job of jobs) {
    if (job.stop) break;
    const started = performance.now();
    const output = work(job);
    await results.send({ id: job.id, worker: Number(id), pid: process.pid, output, priority: job.priority, ms: performance.now() - started });
  }
} finally {
  await jobs.close();
  await results.close();
}
