import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { natsServerAvailable, startNatsServer, type NatsTestServer } from '@ipcx/nats/testing';

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

/** Resolves when `promise` does, or fails after `ms` (so a missing event fails the test instead of hanging it). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing happened in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next line a child writes to stdout. */
export async function lineFrom(child: ChildProcess, ms = 10_000): Promise<string> {
  let text = '';
  const stdout = child.stdout!;
  stdout.setEncoding('utf8');
  return within(
    new Promise<string>((resolve, reject) => {
      const onData = (chunk: string): void => {
        text += chunk;
        const newline = text.indexOf('\n');
        if (newline >= 0) {
          stdout.off('data', onData);
          stdout.unshift(text.slice(newline + 1));
          resolve(text.slice(0, newline));
        }
      };
      stdout.on('data', onData);
      child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before writing a line`)));
    }),
    ms,
    'a line from the child',
  );
}

/** Resolves once the child has exited. */
export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}
