// The ipcx demo: a small HTTP service on loopback, served by a node:cluster of workers, where each ipcx package
// does what it is best at.
//
//   primary (this process)                    node:cluster workers (src/http-worker.mjs), supervised
//   ├─ pubsub Publisher: live configuration ──▶ Subscriber: read from shared memory, told over a Unix socket
//   ├─ SharedCounters (shm + Atomics)  ◀──────▶ counters and one global rate limit, no messages at all
//   ├─ POSIX queue of jobs (priorities) ◀────── POST /jobs?priority=urgent
//   │    └─▶ job process (src/job-runner.mjs) ─▶ thread Pool over shared-memory channels (src/task-thread.mjs)
//   ├─ control socket (Unix stream): status, knowing each client by its peer credentials
//   └─ ShutdownCoordinator: SIGTERM/SIGINT closes it all, in order, and leaves nothing behind; SIGHUP reloads
//
// node src/main.mjs [--duration 10] [--workers 2] [--concurrency 8]   run, load, kill a worker, reload, summary
// node src/main.mjs --serve [--port 8080]                             keep serving for curl; Ctrl-C stops
import { readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { serve } from '@ipcx/core';
import { registerKernelObject } from '@ipcx/core/transport';
import { SharedCounters, Supervisor, forkChild, forkClusterWorker } from '@ipcx/cluster';
import { MessageQueue, TypedMessageQueue } from '@ipcx/mq';
import { Publisher } from '@ipcx/pubsub';
import { ShutdownCoordinator, onSignal } from '@ipcx/signals';
import { UnixServer } from '@ipcx/sockets';
import { Latencies, call, loadStats, runLoad } from './load.mjs';
import { COUNTERS, demoNames } from './names.mjs';

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    duration: { type: 'string', default: '10' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
    port: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
  },
});
const duration = Number(args.duration) * 1000;
const workerCount = Number(args.workers);
const names = demoNames(process.pid);
const tty = process.stdout.isTTY === true;
const log = (line) => {
  if (tty) process.stdout.write('\r\x1b[2K');
  console.log(line);
};

// ── configuration: a file, reloaded on SIGHUP and published to every worker ───────────────────────────────────
const firstConfig = { greeting: 'hello from ipcx', rateLimit: 5000, jobRounds: 4000 };
writeFileSync(names.configFile, JSON.stringify(firstConfig, null, 2), { mode: 0o600 });

const coordinator = new ShutdownCoordinator({
  timeout: 15_000,
  exit: args.serve,
  log: (line) => log(`shutdown: ${line}`),
});
// Registered like the kernel objects: the coordinator removes it at shutdown, and `ipcx clean` after a kill -9.
registerKernelObject({
  kind: 'file',
  name: names.configFile,
  owner: 'ipcx demo',
  unlink: () => rmSync(names.configFile, { force: true }),
});

const counters = await SharedCounters.create(names.counters, { counters: COUNTERS });
coordinator.register({ name: 'counters', close: () => counters.close(), priority: -10 });
const resetWindow = setInterval(() => counters.set('windowCount', 0), 1000);
coordinator.register({ name: 'rate-limit window', close: () => clearInterval(resetWindow), priority: 10 });

const config = await Publisher.create(names.configTopic, { history: 8 });
coordinator.register({ name: 'config publisher', close: () => config.close(), priority: -5 });
const publishConfig = () =>
  config.publish({ ...JSON.parse(readFileSync(names.configFile, 'utf8')), publishedAt: Date.now() });
await publishConfig();
let reloads = 0;
onSignal('SIGHUP', async () => {
  const revision = await publishConfig();
  reloads++;
  log(`SIGHUP: configuration reloaded from ${names.configFile}, published as revision ${revision}`);
});

