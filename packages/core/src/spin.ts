/**
 * The spins of every transport, in one place: how long a wait may busy-poll before it sleeps, and when it
 * should not poll at all. docs/API.md ("Waiting: a short spin, then sleep") tells users what they do.
 */

/**
 * Microseconds a receive (or a send waiting for room) spins before it sleeps, by default, in every transport.
 * Waking a sleeping process costs tens of microseconds on each side of a round trip; a peer that answers
 * within the spin is read at once. It outlasts one wake-up on purpose: with a shorter spin, two processes in a
 * round trip can each give up while the other is being woken, and stay in the slow path.
 */
export const DEFAULT_SPIN_MICROSECONDS = 50;

/**
 * Polls `ready()` for at most `microseconds` until it returns true (0: one look). For cheap checks (an
 * `Atomics.load`): the clock is read every 32 tries.
 */
export function spinUntil(ready: () => boolean, microseconds: number): boolean {
  if (microseconds <= 0) return ready();
  const end = performance.now() + microseconds / 1000;
  do {
    for (let i = 0; i < 32; i++) if (ready()) return true;
  } while (performance.now() < end);
  return false;
}

/**
 * The spin of shared memory and message queues: only while the channel is busy. The transport sets `busy`
 * when a message arrives; a spin that finds nothing clears it, so an idle channel spins once and then
 * sleeps at once until a message comes.
 */
export class BusySpin {
  /** A message came since the last spin that found nothing. */
  busy = false;

  /** `microseconds`: the bound of one spin (`spinMicroseconds`); 0 never spins. */
  constructor(readonly microseconds: number) {}

  /**
   * Retries `attempt` (a syscall: the clock is read after each try) until it returns something other than
   * undefined, or the bound passes. Undefined at once when not busy.
   */
  run<T>(attempt: () => T | undefined): T | undefined {
    if (this.microseconds === 0 || !this.busy) return undefined;
    const end = performance.now() + this.microseconds / 1000;
    do {
      const got = attempt();
      if (got !== undefined) return got;
    } while (performance.now() < end);
    this.busy = false;
    return undefined;
  }

  /** As `run` for a cheap check (see `spinUntil`): true once `ready()` is. */
  until(ready: () => boolean): boolean {
    if (this.microseconds === 0 || !this.busy) return false;
    if (spinUntil(ready, this.microseconds)) return true;
    this.busy = false;
    return false;
  }
}

/** The most receives in a row that skip the spin after spins kept failing (an idle or slow channel). */
const MAX_SKIP = 63;

/**
 * Counters over every `SpinPolicy` of this process, for tests and measurements (a test counts spins rather
 * than timing them): spins started, spins that found something, spins that found nothing, receives that
 * skipped.
 */
export const spinCounters = { spins: 0, hits: 0, misses: 0, skipped: 0 };

/**
 * The spin of sockets: adaptive, for descriptors whose every try is a syscall and whose peers are often
 * paced (a request now and then).
 *
 * - A spin lasts at most `max` µs (`spinMicroseconds`); 0 never spins.
 * - A spin that finds a message keeps spinning on (a peer in a conversation answers within the bound).
 * - A spin that finds nothing backs off: the next 1, then 3, 7, … up to 63 receives go straight to sleep, so
 *   an idle channel, or one paced slower than the bound, costs at most one spin per 64 messages.
 * - A wait that ended within `max` µs (the message came just after the spin gave up) ends the back-off: the
 *   next receive spins again.
 */
export class SpinPolicy {
  #skip = 0;
  #backoff = 0;
  /** performance.now() when a receive started to sleep after a spin, else 0. */
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

  /** The spin found nothing: the receive now sleeps. */
  miss(): void {
    spinCounters.misses++;
    this.#backoff = Math.min(this.#backoff * 2 + 1, MAX_SKIP);
    this.#skip = this.#backoff;
    this.#waitSince = performance.now();
  }

  /** What a receive slept for came (cheap when nothing was timed). */
  woke(): void {
    if (this.#waitSince === 0) return;
    if ((performance.now() - this.#waitSince) * 1000 < this.max) this.#skip = this.#backoff = 0;
    this.#waitSince = 0;
  }

  /**
   * Calls `read` with this policy's budget (0: one try) and counts the outcome; what `read` returned, or
   * undefined when nothing came. For reads that spin in one native call (see the packet sockets).
   */
  read<R>(read: (spinMicroseconds: number) => R | undefined): R | undefined {
    const budget = this.budget();
    const got = read(budget);
    if (budget > 0) {
      if (got === undefined) this.miss();
      else this.hit();
    }
    return got;
  }
}
