// Fan-out rows in the main run (issue 15): the fan-out bench (src/pubsub/cli.mjs, `npm run bench:pubsub`) with
// 1 and 4 subscriber processes (4 only in --quick), flat out and paced at one update per millisecond, run as a child process so
// that its subscribers and servers never share this process; its rows go into this run's results.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./pubsub/cli.mjs', import.meta.url));

/** Subscriber counts of a full run; a quick run measures 4 only. */
export const FANOUT_SUBSCRIBERS = [1, 4];

/**
 * Resolves to { rows, notes, wake } of the fan-out bench, or { rows: [], notes: [why] } when it failed.
 * @param {{ quick?: boolean, log?: (line: string) => void }} [options]
 */
export async function measureFanout({ quick = false, log = () => {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ipcx-bench-fanout-'));
  const file = join(dir, 'fanout.json');
  const args = [
    CLI,
    `--subscribers=${quick ? '4' : FANOUT_SUBSCRIBERS.join(',')}`,
    `--json=${file}`,
    ...(quick ? ['--quick'] : []),
  ];
  try {
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.setEncoding('utf8');
      let partial = '';
      child.stderr.on('data', (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) log(`fan-out: ${line}`);
      });
      child.once('exit', resolve);
    });
    if (code !== 0) return { rows: [], notes: [`fan-out bench exited with ${code}: no fan-out rows`] };
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    return { rows: [], notes: [`fan-out bench failed: ${error.message}`] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
