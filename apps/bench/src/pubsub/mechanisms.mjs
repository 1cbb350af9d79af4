// The publishing side of each mechanism in the fan-out bench. Each `open(subscribers)` resolves to
// { config (for the subscribers), fork?, probes?, publish(update), done?(), close() } or throws { skip: why }.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const encode = (update) => Buffer.from(JSON.stringify(update));

/** A mechanism whose subscribers connect to `address` and are ready once a probe came through. */
function probing(address, send, close) {
  return {
    config: { address },
    probes: true,
    publish: send,
    probe: () => send({ probe: true }),
    done: () => send({ done: true }),
    close,
  };
}

function skip(why) {
  return Object.assign(new Error(why), { skip: why });
}

async function optional(name) {
  try {
    return await import(name);
  } catch (error) {
    throw skip(`${name} is not installed (${error.code ?? error.message})`);
  }
}

export const MECHANISMS = [
  {
    id: 'ipcx-pubsub',
    label: 'ipcx pubsub (shared memory + futex wake)',
    async open() {
      const { Publisher } = await import('@ipcx/pubsub');
      const topic = `bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      const pub = await Publisher.create(topic);
      return {
        config: { topic },
        publish: (update) => pub.publish(update),
        close: () => pub.close(),
      };
    },
  },
  {
    // What a user without @ipcx/pubsub writes: a UnixServer, one stream channel per subscriber, each update
    // sent to every channel (trySend, awaiting send only when a channel is full).
    id: 'ipcx-unix-stream',
    label: 'ipcx Unix stream channel per subscriber',
    async open() {
      const { UnixServer } = await import('@ipcx/sockets');
      const dir = mkdtempSync(join(tmpdir(), 'ipcx-bench-stream-'));
      const address = `${dir}/pub.sock`;
      const server = await UnixServer.listen(address);
      const channels = [];
      const accepting = (async () => {
        try {
          for (;;) channels.push(await server.accept());
        } catch {
          // the server closed
        }
      })();
      const send = (update) => {
        const pending = [];
        for (const channel of channels)
          if (!channel.trySend(update)) pending.push(channel.send(update).catch(() => undefined));
        return pending.length > 0 ? Promise.all(pending) : undefined;
      };
      return probing(address, send, async () => {
        for (const channel of channels) channel.destroy();
        await server.close();
        await accepting;
        rmSync(dir, { recursive: true, force: true });
      });
    },
  },
  {
    // A ShmChannel per subscriber (named, one process each end): the shared-memory transport's own wake-up, a
    // futex wait (see @ipcx/native's futex.waitAsync), beside the sockets'. Each subscriber takes the first end
    // nobody holds (`open` is atomic).
    id: 'ipcx-shm-channel',
    label: 'ipcx ShmChannel per subscriber',
    async open(subscribers) {
      const { ShmChannel } = await import('@ipcx/shm');
      const base = `/ipcx-bench-fan-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
      const names = Array.from({ length: subscribers }, (_, i) => `${base}-${i}`);
      // One after another, so a create that fails leaves only channels this loop can destroy.
      const channels = [];
      try {
        for (const name of names) channels.push(await ShmChannel.create(name));
      } catch (error) {
        for (const channel of channels) channel.destroy();
        throw error;
      }
      const send = (update) => {
        const pending = [];
        for (const channel of channels)
          if (!channel.trySend(update)) pending.push(channel.send(update).catch(() => undefined));
        return pending.length > 0 ? Promise.all(pending) : undefined;
      };
      return {
        ...probing(names, send, async () => {
          for (const channel of channels) channel.destroy();
        }),
        config: { names },
      };
    },
  },
  {
    id: 'process-send',
    label: 'process.send to forked children',
    async open() {
      let children = [];
      return {
        config: {},
        fork: true,
        adopt(list) {
          children = list;
        },
        publish(update) {
          for (const child of children) if (child.connected) child.send(update);
        },
        done() {
          for (const child of children) if (child.connected) child.send({ done: true });
        },
        close() {},
      };
    },
  },
  {
    id: 'zeromq',
    label: 'ZeroMQ PUB/SUB over ipc://',
    async open() {
      const zmq = await optional('zeromq');
      const dir = mkdtempSync(join(tmpdir(), 'ipcx-bench-zmq-'));
      const address = `ipc://${dir}/pub`;
      const sock = new zmq.Publisher();
      await sock.bind(address);
      // One send at a time: zeromq.js refuses a second while one is in progress.
      let sending = Promise.resolve();
      const send = (update) => (sending = sending.then(() => sock.send(encode(update))));
      return probing(address, send, async () => {
        await sending.catch(() => undefined);
        sock.close();
        rmSync(dir, { recursive: true, force: true });
      });
    },
  },
  {
    id: 'nats',
    label: 'NATS pub/sub (local nats-server)',
    async open() {
      const { connect } = await optional('nats');
      const server = await NatsServer.start();
      const nc = await connect({ servers: `127.0.0.1:${server.port}` });
      let count = 0;
      return {
        config: { port: server.port },
        publish(update) {
          nc.publish('state', encode(update));
          if (++count % 64 === 0) return nc.flush();
        },
        done: () => nc.publish('state', encode({ done: true })),
        async close() {
          await nc.close();
          await server.stop();
        },
      };
    },
  },
  {
    id: 'nats-kv',
    label: 'NATS KV put + watch (JetStream)',
    async open() {
      const { connect } = await optional('nats');
      const server = await NatsServer.start();
      const nc = await connect({ servers: `127.0.0.1:${server.port}` });
      const kv = await nc.jetstream().views.kv('bench', { history: 1 });
      return {
        config: { port: server.port },
        publish: (update) => kv.put('state', encode(update)),
        done: () => kv.put('state', encode({ done: true })),
        async close() {
          await nc.close();
          await server.stop();
        },
      };
    },
  },
  {
    id: 'node-ipc',
    label: 'node-ipc broadcast (Unix socket)',
    async open() {
      const { default: ipc } = await optional('node-ipc');
      const dir = mkdtempSync(join(tmpdir(), 'ipcx-bench-nodeipc-'));
      const address = `${dir}/pub.sock`;
      ipc.config.id = 'ipcxbench';
      ipc.config.silent = true;
      await new Promise((resolve) => {
        ipc.serve(address, resolve);
        ipc.server.start();
      });
      return {
        config: { address },
        probes: true,
        publish: (update) => ipc.server.broadcast('u', update),
        probe: () => ipc.server.broadcast('u', { probe: true }),
        done: () => ipc.server.broadcast('u', { done: true }),
        close() {
          ipc.server.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** A nats-server on a free loopback port with JetStream in a temporary directory. */
class NatsServer {
  static #binary;

  constructor(child, port, dir) {
    this.child = child;
    this.port = port;
    this.dir = dir;
  }

  static async start() {
    if (NatsServer.#binary === undefined) {
      try {
        execFileSync('nats-server', ['--version'], { stdio: 'ignore' });
        NatsServer.#binary = 'nats-server';
      } catch {
        NatsServer.#binary = null;
      }
    }
    if (!NatsServer.#binary) throw skip('nats-server is not installed (Debian: apt-get install -y nats-server)');
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-bench-nats-'));
    const child = spawn(NatsServer.#binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${text.slice(-300)}`)), 10_000);
      child.stderr.on('data', (chunk) => {
        text += chunk;
        if (text.includes('Server is ready')) {
          clearTimeout(timer);
          resolve(undefined);
        }
      });
      child.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${text.slice(-300)}`)));
    });
    child.stderr.resume();
    return new NatsServer(child, port, dir);
  }

  async stop() {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
