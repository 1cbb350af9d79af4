import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, SystemError, TimeoutError } from '@ipcx/core';

/** A `nats-server` of a test's own, on a loopback port, with JetStream in a temporary directory. */
export interface NatsTestServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across `restart`, removed by `stop`). */
  readonly storeDir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stops the process (SIGTERM, or SIGKILL with `{ kill: true }`) and keeps the store; resolves once it exited. */
  halt(options?: { kill?: boolean }): Promise<void>;
  /** Starts the process again on the same port and store; resolves once it is ready. */
  start(): Promise<void>;
  /** `halt` then `start`. */
  restart(options?: { kill?: boolean }): Promise<void>;
  /** Stops the process and removes the store; idempotent. */
  stop(): Promise<void>;
}

/** Options of `startNatsServer`. */
export interface NatsTestServerOptions {
  /** Path or name of the binary. Default `nats-server` (Debian package `nats-server`). */
  binary?: string;
  /** How long to wait for "Server is ready". Default 10000 ms. */
  readyTimeout?: number;
}

/** True when `nats-server` (or `binary`) can be run. */
export function natsServerAvailable(binary = 'nats-server'): boolean {
  const result = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts `nats-server -a 127.0.0.1 -p <free port> -js -sd <temporary dir>` and resolves once it is ready: for
 * tests and benchmarks that need a real server and must not reach beyond loopback. Fails with `NotFoundError`
 * when the binary is missing.
 *
 * @example
 * ```ts
 * const server = await startNatsServer();
 * try { await using channel = await NatsChannel.connect('jobs', { servers: server.url }); } finally { await server.stop(); }
 * ```
 */
export async function startNatsServer(options: NatsTestServerOptions = {}): Promise<NatsTestServer> {
  const binary = options.binary ?? 'nats-server';
  if (!natsServerAvailable(binary)) {
    throw new NotFoundError(`${binary} (install it: apt-get install nats-server, or see https://nats.io)`);
  }
  const readyTimeout = options.readyTimeout ?? 10_000;
  const storeDir = mkdtempSync(join(tmpdir(), 'ipcx-nats-'));
  let port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new TimeoutError(`${binary} start (log: ${log.slice(-500)})`, readyTimeout)),
        readyTimeout,
      );
      const fail = (error: Error): void => {
        clearTimeout(timer);
        proc.stderr?.removeListener('data', onData);
        proc.kill('SIGKILL');
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        log += chunk.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          proc.stderr?.removeListener('data', onData);
          proc.stderr?.resume();
          resolve();
        }
      };
      proc.stderr?.on('data', onData);
      proc.once('error', (error) => fail(new SystemError(`${binary} start`, { cause: error })));
      proc.once('exit', (code) =>
        fail(new SystemError(`${binary} start (exited with ${code}; log: ${log.slice(-500)})`)),
      );
    });
  };

  const halt = async (haltOptions?: { kill?: boolean }): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill(haltOptions?.kill ? 'SIGKILL' : 'SIGTERM');
      await exited;
    }
    child = undefined;
  };

  // A process that exits without stop() (process.exit, a failed test run) takes its server and store along.
  const onExit = (): void => {
    child?.kill('SIGKILL');
    rmSync(storeDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  try {
    await launch();
  } catch (error) {
    // Another process may have taken the port between the probe and the start: try once more on another.
    port = await freePort();
    try {
      await launch();
    } catch {
      process.removeListener('exit', onExit);
      rmSync(storeDir, { recursive: true, force: true });
      throw error;
    }
  }

  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    storeDir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    halt,
    async start() {
      if (stopped) throw new Error('the test server was stopped');
      if (child === undefined) await launch();
    },
    async restart(restartOptions) {
      await halt(restartOptions);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await halt();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
