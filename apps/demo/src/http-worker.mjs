// One HTTP worker of the demo, a node:cluster worker started by the primary's Supervisor.
// - reads the live configuration from the primary's pubsub topic (shared memory, no copy per worker);
// - counts requests and applies one global rate limit with Atomics in a shared segment;
// - hands jobs to the job process through a POSIX message queue, urgent ones at a higher priority;
// - beats a heartbeat the Supervisor watches, and says when it is ready.
import { createServer } from 'node:http';
import { FullError, TimeoutError } from '@ipcx/core';
import { SharedCounters, notifyReady, startHeartbeat } from '@ipcx/cluster';
import { TypedMessageQueue } from '@ipcx/mq';
import { Subscriber } from '@ipcx/pubsub';
import { demoNames } from './names.mjs';

const names = demoNames(Number(process.env.IPCX_DEMO_PRIMARY));
const port = Number(process.env.IPCX_DEMO_PORT);

const config = await Subscriber.open(names.configTopic, { onPublisherGone: 'wait' });
const counters = await SharedCounters.open(names.counters);
const jobs = await TypedMessageQueue.open(names.jobs, { read: false });
let seen = config.current()?.revision ?? 0;

// Follow the configuration: each new revision is read from shared memory when the socket says it changed.
void (async () => {
  for await (const { revision, value } of config) {
    if (revision <= seen) continue;
    seen = revision;
    counters.add('configLagSum', Math.max(0, Math.round((Date.now() - /** @type {any} */ (value).publishedAt) * 1000)));
    counters.add('configLagCount', 1);
  }
})().catch(() => {});

function json(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', 'http://demo');
  const current = /** @type {{ revision: number, value: any }} */ (config.current());
  try {
    if (url.pathname === '/hello') {
      // The global limit: one counter for every worker, reset by the primary once a second.
      if (!counters.addIfBelow('windowCount', 1, current.value.rateLimit)) {
        counters.add('limited');
        return json(response, 429, { error: 'rate limited', limit: current.value.rateLimit });
      }
      counters.add('requests');
      return json(response, 200, {
        greeting: current.value.greeting,
        worker: process.pid,
        configRevision: current.revision,
      });
    }
    if (url.pathname === '/jobs' && request.method === 'POST') {
      const urgent = url.searchParams.get('priority') === 'urgent';
      const job = {
        id: Number(url.searchParams.get('id') ?? 0),
        urgent,
        rounds: current.value.jobRounds,
        queuedAt: Date.now(),
      };
      try {
        await jobs.send(job, { priority: urgent ? 9 : 1, timeout: 2000 });
      } catch (error) {
        if (error instanceof FullError || error instanceof TimeoutError) {
          counters.add('jobsFull');
          return json(response, 503, { error: 'job queue full' });
        }
        throw error;
      }
      counters.add('jobsQueued');
      counters.add('requests');
      return json(response, 202, { queued: job.id, urgent });
    }
    if (url.pathname === '/status') {
      counters.add('requests');
      return json(response, 200, {
        worker: process.pid,
        configRevision: current.revision,
        config: current.value,
        counters: counters.snapshot(),
      });
    }
    json(response, 404, { error: 'not found', try: ['/hello', 'POST /jobs?priority=urgent', '/status'] });
  } catch (error) {
    json(response, 500, { error: error.message, code: error.code });
  }
});
server.keepAliveTimeout = 5000;
// Keep-alive connections stick to one worker; closing each after 100 requests lets node:cluster rebalance them,
// so a replaced worker gets its share soon after it is ready.
server.maxRequestsPerSocket = 100;
server.listen(port, '127.0.0.1', () => {
  startHeartbeat();
  notifyReady();
});

// The primary's Supervisor stops a worker by disconnecting it (node:cluster) or with SIGTERM: finish what is in
// flight, then close what we opened.
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(async () => {
    await jobs.close();
    await config.close();
    counters.close();
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.once('SIGTERM', stop);
process.once('disconnect', stop);
