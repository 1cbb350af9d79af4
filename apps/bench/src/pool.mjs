#!/usr/bin/env node
// The pool bench: small tasks through @ipcx/cluster's Pool against piscina with the same number of
// threads, side by side in one run; and the time from a spawn call to the child's first message for
// each spawn style, against Node's own channel. `npm run bench:pool [-- --quick] [-- --threads=2]`.
//
// Tasks: an empty task (null) and a 1 KiB object (the typical object of the main bench) echoed back.
// Two loops per pool: one task at a time (`await pool.run(task)`), and many in flight (a window of
// `--window` tasks, default 1024, refilled as each resolves). tasks/s over the run, and p50/p99 of the
// time from run() to its result. Every figure is the median of --runs runs (default 5) after a warm-up.
import cluster from 'node:cluster';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Pool, forkChild, forkClusterWorker, spawnWorker } from '@ipcx/cluster';
import Piscina from 'piscina';
import { typicalObject } from './payload.mjs';
import { median, now, percentile } from './stats.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const quick = args.quick === 'true';
const threads = Number(args.threads ?? 2);
const runs = Number(args.runs ?? (quick ? 2 : 5));
const runMs = Number(args.ms ?? (quick ? 300 : 1000));
const windowSize = Number(args.window ?? 1024);
const here = (file) => new URL(`./pool/${file}`, import.meta.url);

const tasks = { empty: null, 'object 1 KiB': typicalObject(1024) };

/** Runs `fn(task)` for `ms`: one at a time, or with `window` in flight. Returns { rate, p50, p99 } (rate in tasks/s, latencies in µs). */
async function measure(run, task, window, ms) {
  const latencies = [];
  let done = 0;
  const start = now();
  const end = start + ms * 1e6;
  if (window === 1) {
    while (now() < end) {
      const t0 = now();
      await run(task);
      latencies.push(now() - t0);
      done++;
    }
  } else {
    await new Promise((resolve, reject) => {
      let inFlight = 0;
      let stopped = false;
      const launch = () => {
        const t0 = now();
        inFlight++;
        run(task).then(() => {
          inFlight--;
          done++;
          const t = now();
          if ((done & 7) === 0) latencies.push(t - t0); // sample: the clock costs more than a task
          if (t < end) launch();
          else if (!stopped && inFlight === 0) {
            stopped = true;
            resolve(undefined);
          }
        }, reject);
      };
      for (let i = 0; i < window; i++) launch();
    });
  }
  const seconds = (now() - start) / 1e9;
  return { rate: done / seconds, p50: percentile(latencies, 0.5) / 1000, p99: percentile(latencies, 0.99) / 1000 };
}

async function poolRows() {
  const pools = {
    'ipcx Pool': async () => {
      const pool = new Pool({ filename: here('ipcx-worker.mjs'), threads });
      return { run: (t) => pool.run(t), close: () => pool.close() };
    },
    'piscina (default)': async () => {
      const pool = new Piscina({
        filename: here('piscina-worker.mjs').href,
        minThreads: threads,
        maxThreads: threads,
        maxQueue: 'auto' === args.maxQueue ? 'auto' : Infinity,
      });
      return { run: (t) => pool.run(t), close: () => pool.destroy() };
    },
    'piscina (32 per worker)': async () => {
      const pool = new Piscina({
        filename: here('piscina-worker.mjs').href,
        minThreads: threads,
        maxThreads: threads,
        concurrentTasksPerWorker: 32,
      });
      return { run: (t) => pool.run(t), close: () => pool.destroy() };
    },
  };
  const rows = [];
  for (const [taskName, task] of Object.entries(tasks)) {
    for (const window of [1, windowSize]) {
      const loop = window === 1 ? 'await run() one at a time' : `${window} in flight`;
      const results = {};
      // Alternate the pools run by run so that drift of the VM's speed falls on all of them.
      const made = {};
      for (const [name, make] of Object.entries(pools)) {
        made[name] = await make();
        await measure(made[name].run, task, window, Math.min(runMs, 300)); // warm-up
        results[name] = [];
      }
      for (let r = 0; r < runs; r++) {
        const order = r % 2 === 0 ? Object.keys(pools) : Object.keys(pools).reverse();
        for (const name of order) results[name].push(await measure(made[name].run, task, window, runMs));
      }
      for (const name of Object.keys(pools)) await made[name].close();
      for (const [name, rs] of Object.entries(results)) {
        rows.push({
          task: taskName,
          loop,
          pool: name,
          rate: median(rs.map((x) => x.rate)),
          rateMin: Math.min(...rs.map((x) => x.rate)),
          rateMax: Math.max(...rs.map((x) => x.rate)),
          p50: median(rs.map((x) => x.p50)),
          p99: median(rs.map((x) => x.p99)),
        });
      }
      const line = rows
        .slice(-3)
        .map((x) => `${x.pool}: ${Math.round(x.rate)}/s`)
        .join(', ');
      console.error(`${taskName}, ${loop}: ${line}`);
    }
  }
  return rows;
}

