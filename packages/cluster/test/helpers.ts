import http from 'node:http';
import net from 'node:net';
import { afterEach } from 'vitest';
import { killTrackedChildren, shmLeftovers } from '@ipcx/core/testing';

// Children spawned by a test (spawnNode) are killed after it.
afterEach(killTrackedChildren);

/** A fixture script (run with plain Node: it loads the built packages). */
export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** Segments in /dev/shm made by this process for @ipcx/cluster. */
export function leftovers(): string[] {
  return shmLeftovers((name) => name.startsWith(`ipcx-cluster-${process.pid}-`));
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The body of `GET /` on 127.0.0.1:`port` (a non-200 status or 10 s of silence rejects). */
export function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
