// Other libraries' rows (issue 15), each driven the way its own documentation shows, between this process
// and a forked child; raw bytes (node-ipc, whose messages are JSON, carries a string of the same length):
// - ZeroMQ (`zeromq` 6, optional dependency) over `ipc://`: PUSH/PULL one way (`await push.send`, the
//   socket's high-water mark is its flow control), REQ/REP round trips.
// - node-ipc 9.2.1 (optional dependency) over a Unix socket: `server.emit(socket, …)` one way with the window
//   of the Node built-ins (no flow control of its own), emit and echo for round trips.
// - the `nats` client (optional dependency) through a local nats-server (@ipcx/nats/testing starts it):
//   publish/subscribe one way with the same window, `request` / `respond` for round trips.
// `load(name)` fails with a short reason when the library or the server is absent: the row becomes a note.
import { once } from 'node:events';
import { socketPath } from './names.mjs';
import { replySlot, windowedReceiver, windowedSender } from './window.mjs';

export async function load(name) {
  if (name === 'zeromq') return zeromq(await optional('zeromq'));
  if (name === 'node-ipc') return nodeIpc((await optional('node-ipc')).default);
  if (name === 'nats') return nats(await optional('nats'));
  throw new Error(`unknown peer ${name}`);
}

async function optional(name) {
  try {
    return await import(name);
  } catch (error) {
    throw new Error(`${name} is not installed or does not load (${error.code ?? firstLine(error)})`);
  }
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

function zeromq(zmq) {
  async function bound(Socket, peer, measure) {
    const address = `ipc://${socketPath('zmq')}`;
    const socket = new Socket();
    try {
      await socket.bind(address);
      await peer.setup(measure, { address });
      return socket;
    } catch (error) {
      socket.close();
      throw error;
    }
  }
  const connected = (Socket, address) => {
    const socket = new Socket();
    socket.connect(address);
    return socket;
  };
  return {
    async sender({ payload, peer }) {
      const push = await bound(zmq.Push, peer, 'throughput');
      return {
        async sendN(n) {
          for (let i = 0; i < n; i++) await push.send(payload);
        },
        close: async () => push.close(),
      };
    },
    async client({ payload, peer }) {
      const request = await bound(zmq.Request, peer, 'rtt');
      return {
        async roundTrip() {
          await request.send(payload);
          await request.receive();
        },
        close: async () => request.close(),
      };
    },
    async receiver({ params }) {
      const pull = connected(zmq.Pull, params.address);
      return {
        async receiveN(n) {
          for (let i = 0; i < n; i++) await pull.receive();
        },
        close: async () => pull.close(),
      };
    },
    async echo({ params }) {
      const reply = connected(zmq.Reply, params.address);
      return {
        async run() {
          try {
            for await (const [message] of reply) await reply.send(message);
          } catch {
            // closed by stop()
          }
        },
        stop: async () => reply.close(),
      };
    },
  };
}

let nodeIpcCounter = 0;

function nodeIpc(module) {
  const make = () => {
    const ipc = new module.IPC();
    ipc.config.silent = true;
    ipc.config.id = `ipcxbench${process.pid}x${++nodeIpcCounter}`;
    ipc.config.maxRetries = 0;
    return ipc;
  };
  async function serve(peer, measure) {
    const path = socketPath('nodeipc');
    const ipc = make();
    await new Promise((resolve) => {
      ipc.serve(path, resolve);
      ipc.server.start();
    });
    const connected = new Promise((resolve) => ipc.server.on('connect', resolve));
    await peer.setup(measure, { path });
    const socket = await connected;
    return { ipc, socket, close: async () => ipc.server.stop() };
  }
  async function connect(path) {
    const ipc = make();
    const id = 'bench';
    await new Promise((resolve) => ipc.connectTo(id, path, resolve));
    const client = ipc.of[id];
    await once(client, 'connect');
    return { client, close: async () => ipc.disconnect(id) };
  }
  const text = (size) => 'x'.repeat(size);
  return {
    async sender({ size, peer }) {
      const { ipc, socket, close } = await serve(peer, 'throughput');
      const tx = windowedSender((m) => ipc.server.emit(socket, 'm', m), text(size));
      ipc.server.on('a', (count) => tx.ack(count));
      return { sendN: tx.sendN, close };
    },
    async client({ size, peer }) {
      const { ipc, socket, close } = await serve(peer, 'rtt');
      const reply = replySlot();
      ipc.server.on('m', reply.arrived);
      const message = text(size);
      return {
        roundTrip() {
          const replied = reply.wait();
          ipc.server.emit(socket, 'm', message);
          return replied;
        },
        close,
      };
    },
    async receiver({ params }) {
      const { client, close } = await connect(params.path);
      const rx = windowedReceiver((count) => client.emit('a', count));
      client.on('m', rx.arrived);
      return { receiveN: rx.receiveN, close };
    },
    async echo({ params }) {
      const { client, close } = await connect(params.path);
      client.on('m', (m) => client.emit('m', m));
      let stopped;
      const run = new Promise((resolve) => (stopped = resolve));
      return {
        run: () => run,
        stop: async () => {
          await close();
          stopped();
        },
      };
    },
  };
}

let natsCounter = 0;

async function nats({ connect }) {
  const { natsServerAvailable, startNatsServer } = await import('@ipcx/nats/testing');
  if (!natsServerAvailable()) throw new Error('nats-server is not installed (Debian: apt-get install -y nats-server)');
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  async function open(peer, measure) {
    const { url } = await natsServer(startNatsServer);
    const nc = await connect({ servers: url });
    const subject = `ipcx-bench-peer.${process.pid}.${++natsCounter}`;
    try {
      await peer.setup(measure, { url, subject });
      return { nc, subject };
    } catch (error) {
      await nc.close();
      throw error;
    }
  }
  async function join({ url, subject }) {
    return { nc: await connect({ servers: url }), subject };
  }
  return {
    async sender({ payload, peer }) {
      const { nc, subject } = await open(peer, 'throughput');
      const tx = windowedSender((m) => nc.publish(subject, m), payload);
      nc.subscribe(`${subject}.ack`, { callback: (_, m) => tx.ack(Number(decoder.decode(m.data))) });
      await nc.flush();
      return { sendN: tx.sendN, close: () => nc.close() };
    },
    async client({ payload, peer }) {
      const { nc, subject } = await open(peer, 'rtt');
      return {
        roundTrip: () => nc.request(subject, payload, { timeout: 10_000 }),
        close: () => nc.close(),
      };
    },
    async receiver({ params }) {
      const { nc, subject } = await join(params);
      const rx = windowedReceiver((count) => nc.publish(`${subject}.ack`, encoder.encode(String(count))));
      nc.subscribe(subject, { callback: () => rx.arrived() });
      await nc.flush(); // subscribed at the server before the bench is told it is ready
      return { receiveN: rx.receiveN, close: () => nc.close() };
    },
    async echo({ params }) {
      const { nc, subject } = await join(params);
      nc.subscribe(subject, { callback: (_, m) => m.respond(m.data) });
      await nc.flush();
      const closed = nc.closed();
      return { run: () => closed, stop: () => nc.close() };
    },
  };
}

/** One nats-server per bench process, started on first use (the NatsChannel rows start their own). */
let server;
function natsServer(start) {
  server ??= start();
  return server;
}
