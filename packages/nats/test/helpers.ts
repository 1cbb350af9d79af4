import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { natsServerAvailable, startNatsServer, type NatsTestServer } from '@ipcx/nats/testing';
import { within } from '@ipcx/core/testing';
export { within };

/** Fixture scripts: plain Node processes that load the built `dist` of our packages. */
export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * Whether the NATS tests run: they need `nats-server` (CI installs it). Without it they fail loudly, unless
 * IPCX_NATS_OPTIONAL=1 says a machine without it may skip them (the skip is then named in the output).
 */
export const skipWithoutServer = !natsServerAvailable() && process.env.IPCX_NATS_OPTIONAL === '1';
if (skipWithoutServer) console.warn('@ipcx/nats: nats-server is not installed and IPCX_NATS_OPTIONAL=1: every NATS test is SKIPPED');

/** `describe`, skipped only when nats-server is missing and IPCX_NATS_OPTIONAL=1. */
export const describeNats = describe.skipIf(skipWithoutServer);

/**
 * A nats-server of this test file's own on a loopback port (started before all tests, stopped after them, also
 * when they fail). `server()` is the running server.
 */
export function natsServer(): () => NatsTestServer {
  let server: NatsTestServer | undefined;
  beforeAll(async () => {
    server = await startNatsServer();
  }, 20_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the NATS test server did not start (is nats-server installed?)');
    return server;
  };
}

/** Unique subjects and topic names for one test: ipcx-<what>-<pid>-<random>. */
export function unique(what: string): string {
  return `ipcx-${what}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Children spawned by a test, killed after it. */
export function children(): { spawn(args: string[], options?: SpawnOptions): ChildProcess } {
  const alive = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of alive) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    alive.clear();
  });
  return {
    spawn(args, options = {}) {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
      alive.add(child);
      return child;
    },
  };
}


const readers = new WeakMap<ChildProcess, { lines: string[]; wake: (() => void) | undefined; ended: boolean }>();

/** The next line a child writes to stdout (every line is kept until read). */
export async function lineFrom(child: ChildProcess, ms = 10_000): Promise<string> {
  let reader = readers.get(child);
  if (!reader) {
    const state = { lines: [] as string[], wake: undefined as (() => void) | undefined, ended: false };
    reader = state;
    readers.set(child, state);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      state.lines.push(line);
      state.wake?.();
    });
    child.once('exit', () => {
      state.ended = true;
      state.wake?.();
    });
  }
  const state = reader;
  return within(
    (async () => {
      while (state.lines.length === 0) {
        if (state.ended) throw new Error('the child exited before writing a line');
        await new Promise<void>((resolve) => (state.wake = resolve));
      }
      return state.lines.shift()!;
    })(),
    ms,
    'a line from the child',
  );
}

/** Resolves once the child has exited. */
export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}
