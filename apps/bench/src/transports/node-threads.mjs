// Node's built-ins between threads: MessagePort (a MessageChannel port transferred to the Worker) and
// BroadcastChannel (one instance per thread on the same name). Payloads are structured-cloned, as a
// user's postMessage does; raw bytes are posted as a Uint8Array (copied, not transferred, since the
// sender keeps using its buffer).
import { MessageChannel, BroadcastChannel } from 'node:worker_threads';
import { replySlot, windowedReceiver, windowedSender } from './window.mjs';

let counter = 0;

export const messagePort = {
  async sender({ payload, peer }) {
    const { port1, port2 } = new MessageChannel();
    const tx = windowedSender((m) => port1.postMessage(m), payload);
    port1.on('message', (count) => tx.ack(count));
    await peer.setup('throughput', { port: port2 }, [port2]);
    return { sendN: tx.sendN, close: async () => port1.close() };
  },

  async client({ payload, peer }) {
    const { port1, port2 } = new MessageChannel();
    const reply = replySlot();
    port1.on('message', reply.arrived);
    await peer.setup('rtt', { port: port2 }, [port2]);
    return {
      roundTrip() {
        const replied = reply.wait();
        port1.postMessage(payload);
        return replied;
      },
      close: async () => port1.close(),
    };
  },

  async receiver({ params: { port } }) {
    const rx = windowedReceiver((count) => port.postMessage(count));
    port.on('message', rx.arrived);
    return { receiveN: rx.receiveN, close: async () => port.close() };
  },

  async echo({ params: { port } }) {
    const closed = new Promise((resolve) => port.once('close', resolve));
    port.on('message', (m) => port.postMessage(m));
    return { run: () => closed, stop: async () => port.close() };
  },
};

export const broadcastChannel = {
  async sender({ payload, peer }) {
    const name = `ipcx-bench-${process.pid}-${++counter}`;
    const channel = new BroadcastChannel(name);
    const tx = windowedSender((m) => channel.postMessage(m), payload);
    channel.onmessage = (event) => tx.ack(event.data);
    await peer.setup('throughput', { name });
    return { sendN: tx.sendN, close: async () => channel.close() };
  },

  async client({ payload, peer }) {
    const name = `ipcx-bench-${process.pid}-${++counter}`;
    const channel = new BroadcastChannel(name);
    const reply = replySlot();
    channel.onmessage = reply.arrived;
    await peer.setup('rtt', { name });
    return {
      roundTrip() {
        const replied = reply.wait();
        channel.postMessage(payload);
        return replied;
      },
      close: async () => channel.close(),
    };
  },

  async receiver({ params: { name } }) {
    const channel = new BroadcastChannel(name);
    const rx = windowedReceiver((count) => channel.postMessage(count));
    channel.onmessage = rx.arrived;
    return { receiveN: rx.receiveN, close: async () => channel.close() };
  },

  async echo({ params: { name } }) {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event) => channel.postMessage(event.data);
    let stopped;
    const run = new Promise((resolve) => (stopped = resolve));
    return {
      run: () => run,
      stop: async () => {
        channel.close();
        stopped();
      },
    };
  },
};
