// The language's floor under ShmChannel's round trip: the least a JavaScript ping-pong through shared memory
// can do. One sequence word and one payload box per direction, as the C mailbox of c/shm_ring.h; a copy in and
// a copy out; the same loops as the ShmChannel rows (channel.mjs's client, with its `await` after the send and
// after the receive; a worker echo that blocks; a process echo that awaits). None of a channel's own work:
// no frames, codec, peer or close checks, wake-ups or bounded spin. Its distance to the C spin ping-pong in the
// same pairs is what JavaScript costs; ShmChannel's distance to it is the channel's.
import { SysvSegment } from '@ipcx/shm';
import { channelClient, channelEcho, isEnded } from './channel.mjs';
import { issueSysv } from './names.mjs';

const LINE = 64;
/** Words: the client's sequence (its own line), then the echo's. */
const THERE = 0;
const BACK = LINE / 4;
/** THERE's value once the client closed. */
const STOP = -1;
/** Spins before a waiting side also sleeps a millisecond at a time (a peer descheduled, or between runs). */
const SPINS = 1 << 16;
/** The process that forked this one: a process echo whose bench died ends instead of waiting for ever. */
const PARENT = process.ppid;
/**
 * How long a side waits for the other before it gives up. The wait is synchronous: the bench's own timeout
 * (a timer) could never fire while a client spins for an echo that died.
 */
const IDLE_LIMIT_MS = 10_000;
const SENT = Promise.resolve();

const boxBytes = (size) => Math.ceil(size / LINE) * LINE;
/** Bytes of a mailbox pair for `size`-byte messages. */
export const segmentBytes = (size) => 2 * LINE + 2 * boxBytes(size);

function closed() {
  return Object.assign(new Error('closed'), { code: 'IPCX_ERR_CLOSED' });
}

/**
 * Waits until `words[index]` differs from `seen`; returns the new value. Throws once `idleMs` passed.
 * @param {Int32Array} words
 * @param {number} index
 * @param {number} seen
 * @param {number} idleMs
 */
function waitChange(words, index, seen, idleMs) {
  /** @type {number} */
  let value;
  let spins = 0;
  let since = 0;
  while ((value = Atomics.load(words, index)) === seen) {
    if (++spins === SPINS) {
      since ||= performance.now();
      Atomics.wait(words, index, seen, 1);
      if (process.ppid !== PARENT) throw closed();
      if (performance.now() - since > idleMs) throw new Error(`the other end did not answer within ${idleMs} ms`);
      spins = 0;
    }
  }
  return value;
}

/**
 * One end of the mailbox pair as the `Channel` subset the bench's loops use. The client end sends through
 * THERE and reads BACK; the echo end the other way round. Exported for its tests.
 */
export function mailbox(buffer, size, side, release, idleMs = IDLE_LIMIT_MS) {
  const words = new Int32Array(buffer, 0, (2 * LINE) / 4);
  const there = new Uint8Array(buffer, 2 * LINE, size);
  const back = new Uint8Array(buffer, 2 * LINE + boxBytes(size), size);
  const [outWord, outBox, inWord, inBox] = side === 'client' ? [THERE, there, BACK, back] : [BACK, back, THERE, there];
  let sent = 0;
  let seen = 0;
  const take = () => {
    const value = waitChange(words, inWord, seen, idleMs);
    if (value === STOP) throw closed();
    seen = value;
  };
  return {
    send(payload) {
      outBox.set(payload);
      Atomics.store(words, outWord, side === 'client' ? ++sent : seen);
      return SENT;
    },
    receive() {
      try {
        take();
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(inBox.slice());
    },
    /** The echo of a worker, which may block: the payload as a view, answered with `sendSync`. */
    receiveViewSync() {
      take();
      return inBox;
    },
    sendSync(payload) {
      this.send(payload);
    },
    async close() {
      if (side === 'client' && Atomics.load(words, THERE) !== STOP) {
        Atomics.store(words, THERE, STOP);
        Atomics.notify(words, THERE);
      }
      await release();
    },
  };
}

export const jsShmThread = {
  async client({ size, payload, peer }) {
    const buffer = new SharedArrayBuffer(segmentBytes(size));
    await peer.setup('rtt', { buffer });
    return channelClient(
      mailbox(buffer, size, 'client', async () => {}),
      payload,
    );
  },

  async echo({ size, params }) {
    const end = mailbox(params.buffer, size, 'echo', async () => {});
    return {
      // Blocks the worker until the bench closes its end, as the ShmChannel worker echo does.
      async run() {
        try {
          for (;;) end.sendSync(end.receiveViewSync());
        } catch (error) {
          if (!isEnded(error)) throw error;
        }
      },
      stop: () => end.close(),
    };
  },
};

export const jsShmProcess = {
  async client({ size, payload, peer }) {
    const segment = await SysvSegment.create({ size: segmentBytes(size) });
    issueSysv('shm', segment.id);
    try {
      await peer.setup('rtt', { id: segment.id });
    } catch (error) {
      await segment.close();
      throw error;
    }
    return channelClient(
      mailbox(segment.buffer, size, 'client', () => segment.close()),
      payload,
    );
  },

  // In the child's main thread, with awaits, as the ShmChannel process echo (channelEcho).
  async echo({ size, params }) {
    const segment = await SysvSegment.open({ id: params.id });
    return channelEcho(mailbox(segment.buffer, size, 'echo', () => segment.close()));
  },
};
