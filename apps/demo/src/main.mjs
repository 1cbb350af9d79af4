// The supervisor of a small job service built on ipcx, all on one machine:
// - jobs go to worker processes through a POSIX message queue, urgent ones first (@ipcx/mq);
// - results come back through a many-to-one ring in shared memory (@ipcx/shm FanIn);
// - live statistics are published in shared memory for any reader (@ipcx/shm SharedState);
// - a worker killed with SIGKILL is replaced and its unfinished jobs are queued again;
// - a control socket (Unix stream, @ipcx/sockets) answers requests from a monitor process, which the
//   supervisor knows by its peer credentials.
// Every kernel object is named after this process and removed on exit.
//
// node src/main.mjs [--jobs=N] [--workers=N] [--kill]
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@ipcx/core';
import { UnixServer } from '@ipcx/sockets';
import { MqChannel, MessageQueue } from '@ipcx/mq';
import { FanIn, SharedState } from '@ipcx/shm';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const totalJobs = Number(args.jobs ?? 200);
const workerCount = Number(args.workers ?? 3);
const killOne = args.kill !== 'false';
const tag = `ipcx-demo-${process.pid}`;
const names = { jobs: `/${tag}-jobs`, results: `/${tag}-results`, stats: `/${tag}-stats` };

const jobs = MqChannel.queue(names.jobs, { create: true, exclusive: true, maxMessages: 10, messageSize: 512 });
const results = await FanIn.create({ name: names.results, capacity: 64 * 1024 });
const stats = await SharedState.create({ name: names.stats, initial: { done: 0, queued: 0, workers: 0, restarts: 0 } });
const socketPath = join(tmpdir(), `${tag}.sock`);
const control = await UnixServer.listen(socketPath); // owner-only (0600), same uid only, removed on close
void (async () => {
  for await (const client of control) {
    console.log(`control socket: a client connected (pid ${client.peer.pid}, uid ${client.peer.uid})`);
    void serve(client, (req) => (req?.get === 'stats' ? stats.get() : { error: 'unknown request' }));
  }
})();

const workers = new Map();
const pending = new Map(); // id -> job, until its result arrives
let restarts = 0;
let stopping = false;

function startWorker(id) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./worker.mjs', import.meta.url)), names.jobs, names.results, String(id)], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  workers.set(id, child);
  child.on('exit', (code, signal) => {
    workers.delete(id);
    if (stopping) return;
    console.log(`worker ${id} (pid ${child.pid}) died (${signal ?? code}); starting a new one and re-queuing its jobs`);
    restarts++;
    startWorker(id);
    // We cannot tell which jobs it had taken: queue every unfinished job again; duplicates are dropped by id.
    for (const job of pending.values()) void submit(job);
  });
}

async function submit(job) {
  pending.set(job.id, job);
  await jobs.send(job, { priority: job.priority, timeout: 30_000 });
}

async function shutdown() {
  stopping = true;
  for (let i = 0; i < workers.size; i++) await jobs.send({ stop: true }, { priority: 0, timeout: 5000 }).catch(() => {});
  await Promise.all([...workers.values()].map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))));
  await jobs.close();
  MessageQueue.unlink(names.jobs);
  await results.close();
  await stats.close();
  await control.close();
}

for (let id = 0; id < workerCount; id++) startWorker(id);
process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));

const started = performance.now();
const submitting = (async () => {
  for (let id = 0; id < totalJobs; id++) {
    const priority = id % 10 === 0 ? 9 : 1;
    await submit({ id, priority, rounds: 2000, input: `job-${id}` });
  }
})();

const done = new Set();
const byWorker = new Map();
let urgentLatency = 0;
let urgentCount = 0;
for await (const result of results) {
  if (!done.has(result.id)) {
    done.add(result.id);
    pending.delete(result.id);
    byWorker.set(result.worker, (byWorker.get(result.worker) ?? 0) + 1);
    if (result.priority === 9) {
      urgentLatency += result.ms;
      urgentCount++;
    }
  }
  stats.set({ done: done.size, queued: pending.size, workers: workers.size, restarts });
  if (killOne && done.size === Math.floor(totalJobs / 2) && restarts === 0) {
    const victim = workers.get(0);
    console.log(`killing worker 0 (pid ${victim.pid}) with SIGKILL halfway through`);
    victim.kill('SIGKILL');
  }
  if (done.size === totalJobs) break;
}
await submitting;
const seconds = (performance.now() - started) / 1000;
const summary = stats.get().value;
const monitor = spawn(process.execPath, [fileURLToPath(new URL('./monitor.mjs', import.meta.url)), socketPath], { stdio: 'inherit' });
await new Promise((resolve) => monitor.once('exit', resolve));
await shutdown();
console.log(`done: ${summary.done}/${totalJobs} jobs in ${seconds.toFixed(2)} s by ${workerCount} workers, ${restarts} restart(s)`);
console.log(`jobs per worker: ${[...byWorker.entries()].sort().map(([w, n]) => `#${w}=${n}`).join(' ')}`);
console.log(`urgent jobs: ${urgentCount}, mean compute ${(urgentLatency / Math.max(urgentCount, 1)).toFixed(2)} ms`);
console.log(`kernel objects removed: ${[...Object.values(names), socketPath].join(', ')}`);
