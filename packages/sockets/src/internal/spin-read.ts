import type { Socket } from 'node:net';
import { spinOption } from '@ipcx/core/transport';
import { socket as sock } from '@ipcx/native';
import { socketFd } from './socket-fd.js';

/**
 * Microseconds a receive spins on the socket before it hands the wait to libuv, by default: the value
 * MqChannel and ShmChannel use. Waking a sleeping process costs tens of microseconds on each side of a round
 * trip; a peer that answers within the spin is read at once.
 */
export const DEFAULT_SPIN_MICROSECONDS = 50;

/** The most receives in a row that skip the spin after spins kept failing (an idle or slow channel). */
const MAX_SKIP = 63;

/** Checks a `spinMicroseconds` option: 0 to 1 000 000, default {@link DEFAULT_SPIN_MICROSECONDS}. */
export function spinMicroseconds(value: number | undefined): number {
  return spinOption(value, DEFAULT_SPIN_MICROSECONDS);
}

/**
 * Counters over every channel of this process, for tests and measurements (a test counts spins rather than
 * timing them): spins started, spins that found something, spins that found nothing, receives that skipped.
 */
export const spinCounters = { spins: 0, hits: 0, misses: 0, skipped: 0 };

/**
 * When a receive spins, and for how long: the adaptive part of the socket transports' waiting strategy.
 *
 * - A spin lasts at most `max` µs (`spinMicroseconds`); 0 never spins.
 * - A spin that finds a message keeps spinning on (a peer in a conversation answers within the bound).
 * - A spin that finds nothing backs off: the next 1, then 3, 7, … up to 63 receives go straight to libuv, so
 *   an idle channel, or one paced slower than the bound, costs at most one spin per 64 messages.
 * - A wait through libuv that ended within `max` µs (the message came just after the spin gave up) ends the
 *   back-off: the next receive spins again.
 */
export class SpinPolicy {
  #skip = 0;
  #backoff = 0;
  /** performance.now() when a receive started waiting through libuv after a spin, else 0. */
  #waitSince = 0;

  constructor(readonly max: number) {}

  /** Microseconds the receive about to wait should spin first; 0 when it should not. */
  budget(): number {
    if (this.max === 0) return 0;
    if (this.#skip > 0) {
      this.#skip--;
      spinCounters.skipped++;
      this.#waitSince = performance.now();
      return 0;
    }
    spinCounters.spins++;
    return this.max;
  }

  /** The spin found a message. */
  hit(): void {
    spinCounters.hits++;
    this.#backoff = 0;
  }

  /** The spin found nothing: the receive now waits through libuv. */
  miss(): void {
    spinCounters.misses++;
    this.#backoff = Math.min(this.#backoff * 2 + 1, MAX_SKIP);
    this.#skip = this.#backoff;
    this.#waitSince = performance.now();
  }

  /** What a receive waited for came through libuv (cheap when nothing was timed). */
  woke(): void {
    if (this.#waitSince === 0) return;
    if ((performance.now() - this.#waitSince) * 1000 < this.max) this.#skip = this.#backoff = 0;
    this.#waitSince = 0;
  }
}

/** Bytes read per attempt while a stream receive spins (a burst larger than this is read by libuv). */
const SCRATCH_BYTES = 64 * 1024;


/**
 * The spin of a stream channel's receive: reads its node:net socket natively (recv with MSG_DONTWAIT on the
 * descriptor libuv polls) and hands the bytes to the channel's own data handler, the same one libuv's reads
 * go to, so they go through the same frame decoder in order.
 *
 * Why bytes never reorder: libuv reads the descriptor only in its poll phase, on this thread, and a flowing
 * socket with nothing buffered (`readableLength` 0) has handed every byte libuv read to the data handler
 * already. The spin reads only in that state, synchronously inside `receive()`; whatever libuv reads later
 * comes after. A paused socket (the channel's read-ahead is full) or one still holding bytes is not read.
 */
export class StreamSpin {
  readonly policy: SpinPolicy;
  #scratch: Buffer | undefined;
  /** False once the descriptor turned out not to be a socket (a FIFO, a pipe) or the stream ended. */
  #usable = true;

  constructor(
    private readonly socket: Socket,
    max: number,
    private readonly onData: (chunk: Buffer) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.policy = new SpinPolicy(max);
  }

  /**
   * Spins until `arrived()` or the budget is spent; true if it did. Bytes read are handed to `onData` as they
   * come (a frame split over several reads is completed by later ones). The end of the stream stops it
   * (libuv reads the end too, and reports it); an error is handed to `onError`, as a read by libuv would be.
   */
  run(arrived: () => boolean): boolean {
    const socket = this.socket;
    if (!this.#usable || socket.readableFlowing !== true || socket.readableLength !== 0 || socket.destroyed)
      return false;
    const fd = socketFd(socket);
    if (fd < 0) return false;
    const budget = this.policy.budget();
    if (budget === 0) return false;
    const scratch = (this.#scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES));
    const end = performance.now() + budget / 1000;
    for (;;) {
      const left = (end - performance.now()) * 1000;
      let n: number;
      try {
        n = sock.spinReceive(fd, scratch, Math.max(left, 0));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOTSOCK') this.#usable = false;
        else this.onError(error as Error);
        return false;
      }
      if (n === 0) {
        this.#usable = false; // the peer closed: libuv reads the end (EOF stays readable) and reports it
        return false;
      }
      if (n > 0) {
        // The decoder may keep views of what it is given (a whole frame is handed on without a copy).
        this.onData(Buffer.from(scratch.subarray(0, n)));
        if (arrived()) {
          this.policy.hit();
          return true;
        }
        if (socket.readableFlowing !== true || socket.destroyed) return false;
      }
      if (n < 0 || performance.now() >= end) {
        this.policy.miss();
        return false;
      }
    }
  }
}

/**
 * The spin of a packet socket's receive (seqpacket, datagram): the channel's own read, called with the
 * microseconds it may spin for (recvmsg with MSG_DONTWAIT retried natively, with sched_yield between
 * attempts, until a packet comes; see `socket.tryReceive`), so that the packet found is read by the same
 * call: one syscall per message when a peer answers within the spin. While the policy skips, it reads once.
 */
export class PacketSpin {
  readonly policy: SpinPolicy;

  constructor(max: number) {
    this.policy = new SpinPolicy(max);
  }

  /** Calls `read` with the spin's budget (0: read once); what it read, or undefined when nothing came. */
  read<R>(read: (spinMicroseconds: number) => R | undefined): R | undefined {
    const budget = this.policy.budget();
    const got = read(budget);
    if (budget > 0) {
      if (got === undefined) this.policy.miss();
      else this.policy.hit();
    }
    return got;
  }
}
