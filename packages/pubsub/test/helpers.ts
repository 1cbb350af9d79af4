import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runtimeDir } from '../src/index.js';

/** A line a fixture printed (JSON). */
export type Line = { event: string; [key: string]: unknown };

/** A fixture process and what it printed. */
export class Fixture {
  readonly lines: Line[] = [];
  readonly #waiters = new Set<() => void>();
  exited = false;
  readonly exit: Promise<void>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as Line);
      } catch {
        this.lines.push({ event: 'text', text });
      }
      for (const waiter of this.#waiters) waiter();
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', () => {
        this.exited = true;
        for (const waiter of this.#waiters) waiter();
        resolve();
      });
    });
  }

  /** Waits until a line matches (or fails: the process exited, or `timeout` ms passed). */
  waitFor(match: (line: Line) => boolean, timeout = 15_000): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find(match);
        if (found) {
          done();
          resolve(found);
          return true;
        }
        if (this.exited) {
          done();
          reject(new Error(`fixture exited; it printed: ${JSON.stringify(this.lines.slice(-5))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting; fixture printed: ${JSON.stringify(this.lines.slice(-5))}`));
      }, timeout);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter = (): void => void check();
      if (!check()) this.#waiters.add(waiter);
    });
  }

  event(name: string, timeout?: number): Promise<Line> {
    return this.waitFor((line) => line.event === name || line.event === 'error' && name !== 'error', timeout).then((line) => {
      if (line.event === 'error' && name !== 'error') throw new Error(`fixture failed: ${JSON.stringify(line)}`);
      return line;
    });
  }

  send(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  kill(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    return this.exit;
  }
}

const fixtures: Fixture[] = [];

/** Starts `test/fixtures/<name>.mjs` with a JSON argument; killed by `killFixtures`. */
export function startFixture(name: string, config: object): Fixture {
  const file = fileURLToPath(new URL(`./fixtures/${name}.mjs`, import.meta.url));
  const child = spawn(process.execPath, [file, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fixture = new Fixture(child);
  fixtures.push(fixture);
  return fixture;
}

/** SIGKILLs every fixture still running. */
export async function killFixtures(): Promise<void> {
  await Promise.all(fixtures.splice(0).map((f) => f.kill()));
}

/** A unique topic name for one test. */
export function uniqueTopic(what: string): string {
  return `ipcx-${what}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** What of a topic is on the machine: its segments in /dev/shm and its files in the runtime directory. */
export function leftovers(topic: string): string[] {
  const segments = readdirSync('/dev/shm').filter((f) => f.startsWith(`ipcx-topic-${topic}.`)).map((f) => `/dev/shm/${f}`);
  const files = readdirSync(runtimeDir()).filter((f) => f.startsWith(`${topic}.`));
  return [...segments, ...files];
}

/** Waits for a condition that other processes make true, checking every 10 ms, failing after `timeout`. */
export async function until(condition: () => boolean, timeout = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
