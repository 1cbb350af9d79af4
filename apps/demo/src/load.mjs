// The demo's own client: a bounded HTTP load on loopback (keep-alive connections, a fixed number of requests in
// flight), bursts of jobs in which urgent ones are posted after normal ones, and latency kept per kind.
import { Agent, request } from 'node:http';

/** Latencies in ms, with percentiles. */
export class Latencies {
  #values = [];
  add(ms) {
    this.#values.push(ms);
  }
  get count() {
    return this.#values.length;
  }
  percentile(p) {
    if (this.#values.length === 0) return Number.NaN;
    const sorted = [...this.#values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
  mean() {
    return this.#values.length === 0 ? Number.NaN : this.#values.reduce((a, b) => a + b, 0) / this.#values.length;
  }
}

/**
 * One HTTP request; resolves `{ status, body, ms }`. A connection that a killed worker reset (or a GET that hangs)
 * is retried, up to three times, as a load balancer would: the request never reached the application.
 */
export function call(agent, port, method, path, retries = 0) {
  const retried = retries > 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const failed = (error) => {
      if (retries < 3 && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(error.code)) {
        resolve(call(agent, port, method, path, retries + 1));
      } else {
        reject(error);
      }
    };
    // A GET that hangs is retried like a reset one: a connection node:cluster handed to a worker as it was
    // killed can stay open with nobody behind it. A POST may have queued its job, so it is not retried.
    const idempotent = method === 'GET';
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, timeout: idempotent ? 3000 : 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            body: body ? JSON.parse(body) : undefined,
            ms: performance.now() - started,
            retried,
          }),
        );
        // A response cut off by a worker that died: the same as a reset before it.
        res.on('aborted', () => failed(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
        res.on('error', failed);
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('request timed out'), { code: idempotent ? 'ETIMEDOUT' : 'ERR_TIMEOUT' })),
    );
    req.on('error', failed);
    req.end();
  });
}

/**
 * Runs the load until `signal` aborts: `concurrency` loops of GET /hello, and every `burstEvery` ms a burst of
 * jobs, normal ones first, then urgent ones, all posted at once so that they wait in the queue together.
 */
export async function runLoad({
  port,
  concurrency,
  signal,
  burstEvery = 400,
  burst = { normal: 10, urgent: 4 },
  stats,
}) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency + burst.normal + burst.urgent });
  let jobId = 0;
  const record = (result, kind) => {
    stats.byStatus.set(result.status, (stats.byStatus.get(result.status) ?? 0) + 1);
    if (result.retried) stats.retried++;
    stats.latency[kind].add(result.ms);
    if (kind === 'hello' && result.status === 200) {
      const seen = stats.workers.get(result.body.worker) ?? 0;
      stats.workers.set(result.body.worker, Math.max(seen, result.body.configRevision));
    }
  };
  const loops = Array.from({ length: concurrency }, async () => {
    while (!signal.aborted) {
      try {
        record(await call(agent, port, 'GET', '/hello'), 'hello');
      } catch (error) {
        stats.errors.push(error.message);
      }
    }
  });
  const bursts = (async () => {
    while (!signal.aborted) {
      const posts = [];
      for (let i = 0; i < burst.normal; i++) posts.push(call(agent, port, 'POST', `/jobs?id=${++jobId}`));
      for (let i = 0; i < burst.urgent; i++)
        posts.push(call(agent, port, 'POST', `/jobs?id=${++jobId}&priority=urgent`));
      for (const result of await Promise.allSettled(posts)) {
        if (result.status === 'fulfilled') record(result.value, 'jobs');
        else stats.errors.push(result.reason.message);
      }
      await new Promise((resolve) => setTimeout(resolve, burstEvery));
    }
  })();
  await Promise.all([...loops, bursts]);
  agent.destroy();
}

/** A fresh stats object for `runLoad`. */
export function loadStats() {
  return {
    byStatus: new Map(),
    retried: 0,
    errors: [],
    workers: new Map(),
    latency: { hello: new Latencies(), jobs: new Latencies() },
  };
}