// ── jobs: a POSIX queue from the HTTP workers to the job process, which runs them on a thread pool ───────────────
const jobs = await TypedMessageQueue.create(names.jobs, { capacity: 10, maxMessageBytes: 256, read: false });
coordinator.register({ name: 'job queue', close: () => jobs.close(), priority: -5 }); // the creator unlinks it
const env = { ...process.env, IPCX_DEMO_PRIMARY: String(process.pid), IPCX_DEMO_THREADS: args.threads };
const runner = await forkChild(new URL('./job-runner.mjs', import.meta.url), { env });
coordinator.register({ name: 'job process', close: () => runner.close({ timeout: 5000 }), priority: 5 });
const jobStats = { urgent: new Latencies(), normal: new Latencies(), ran: new Latencies(), overtaken: 0, failed: 0 };
const finished = [];
void (async () => {
  for await (const message of runner.channel) {
    const report = /** @type {any} */ (message);
    if (report.error) {
      jobStats.failed++;
      continue;
    }
    (report.urgent ? jobStats.urgent : jobStats.normal).add(report.waitedMs);
    jobStats.ran.add(report.ranMs);
    finished.push(report);
  }
})().catch(() => {});

// ── the HTTP workers: node:cluster, supervised (restarted when they die, replaced when they hang) ───────────────
const port = Number(args.port) || (await freePort());
const supervisor = new Supervisor({
  count: workerCount,
  spawn: () =>
    forkClusterWorker({
      file: new URL('./http-worker.mjs', import.meta.url),
      env: { IPCX_DEMO_PRIMARY: String(process.pid), IPCX_DEMO_PORT: String(port) },
    }),
  heartbeatInterval: 250,
  heartbeatTimeout: 10_000,
  restart: { backoff: 50, maxRestarts: 5, window: 60_000 },
  shutdown: coordinator,
  name: 'http workers',
});
const events = { restarts: 0, killedAt: 0, recoveredMs: Number.NaN };
supervisor.on('exit', (e) => {
  if (!e.expected && !coordinator.shuttingDown)
    log(`worker ${e.index} (pid ${e.pid}) exited: ${e.signal ?? `code ${e.code}`}; the supervisor restarts it`);
});
supervisor.on('restart', () => events.restarts++);
supervisor.on('ready', (e) => {
  if (events.killedAt && Number.isNaN(events.recoveredMs)) {
    events.recoveredMs = performance.now() - events.killedAt;
    log(`worker ${e.index} replaced by pid ${e.pid}, serving again ${events.recoveredMs.toFixed(0)} ms after the kill`);
  }
});
await supervisor.start();
await supervisor.ready({ timeout: 30_000 });

// ── the control socket: status for operators, who are known by the kernel's peer credentials ──────────────────
const control = await UnixServer.listen(names.control);
coordinator.register({ name: 'control socket', close: () => control.close(), priority: 20 });
const operators = [];
void (async () => {
  for await (const client of control) {
    operators.push(client.peer);
    void serve(client, (req) =>
      /** @type {any} */ (req)?.get === 'status'
        ? {
            askedBy: client.peer,
            workers: supervisor
              .status()
              .workers.map((w) => ({ index: w.index, pid: w.pid, state: w.state, restarts: w.totalRestarts })),
            counters: counters.snapshot(),
            configRevision: config.revision,
          }
        : { error: 'unknown request; try { get: "status" }' },
    );
  }
})();

log(
  `ipcx demo: primary ${process.pid}, ${workerCount} HTTP workers on http://127.0.0.1:${port}, job process ${runner.pid} with ${args.threads} threads`,
);
log(
  `kernel objects: segment ${names.counters}, topic ${names.configTopic}, queue ${names.jobs}, socket ${names.control}`,
);

