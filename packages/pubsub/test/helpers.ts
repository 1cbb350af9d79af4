import type { ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { childLines, killTrackedChildren, shmLeftovers, spawnNode, type ChildLines } from '@ipcx/core/testing';
import { runtimeDir } from '../src/index.js';
export { killTrackedChildren, uniqueName, until, within } from '@ipcx/core/testing';

// Fixtures still running after a test are killed.
afterEach(killTrackedChildren);

/** A line a fixture printed (JSON). */
export type Line = { event: string; [key: string]: unknown };

function parse(text: string): Line {
  try {
    return JSON.parse(text) as Line;
  } catch {
    return { event: 'text', text };
  }
}

/** A fixture process and the JSON lines it printed. */
export class Fixture {
  readonly #out: ChildLines;

  constructor(readonly child: ChildProcess) {
    this.#out = childLines(child);
  }

  get lines(): Line[] {
    return this.#out.lines.map(parse);
  }

  /** Waits until a line matches (or fails: the process exited, or `timeout` ms passed). */
  waitFor(match: (line: Line) => boolean, timeout = 15_000): Promise<Line> {
    return this.#out.line((text) => match(parse(text)), timeout).then(parse);
  }

  event(name: string, timeout?: number): Promise<Line> {
    return this.waitFor((line) => line.event === name || (line.event === 'error' && name !== 'error'), timeout).then(
      (line) => {
        if (line.event === 'error' && name !== 'error') throw new Error(`fixture failed: ${JSON.stringify(line)}`);
        return line;
      },
    );
  }

  send(command: object): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.#out.exited;
  }
}

/** Starts `test/fixtures/<name>.mjs` with a JSON argument; killed after the test. */
export function startFixture(name: string, config: object): Fixture {
  const file = fileURLToPath(new URL(`./fixtures/${name}.mjs`, import.meta.url));
  return new Fixture(spawnNode([file, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** What of a topic is on the machine: its segments in /dev/shm and its files in the runtime directory. */
export function leftovers(topic: string): string[] {
  const segments = shmLeftovers((f) => f.startsWith(`ipcx-topic-${topic}.`)).map((f) => `/dev/shm/${f}`);
  const files = readdirSync(runtimeDir()).filter((f) => f.startsWith(`${topic}.`));
  return [...segments, ...files];
}
