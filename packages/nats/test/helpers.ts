import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { natsServerAvailable, startNatsServer, type NatsTestServer } from '@ipcx/nats/testing';
import { killTrackedChildren } from '@ipcx/core/testing';
export { childLines, exited, killChild, spawnNode, uniqueName, within } from '@ipcx/core/testing';

// Children spawned by a test (spawnNode) are killed after it.
afterEach(killTrackedChildren);

/** Fixture scripts: plain Node processes that load the built `dist` of our packages. */
export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * Whether the NATS tests run: they need `nats-server` (CI installs it). Without it they fail loudly, unless
 * IPCX_NATS_OPTIONAL=1 says a machine without it may skip them (the skip is then named in the output).
 */
export const skipWithoutServer = !natsServerAvailable() && process.env.IPCX_NATS_OPTIONAL === '1';
if (skipWithoutServer)
  console.warn('@ipcx/nats: nats-server is not installed and IPCX_NATS_OPTIONAL=1: every NATS test is SKIPPED');

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
