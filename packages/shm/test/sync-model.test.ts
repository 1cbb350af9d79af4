import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AbortedError, TimeoutError } from '@ipcx/core';
import { Mutex } from '../src/mutex.js';
import { Semaphore } from '../src/semaphore.js';
import { CondVar } from '../src/condvar.js';
import { Barrier } from '../src/barrier.js';
import { RwLock } from '../src/rwlock.js';
import { Latch } from '../src/latch.js';
import type { Guard } from '../src/sync.js';

/**
 * Random programs for several async actors on one event loop, run against the real primitive and
 * checked against a model of what it promises. fast-check picks the programs and how many event-loop
 * turns each actor lets pass between steps (and inside critical sections), which decides how the
 * actors' waits, wake-ups, timeouts and aborts interleave. Every run must finish (no lost wake-up, no
 * deadlock) and leave the words as fresh: no permit lost, no sleeper registered, no waiter asleep.
 */

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`deadlock: not done within ${ms} ms`)), ms).unref(),
    ),
  ]);
}

function leakedWaiters(buffer: SharedArrayBuffer): number {
  const i32 = new Int32Array(buffer);
  let woken = 0;
  for (let i = 0; i < i32.length; i++) woken += Atomics.notify(i32, i);
  return woken;
}

type How = 'wait' | 'try' | 'timeout' | 'abort';
interface Op {
  how: How;
  /** Turns spent holding the lock. */
  hold: number;
  /** Timeout in ms, or turns before the abort. */
  after: number;
  write: boolean;
}

