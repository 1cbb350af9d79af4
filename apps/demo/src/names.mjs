// The names of every kernel object of one demo run, derived from the primary's pid so that runs never collide
// and `ipcx ls --filter ipcx-demo-<pid>` finds them all.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** @param {number} pid the primary's pid */
export function demoNames(pid) {
  const tag = `ipcx-demo-${pid}`;
  return {
    tag,
    /** pubsub topic holding the live configuration (segment /ipcx-topic-<topic>.<generation>) */
    configTopic: `${tag}-config`,
    /** shared counters and the global rate limit (POSIX shm) */
    counters: `/${tag}-counters`,
    /** jobs from the HTTP workers to the job process (POSIX mq, priorities) */
    jobs: `/${tag}-jobs`,
    /** the operator's control socket (Unix stream) */
    control: join(tmpdir(), `${tag}.sock`),
    /** the configuration file SIGHUP reloads */
    configFile: join(tmpdir(), `${tag}-config.json`),
  };
}

/** The counters shared by every process of the demo, one Atomics word each. */
export const COUNTERS = [
  'requests', // HTTP requests answered by any worker
  'limited', // answered 429 by the global rate limit
  'windowCount', // requests in the current rate-limit window (reset by the primary every second)
  'jobsQueued', // jobs accepted into the POSIX queue
  'jobsFull', // jobs refused: the queue stayed full
  'jobsDone', // jobs the thread pool finished
  'configLagSum', // µs from publish to a worker seeing a new config, summed
  'configLagCount',
];
