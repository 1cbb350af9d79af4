// The control channel between the bench and the other end of a row (a worker thread or a child process):
// set-up parameters, "receive n messages", "done at time t", "end". It never carries measured traffic,
// except for the process.send rows, whose data shares Node's IPC channel (control messages are objects with
// a string `ctl`, which no payload has).
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, parentPort } from 'node:worker_threads';

const PEER = new URL('./peer.mjs', import.meta.url);

/** True for a control message (as opposed to a payload or an acknowledgement of the windowed rows). */
export function isControl(message) {
  return message !== null && typeof message === 'object' && typeof message.ctl === 'string';
}

/** A FIFO of control messages with `next(type)`; a failure of the other end rejects what waits. */
class Mailbox {
  #queue = [];
  #waiting = [];
  #failure;

  push(message) {
    if (message.ctl === 'error') {
      const error = new Error(`peer failed: ${message.message}`);
      error.stack = message.stack;
      this.fail(error);
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(message);
    else this.#queue.push(message);
  }

  fail(error) {
    this.#failure ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
  }

  /** The next control message, which must be of `type` when given. */
  async next(type) {
    let message;
    if (this.#queue.length > 0) message = this.#queue.shift();
    else if (this.#failure) throw this.#failure;
    else message = await new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
    if (type !== undefined && message.ctl !== type)
      throw new Error(`expected control message '${type}', got '${message.ctl}'`);
    return message;
  }
}

/** The bench's handle on the other end of a row. */
export class Peer {
  /**
   * A worker thread (place 'thread') or a child process (place 'process') running peer.mjs for `row`, or
   * the same loop in this thread (place 'local').
   */
  static start(row, { serialization = 'json' } = {}) {
    const peer = new Peer();
    const workerData = { transport: row.transport, kind: row.kind };
    if (row.place === 'thread') {
      const worker = new Worker(PEER, { workerData });
      peer.#post = (message, transfer) => worker.postMessage(message, transfer);
      worker.on('message', (m) => isControl(m) && peer.#mailbox.push(m));
      worker.on('error', (e) => peer.#mailbox.fail(e));
      worker.on('exit', (code) => peer.#exited(code));
      peer.#stop = () => worker.terminate();
      peer.worker = worker;
    } else if (row.place === 'local') {
      // The other end in this thread (in-process transports such as MemoryChannel): two mailboxes, each
      // message delivered in a microtask, parameters passed by reference.
      const theirs = new Mailbox();
      peer.#post = (message) => queueMicrotask(() => isControl(message) && theirs.push(message));
      const ctl = {
        send: (message) => queueMicrotask(() => peer.#mailbox.push(message)),
        next: (type) => theirs.next(type),
      };
      import('./peer-loop.mjs')
        .then(({ servePeer }) => servePeer(ctl, row.transport, row.kind))
        .then(
          () => peer.#exited(0),
          (error) => peer.#exited(error),
        );
      peer.#stop = () => {
        theirs.fail(new Error('stopped'));
        peer.#exited('killed');
      };
    } else {
      const child = fork(fileURLToPath(PEER), [JSON.stringify(workerData)], {
        serialization: /** @type {import('node:child_process').SerializationType} */ (serialization),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      peer.#post = (message) => child.send(message);
      child.on('message', (m) => isControl(m) && peer.#mailbox.push(m));
      child.on('error', (e) => peer.#mailbox.fail(e));
      child.on('exit', (code, signal) => peer.#exited(code ?? signal));
      peer.#stop = () => child.kill('SIGKILL');
      peer.child = child;
    }
    return peer;
  }

  #mailbox = new Mailbox();
  /** @type {any} */
  #post;
  /** @type {any} */
  #stop;
  #exit = deferred();
  #gone = false;
  /** The Worker of a thread row. */
  worker;
  /** The ChildProcess of a process row. */
  child;

  #exited(code) {
    this.#gone = true;
    this.#mailbox.fail(new Error(`peer exited (${code}) unexpectedly`));
    this.#exit.resolve();
  }

  send(message, transfer) {
    this.#post(message, transfer);
  }

  next(type) {
    return this.#mailbox.next(type);
  }

  /**
   * What a transport sees of the peer for one measurement at one message size: `setup(measure, params,
   * transfer)` sends the parameters and waits until the other end is ready (resolving to its 'ready'
   * message); `child` / `worker` for the rows that use Node's own channel to it.
   */
  forSize(size) {
    return {
      setup: (measure, params = {}, transfer) => {
        this.send({ ctl: 'setup', measure, size, params }, transfer);
        return this.next('ready');
      },
      send: (message) => this.send(message),
      next: (type) => this.next(type),
      child: this.child,
      worker: this.worker,
    };
  }

  /** Asks the other end to exit, and makes sure it does. */
  async close() {
    if (this.#gone) return;
    try {
      this.send({ ctl: 'exit' });
    } catch {}
    const timer = setTimeout(() => this.#stop(), 2000);
    await this.#exit.promise;
    clearTimeout(timer);
  }

  /** Ends the other end at once (after a failure). */
  async kill() {
    if (this.#gone) return;
    this.#stop();
    await this.#exit.promise;
  }
}

function deferred() {
  /** @type {(value?: unknown) => void} */
  let resolve = () => {};
  let reject;
  const promise = new Promise((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

/** The control channel as seen from peer.mjs: `send`, `next(type)`. */
export function peerControl() {
  const mailbox = new Mailbox();
  if (parentPort) {
    parentPort.on('message', (m) => isControl(m) && mailbox.push(m));
    return {
      send: (message) => parentPort?.postMessage(message),
      next: (type) => mailbox.next(type),
      close: () => parentPort?.close(),
    };
  }
  process.on('message', (m) => isControl(m) && mailbox.push(m));
  return {
    send: (message) => process.send?.(message),
    next: (type) => mailbox.next(type),
    close: () => process.disconnect(),
  };
}