const op = fc.record({
  how: fc.constantFrom<How>('wait', 'wait', 'try', 'timeout', 'abort'),
  hold: fc.nat(3),
  after: fc.nat(4),
  write: fc.boolean(),
});
const programs = fc.array(fc.array(op, { minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 4 });
const RUNS = 40;

/**
 * Runs one op: acquires with `how`, returns the guard or undefined when the op (legitimately) got
 * nothing: a try that found it taken, a timeout, an abort. Anything else fails the property.
 */
async function take(
  o: Op,
  acquire: (options?: { timeout?: number; signal?: AbortSignal }) => Promise<Guard>,
  attempt: () => Guard | undefined,
): Promise<Guard | undefined> {
  try {
    switch (o.how) {
      case 'wait':
        return await acquire();
      case 'try':
        return attempt();
      case 'timeout':
        return await acquire({ timeout: o.after });
      case 'abort': {
        const controller = new AbortController();
        void turns(o.after).then(() => controller.abort());
        return await acquire({ signal: controller.signal });
      }
    }
  } catch (error) {
    if ((o.how === 'timeout' && error instanceof TimeoutError) || (o.how === 'abort' && error instanceof AbortedError))
      return undefined;
    throw error;
  }
}

describe('sync primitives against a model, under random interleavings of async actors', () => {
  it('Mutex: at most one holder, every waiter served, nothing left behind', async () => {
    await fc.assert(
      fc.asyncProperty(programs, fc.nat(3), async (actors, gap) => {
        const buffer = new SharedArrayBuffer(Mutex.BYTES);
        const mutex = new Mutex(buffer);
        let holders = 0;
        let served = 0;
        const run = async (program: Op[]): Promise<void> => {
          for (const o of program) {
            const guard = await take(
              o,
              (options) => mutex.lock(options),
              () => mutex.tryLock(),
            );
            if (guard === undefined) {
              await turns(gap);
              continue;
            }
            expect(++holders).toBe(1);
            served++;
            await turns(o.hold);
            holders--;
            guard.release();
            await turns(gap);
          }
        };
        await within(Promise.all(actors.map(run)), 5000);
        const waits = actors.flat().filter((o) => o.how === 'wait').length;
        expect(served).toBeGreaterThanOrEqual(waits);
        expect(Atomics.load(new Int32Array(buffer), 0)).toBe(0);
        expect(leakedWaiters(buffer)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('Semaphore: never more holders than permits, and every permit comes back', async () => {
    await fc.assert(
      fc.asyncProperty(programs, fc.integer({ min: 1, max: 3 }), async (actors, permits) => {
        const buffer = new SharedArrayBuffer(Semaphore.BYTES);
        const sem = new Semaphore(buffer);
        sem.release(permits);
        let holders = 0;
        const run = async (program: Op[]): Promise<void> => {
          for (const o of program) {
            const guard = await take(
              o,
              (options) => sem.acquire(options),
              () => sem.tryAcquire(),
            );
            if (guard === undefined) continue;
            expect(++holders).toBeLessThanOrEqual(permits);
            await turns(o.hold);
            holders--;
            guard.release();
          }
        };
        await within(Promise.all(actors.map(run)), 5000);
        const words = new Int32Array(buffer);
        expect([words[0], words[1]]).toEqual([permits, 0]);
        expect(leakedWaiters(buffer)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('RwLock: a writer alone, readers together, and a waiting writer is not starved', async () => {
    await fc.assert(
      fc.asyncProperty(programs, async (actors) => {
        const buffer = new SharedArrayBuffer(RwLock.BYTES);
        const rw = new RwLock(buffer);
        let readers = 0;
        let writers = 0;
        const run = async (program: Op[]): Promise<void> => {
          for (const o of program) {
            const guard = o.write
              ? await take(
                  o,
                  (options) => rw.write(options),
                  () => rw.tryWrite(),
                )
              : await take(
                  o,
                  (options) => rw.read(options),
                  () => rw.tryRead(),
                );
            if (guard === undefined) continue;
            if (o.write) {
              expect(++writers).toBe(1);
              expect(readers).toBe(0);
            } else {
              readers++;
              expect(writers).toBe(0);
            }
            await turns(o.hold);
            if (o.write) writers--;
            else readers--;
            guard.release();
          }
        };
        await within(Promise.all(actors.map(run)), 5000);
        const words = new Int32Array(buffer);
        expect([words[0], words[1], words[3]]).toEqual([0, 0, 0]);
        expect(leakedWaiters(buffer)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it('Barrier: a round ends only when every party arrived, once, with one last party', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(
          fc.record({ gap: fc.nat(3), giveUp: fc.constantFrom('none', 'none', 'timeout', 'abort'), after: fc.nat(3) }),
          { minLength: 16, maxLength: 16 },
        ),
        async (parties, rounds, steps) => {
          const buffer = new SharedArrayBuffer(Barrier.BYTES);
          const barrier = new Barrier(buffer, 0, parties);
          const arrived: number[] = Array.from({ length: rounds }, () => 0);
          const lasts: number[] = Array.from({ length: rounds }, () => 0);
          const run = async (party: number): Promise<void> => {
            for (let round = 0; round < rounds; round++) {
              const step = steps[(party * rounds + round) % steps.length]!;
              await turns(step.gap);
              // A party may give up first (its arrival is withdrawn), then it waits for real.
              if (step.giveUp !== 'none') {
                arrived[round]!++;
                const options =
                  step.giveUp === 'timeout' ? { timeout: step.after } : { signal: AbortSignal.timeout(step.after + 1) };
                try {
                  const last = await barrier.wait(options);
                  // The round tripped before the timeout did.
                  if (last) lasts[round]!++;
                  expect(arrived[round]).toBe(parties);
                  continue;
                } catch (error) {
                  expect(error).toBeInstanceOf(step.giveUp === 'timeout' ? TimeoutError : AbortedError);
                  arrived[round]!--;
                }
              }
              arrived[round]!++;
              const last = await barrier.wait();
              if (last) lasts[round]!++;
              expect(arrived[round]).toBe(parties);
            }
          };
          await within(Promise.all(Array.from({ length: parties }, (_, p) => run(p))), 5000);
          expect(lasts).toEqual(Array.from({ length: rounds }, () => 1));
          expect(barrier.waiting).toBe(0);
          expect(leakedWaiters(buffer)).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('Latch: a wait ends exactly when the count reaches zero', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 }),
        fc.array(
          fc.record({
            countDown: fc.boolean(),
            gap: fc.nat(3),
            how: fc.constantFrom<How>('wait', 'timeout', 'abort'),
            after: fc.nat(3),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        async (count, steps) => {
          const buffer = new SharedArrayBuffer(Latch.BYTES);
          const latch = new Latch(buffer, 0, count);
          let counted = 0;
          const waits = steps.map(async (step) => {
            await turns(step.gap);
            if (step.countDown) {
              counted++;
              latch.countDown();
              return;
            }
            const options =
              step.how === 'wait'
                ? undefined
                : step.how === 'timeout'
                  ? { timeout: step.after }
                  : { signal: AbortSignal.timeout(step.after + 1) };
            try {
              await latch.wait(options);
              expect(counted).toBeGreaterThanOrEqual(count);
            } catch (error) {
              expect(step.how).not.toBe('wait');
              expect(error).toBeInstanceOf(step.how === 'timeout' ? TimeoutError : AbortedError);
            }
          });
          // Those that wait without a timeout end only if the count-downs suffice: top them up.
          const missing = Math.max(0, count - steps.filter((s) => s.countDown).length);
          const finisher = (async () => {
            await turns(5);
            for (let i = 0; i < missing; i++) {
              counted++;
              latch.countDown();
            }
          })();
          await within(Promise.all([...waits, finisher]), 5000);
          expect(latch.open).toBe(true);
          expect(leakedWaiters(buffer)).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('CondVar: a queue under mutex and condvar delivers every item exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({ gap: fc.nat(3), broadcast: fc.boolean(), timeout: fc.option(fc.integer({ min: 1, max: 3 })) }),
          { minLength: 4, maxLength: 4 },
        ),
        async (producers, consumers, style) => {
          const buffer = new SharedArrayBuffer(Mutex.BYTES + CondVar.BYTES);
          const mutex = new Mutex(buffer, 0);
          const cv = new CondVar(buffer, Mutex.BYTES);
          const perProducer = 6;
          const total = producers * perProducer;
          const queue: number[] = [];
          const seen: number[] = [];
          let done = 0;
          const produce = async (p: number): Promise<void> => {
            const s = style[p % style.length]!;
            for (let i = 0; i < perProducer; i++) {
              await turns(s.gap);
              const guard = await mutex.lock();
              queue.push(p * 100 + i);
              if (s.broadcast) cv.broadcast();
              else cv.signal();
              guard.release();
            }
          };
          const consume = async (c: number): Promise<void> => {
            const s = style[(c + 1) % style.length]!;
            for (;;) {
              await turns(s.gap);
              const guard = await mutex.lock();
              try {
                // A timed wait that runs out just loops: the predicate is what counts.
                while (queue.length === 0 && done < total) {
                  try {
                    await cv.wait(guard, s.timeout === null ? undefined : { timeout: s.timeout });
                  } catch (error) {
                    expect(error).toBeInstanceOf(TimeoutError);
                  }
                  expect(mutex.tryLock()).toBeUndefined(); // held again after every wait
                }
                if (done === total) return;
                seen.push(queue.shift()!);
                if (++done === total) cv.broadcast();
              } finally {
                guard.release();
              }
            }
          };
          await within(
            Promise.all([
              ...Array.from({ length: producers }, (_, p) => produce(p)),
              ...Array.from({ length: consumers }, (_, c) => consume(c)),
            ]),
            5000,
          );
          expect(seen.sort((a, b) => a - b)).toEqual(
            Array.from({ length: producers }, (_, p) =>
              Array.from({ length: perProducer }, (_, i) => p * 100 + i),
            ).flat(),
          );
          const words = new Int32Array(buffer);
          expect([words[0], words[2]]).toEqual([0, 0]);
          expect(leakedWaiters(buffer)).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
