// Node's built-ins between processes: process.send on the IPC channel of a forked child (json and advanced
// serialization), and a hand-written node:net loop with ipcx's framing (4-byte big-endian length + payload)
// over a Unix socket and over TCP loopback.
import { once } from 'node:events';
import net from 'node:net';
import { isControl } from '../control.mjs';
import { socketPath } from './names.mjs';
import { replySlot, windowedReceiver, windowedSender } from './window.mjs';

/**
 * JSON cannot carry bytes: the raw json row sends an ASCII string of the same length (the cheapest thing
 * JSON can carry, which favours the baseline). Advanced serialization sends the Uint8Array itself.
 */
export function processSendPayload(serialization, kind, payload) {
  if (kind === 'raw' && serialization === 'json') return 'x'.repeat(payload.length);
  return payload;
}

export function processSend(serialization) {
  return {
    async sender({ kind, payload, peer }) {
      const child = peer.child;
      const tx = windowedSender((m) => child.send(m), processSendPayload(serialization, kind, payload));
      const onMessage = (m) => typeof m === 'number' && tx.ack(m);
      child.on('message', onMessage);
      await peer.setup('throughput');
      return { sendN: tx.sendN, close: async () => child.off('message', onMessage) };
    },

    async client({ kind, payload, peer }) {
      const child = peer.child;
      const message = processSendPayload(serialization, kind, payload);
      const reply = replySlot();
      const onMessage = (m) => !isControl(m) && reply.arrived();
      child.on('message', onMessage);
      await peer.setup('rtt');
      return {
        roundTrip() {
          const replied = reply.wait();
          child.send(message);
          return replied;
        },
        close: async () => child.off('message', onMessage),
      };
    },

    async receiver() {
      const rx = windowedReceiver((count) => process.send?.(count));
      const onMessage = (m) => !isControl(m) && rx.arrived();
      process.on('message', onMessage);
      return { receiveN: rx.receiveN, close: async () => process.off('message', onMessage) };
    },

    async echo() {
      const onMessage = (m) => !isControl(m) && process.send?.(m);
      process.on('message', onMessage);
      let stopped;
      const run = new Promise((resolve) => (stopped = resolve));
      return {
        run: () => run,
        stop: async () => {
          process.off('message', onMessage);
          stopped();
        },
      };
    },
  };
}

/** Bytes of one frame's payload: the raw bytes, or the object as JSON text (what a hand-written loop uses). */
function encode(kind, payload) {
  return kind === 'raw' ? payload : Buffer.from(JSON.stringify(payload));
}

/** Writes one frame; small payloads are copied behind their header, large ones written as a second buffer. */
function writeFrame(socket, body) {
  if (body.length <= 1024) {
    const frame = Buffer.allocUnsafe(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    frame.set(body, 4);
    return socket.write(frame);
  }
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  socket.write(header);
  return socket.write(body);
}

/** A 'data' listener that cuts the stream into frames and hands each payload (a view) to `onFrame`. */
function frameReader(onFrame) {
  let pending;
  return (chunk) => {
    const buffer = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset);
      if (buffer.length - offset - 4 < length) break;
      onFrame(buffer.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    pending = offset < buffer.length ? buffer.subarray(offset) : undefined;
  };
}

/** Same bound on queued bytes as ipcx's stream channels (their default sendBufferBytes, 256 KiB). */
const HIGH_WATER_MARK = 256 * 1024;

/**
 * The hand-written loop: writes batched under cork/uncork (one writev per batch), a batch ending when the
 * socket's buffer reaches the high-water mark, then waiting for 'drain'. The receiver parses frames and,
 * for objects, JSON.parse-s them.
 */
export function netLoop(family) {
  async function open({ peer }, measure) {
    const server = net.createServer({ highWaterMark: HIGH_WATER_MARK, noDelay: true });
    /** @type {{ path?: string, port?: number }} */
    const params = family === 'unix' ? { path: socketPath('net') } : { port: 0 };
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      if (params.path) server.listen(params.path, () => resolve(undefined));
      else server.listen(0, '127.0.0.1', () => resolve(undefined));
    });
    if (!params.path) params.port = /** @type {net.AddressInfo} */ (server.address()).port;
    try {
      const [[socket]] = await Promise.all([once(server, 'connection'), peer.setup(measure, params)]);
      socket.setNoDelay?.(true);
      return {
        socket,
        close: async () => {
          socket.destroy();
          await new Promise((resolve) => server.close(resolve));
        },
      };
    } catch (error) {
      server.close();
      throw error;
    }
  }

  async function connect(params) {
    const socket = net.connect(
      params.path ? { path: params.path } : { port: params.port, host: '127.0.0.1', noDelay: true },
    );
    await once(socket, 'connect');
    return socket;
  }

  return {
    async sender(ctx) {
      const { socket, close } = await open(ctx, 'throughput');
      const body = encode(ctx.kind, ctx.payload);
      return {
        async sendN(n) {
          let i = 0;
          while (i < n) {
            let ok = true;
            socket.cork();
            while (i < n && ok) {
              ok = writeFrame(socket, ctx.kind === 'raw' ? body : encode(ctx.kind, ctx.payload));
              i++;
            }
            socket.uncork();
            if (!ok) await once(socket, 'drain');
          }
        },
        close,
      };
    },

    async client(ctx) {
      const { socket, close } = await open(ctx, 'rtt');
      const reply = replySlot();
      socket.on(
        'data',
        frameReader((frame) => {
          if (ctx.kind !== 'raw') JSON.parse(frame.toString());
          reply.arrived();
        }),
      );
      return {
        roundTrip() {
          const replied = reply.wait();
          writeFrame(socket, encode(ctx.kind, ctx.payload));
          return replied;
        },
        close,
      };
    },

    async receiver({ kind, params }) {
      const socket = await connect(params);
      const rx = windowedReceiver(() => {});
      socket.on(
        'data',
        frameReader((frame) => {
          if (kind !== 'raw') JSON.parse(frame.toString());
          rx.arrived();
        }),
      );
      socket.on('error', () => {});
      return { receiveN: rx.receiveN, close: async () => socket.destroy() };
    },

    async echo({ kind, params }) {
      const socket = await connect(params);
      socket.on(
        'data',
        frameReader((frame) => {
          writeFrame(socket, kind === 'raw' ? frame : Buffer.from(JSON.stringify(JSON.parse(frame.toString()))));
        }),
      );
      socket.on('error', () => {});
      const closed = once(socket, 'close');
      return { run: () => closed, stop: async () => socket.destroy() };
    },
  };
}