// ── the live view: one progress line ─────────────────────────────────────────────────────────────────────────
const started = performance.now();
let lastRequests = 0;
let lastAt = started;
function progress(stats) {
  const now = performance.now();
  const snapshot = counters.snapshot();
  const rate = ((snapshot.requests - lastRequests) / (now - lastAt)) * 1000;
  lastRequests = snapshot.requests;
  lastAt = now;
  const depth = jobs.closed ? 0 : jobs.attributes().currentMessages;
  const live = supervisor.status().workers.filter((w) => w.state === 'ready' || w.state === 'running').length;
  const line = [
    `${((now - started) / 1000).toFixed(1)}s`,
    `${rate.toFixed(0)} req/s`,
    `http p50 ${stats ? stats.latency.hello.percentile(50).toFixed(2) : '-'} ms`,
    `429 ${snapshot.limited}`,
    `queue ${depth}/10`,
    `jobs ${snapshot.jobsDone}/${snapshot.jobsQueued}`,
    `workers ${live}/${workerCount}`,
    `restarts ${events.restarts}`,
    `config rev ${config.revision}`,
  ].join('  ');
  if (tty) process.stdout.write(`\r\x1b[2K${line}`);
  else console.log(line);
}

if (args.serve) {
  log(`serving until SIGINT or SIGTERM. Try:`);
  log(`  curl http://127.0.0.1:${port}/hello`);
  log(`  curl -X POST 'http://127.0.0.1:${port}/jobs?priority=urgent'`);
  log(`  curl http://127.0.0.1:${port}/status`);
  log(`  kill -HUP ${process.pid}    (after editing ${names.configFile})`);
  log(`  node ${new URL('./status-client.mjs', import.meta.url).pathname} ${names.control}`);
  log(`  npx ipcx ls --filter ${names.tag}`);
  const view = setInterval(() => progress(undefined), tty ? 500 : 5000);
  coordinator.register({ name: 'live view', close: () => clearInterval(view), priority: 30 });
} else {
  await scenario();
}

async function scenario() {
  const stats = loadStats();
  const stop = new AbortController();
  const load = runLoad({ port, concurrency: Number(args.concurrency), signal: stop.signal, stats });
  const view = setInterval(() => progress(stats), tty ? 250 : 2000);
  const at = (fraction) =>
    new Promise((resolve) => setTimeout(resolve, duration * fraction - (performance.now() - started)));

  await at(0.3);
  const victim = /** @type {{ pid: number }} */ (supervisor.status().workers[0]);
  log(`killing worker 0 (pid ${victim.pid}) with SIGKILL`);
  events.killedAt = performance.now();
  process.kill(victim.pid, 'SIGKILL');

  await at(0.55);
  writeFileSync(
    names.configFile,
    JSON.stringify({ ...firstConfig, greeting: 'hello again, after SIGHUP', rateLimit: 100 }, null, 2),
  );
  process.kill(process.pid, 'SIGHUP');

  await at(1);
  stop.abort();
  await load;
  clearInterval(view);
  progress(stats);
  if (tty) process.stdout.write('\n');

  // An operator asks the control socket from another process; the primary knows it by pid and uid.
  const status = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [new URL('./status-client.mjs', import.meta.url).pathname, names.control], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`status client exited with ${code}`)),
    );
  });

  // Wait (bounded) for the pool to finish the jobs already accepted, so the summary counts them all.
  const drainBy = performance.now() + 10_000;
  while (counters.get('jobsDone') < counters.get('jobsQueued') && performance.now() < drainBy)
    await new Promise((r) => setTimeout(r, 50));
  const snapshot = counters.snapshot();
  const restarts = events.restarts; // before the shutdown stops the workers
  const seconds = (performance.now() - started) / 1000;
  const latestRevision = config.revision;
  const liveWorkers = supervisor.status().workers.map((w) => w.pid);
  const onLatest = await confirmRevision(liveWorkers, latestRevision, stats.workers);
  const statusCounts = [...stats.byStatus.entries()]
    .sort()
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ');
  const overtaken = overtakes(finished);

  const report = await coordinator.shutdown('demo finished');
  const leftovers = await leftBehind();

  console.log('');
  console.log('summary');
  console.log(
    `  http          ${stats.latency.hello.count + stats.latency.jobs.count} requests in ${seconds.toFixed(1)} s (${statusCounts}); ${stats.errors.length} failed${stats.errors.length ? ` (${[...new Set(stats.errors)].slice(0, 3).join('; ')})` : ''}, ${stats.retried} retried after the killed worker reset them`,
  );
  console.log(
    `  http latency  GET /hello p50 ${stats.latency.hello.percentile(50).toFixed(2)} ms, p99 ${stats.latency.hello.percentile(99).toFixed(2)} ms`,
  );
  console.log(
    `  rate limit    ${snapshot.limited} requests answered 429 by the limit all workers share in shared memory (${firstConfig.rateLimit}/s, then 100/s after SIGHUP)`,
  );
  console.log(
    `  recovery      ${restarts} restart(s); the killed worker was replaced and serving in ${events.recoveredMs.toFixed(0)} ms`,
  );
  console.log(
    `  config        ${reloads} reload(s) by SIGHUP; ${onLatest} of ${liveWorkers.length} workers served revision ${latestRevision}; publish-to-worker ${(snapshot.configLagSum / Math.max(1, snapshot.configLagCount)).toFixed(0)} µs mean`,
  );
  console.log(
    `  jobs          ${snapshot.jobsDone} of ${snapshot.jobsQueued} done by the thread pool (${snapshot.jobsFull} refused, queue full); ${jobStats.failed} failed; run p50 ${jobStats.ran.percentile(50).toFixed(1)} ms`,
  );
  console.log(
    `  priorities    urgent jobs waited ${jobStats.urgent.mean().toFixed(1)} ms in the queue, normal ones ${jobStats.normal.mean().toFixed(1)} ms; ${overtaken} urgent jobs overtook normal jobs posted before them`,
  );
  console.log(
    `  control       status asked by pid ${status.askedBy.pid} (uid ${status.askedBy.uid}), answered in ${status.roundTripMs.toFixed(2)} ms`,
  );
  console.log(
    `  shutdown      ${report.closed.length} resources closed (${report.closed.join(', ')}), ${report.kernelObjects.length} kernel objects unlinked, exit code ${report.code}`,
  );
  console.log(`  left behind   ${leftovers.length === 0 ? 'nothing' : leftovers.join(', ')}`);
  process.exit(report.code === 0 && leftovers.length === 0 ? 0 : 1);
}