/** ms from the spawn call to the child's first message. */
async function spawnRows() {
  const file = here('spawn-child.mjs');
  const styles = {
    'worker thread: spawnWorker + connectToParent (shm)': async () => {
      const t0 = now();
      const h = await spawnWorker(file, { workerData: 'ipcx' });
      await h.channel.receive();
      const t = now() - t0;
      await h.close();
      return t;
    },
    'worker thread: new Worker + parentPort.postMessage': async () => {
      const t0 = now();
      const w = new Worker(file);
      await once(w, 'message');
      const t = now() - t0;
      await once(w, 'exit');
      return t;
    },
    'child process: forkChild + connectToParent (shm)': async () => {
      const t0 = now();
      const h = await forkChild(file, { env: { ...process.env, MODE: 'ipcx' } });
      await h.channel.receive();
      const t = now() - t0;
      await h.close();
      return t;
    },
    'child process: fork + process.send': async () => {
      const t0 = now();
      const c = fork(file);
      await once(c, 'message');
      const t = now() - t0;
      await once(c, 'exit');
      return t;
    },
    'cluster worker: forkClusterWorker + connectToParent (shm)': async () => {
      const t0 = now();
      const h = await forkClusterWorker({ file: file.pathname, env: { MODE: 'ipcx' } });
      await h.channel.receive();
      const t = now() - t0;
      await h.close();
      return t;
    },
    'cluster worker: cluster.fork + process.send': async () => {
      cluster.setupPrimary({ exec: file.pathname });
      const t0 = now();
      const w = cluster.fork();
      await once(w, 'message');
      const t = now() - t0;
      await once(w, 'exit');
      return t;
    },
  };
  const rows = [];
  const times = quick ? 3 : 9;
  for (const [name, once_] of Object.entries(styles)) {
    await once_(); // warm-up
    const ts = [];
    for (let i = 0; i < times; i++) ts.push(await once_());
    rows.push({ style: name, p50: median(ts) / 1e6, min: Math.min(...ts) / 1e6, max: Math.max(...ts) / 1e6 });
    console.error(`${name}: ${(median(ts) / 1e6).toFixed(1)} ms`);
  }
  return rows;
}

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const pool = await poolRows();
const spawnTimes = await spawnRows();

let md = `# Pool bench\n\n${new Date().toISOString()}, Node ${process.version}, ${availableParallelism()} CPUs, ${threads} threads per pool, ${runs} runs of ${runMs} ms (median; min–max of tasks/s)\n\n`;
md += '| task | loop | pool | tasks/s | min–max | p50 µs | p99 µs |\n| --- | --- | --- | ---: | ---: | ---: | ---: |\n';
for (const r of pool)
  md += `| ${r.task} | ${r.loop} | ${r.pool} | ${fmt(r.rate)} | ${fmt(r.rateMin)}–${fmt(r.rateMax)} | ${fmt(r.p50)} | ${fmt(r.p99)} |\n`;
const target = pool.filter((r) => r.task === 'empty' && r.loop !== 'await run() one at a time');
const ours = target.find((r) => r.pool === 'ipcx Pool')?.rate ?? 0;
const best = Math.max(...target.filter((r) => r.pool !== 'ipcx Pool').map((r) => r.rate));
md += `\nTarget: empty task, many in flight, at least 3x piscina's tasks/s: ${(ours / best).toFixed(2)}x the better piscina row — ${ours / best >= 3 ? 'met' : 'missed'}.\n`;
md += '\n## Spawn to first message\n\n| style | p50 ms | min–max ms |\n| --- | ---: | ---: |\n';
for (const r of spawnTimes) md += `| ${r.style} | ${r.p50.toFixed(1)} | ${r.min.toFixed(1)}–${r.max.toFixed(1)} |\n`;
const dir = new URL(`../bench-results/pool-${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('report.md', dir), md);
writeFileSync(new URL('results.json', dir), JSON.stringify({ pool, spawn: spawnTimes }, null, 2));
console.log(md);
process.exit(0);