/**
 * Asks the workers which configuration they serve until each live one has answered with `revision` (bounded): a new
 * connection each time, so that node:cluster hands them to every worker in turn. Returns how many did.
 */
async function confirmRevision(pids, revision, seen) {
  const deadline = performance.now() + 10_000;
  const confirmed = new Set(pids.filter((pid) => seen.get(pid) === revision));
  while (confirmed.size < pids.length && performance.now() < deadline) {
    try {
      const { body } = await call(false, port, 'GET', '/status');
      if (body.configRevision === revision && pids.includes(body.worker)) confirmed.add(body.worker);
    } catch {
      // a worker busy or restarting: ask again
    }
  }
  return confirmed.size;
}

/** Urgent jobs that started before a normal job posted earlier (a lower id) had started. */
function overtakes(reports) {
  let count = 0;
  for (const urgent of reports.filter((r) => r.urgent)) {
    if (reports.some((normal) => !normal.urgent && normal.id < urgent.id && normal.startedAt > urgent.startedAt))
      count++;
  }
  return count;
}

/** What of this run is still in the kernel or on disk. */
async function leftBehind() {
  const left = readdirSync('/dev/shm')
    .filter((f) => f.includes(names.tag) || f.startsWith(`ipcx-cluster-${process.pid}-`))
    .map((f) => `/dev/shm/${f}`);
  if (existsSync(names.control)) left.push(names.control);
  if (existsSync(names.configFile)) left.push(names.configFile);
  // unlink answers false when the queue is already gone (no mqueue file system needed)
  if (await MessageQueue.unlink(names.jobs)) left.push(`queue ${names.jobs}`);
  return left;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(found));
    });
  });
}
