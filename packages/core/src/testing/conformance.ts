import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'vitest';
import type { Channel } from '../channel.js';
import { copyBytes, msgpackCodec, rawCodec, type Codec } from '../codec.js';
import { isIpcError, type IpcErrorCode } from '../errors.js';
import { within } from './within.js';

/** Two connected ends of a transport; the suite closes both after each case. */
export type ChannelPair<T = unknown> = [Channel<T>, Channel<T>];

/** Makes a fresh connected pair for one case. */
export type ChannelPairFactory<T = unknown> = () => ChannelPair<T> | Promise<ChannelPair<T>>;

/** What the transport promises, so that the suite can test its bounds. */
export interface ConformanceLimits {
  /** What the channel carries: objects through msgpack (default) or raw bytes. */
  encoding?: 'msgpack' | 'bytes';
  /** The codec on the wire, to size messages exactly; default by `encoding`. */
  codec?: Codec<any>;
  /** The largest encoded message the transport carries; enables the size-limit cases. */
  maxMessageBytes?: number;
  /** Exactly how many messages fit unreceived (transports that count messages, not bytes). */
  capacity?: number;
  /**
   * One end whose other end runs in another process, echoing, so that the suite can kill it: enables the
   * "peer that dies" case. Make the transport notice a dead peer quickly (e.g. a short check interval).
   */
  killablePeer?: KillablePeerFactory<any>;
  /**
   * A receiving end and, connected to it, a sending end that puts raw bytes on the wire (the transport with
   * `rawCodec`): enables the "garbage bytes" case. msgpack encodings only.
   */
  garbagePeer?: () => Promise<[receiver: Channel<any>, rawSender: Channel<Uint8Array>]>;
  /**
   * False for a transport whose end cannot learn that the other end closed (one queue with any number of
   * senders, a connectionless socket): the cases about the end of the peer are then skipped. Default true.
   */
  peerEnds?: boolean;
}

/**
 * One end of a transport whose other end runs in another process and echoes every message back until it is
 * killed. `kill` ends that process with SIGKILL and resolves once it has exited (`() => killChild(child)`; what
 * it resolves with is not used).
 */
export interface KillablePeer<T = unknown> {
  channel: Channel<T>;
  kill(): Promise<unknown>;
}

/** Starts the other end in a new process and connects to it (fresh for each run). */
export type KillablePeerFactory<T = unknown> = () => Promise<KillablePeer<T>>;

const GONE: readonly string[] = ['IPCX_ERR_PEER_GONE', 'IPCX_ERR_CLOSED'];

/** Not msgpack: a str8 header announcing 16 bytes, followed by one. */
const GARBAGE = new Uint8Array([0xd9, 0x10, 0x61]);
/** msgpack's reserved byte inside a one-element array: msgpackr alone would decode it to its internal C1Type. */
const RESERVED_C1 = new Uint8Array([0x91, 0xc1]);

function assertGone(outcome: unknown, what: string): void {
  assert.ok(
    isIpcError(outcome) && GONE.includes(outcome.code),
    `${what} should fail with PeerGoneError or ClosedError, got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome)}`,
  );
}

/** One case of the suite; `run` throws (an assertion error) when the transport breaks the contract. */
export interface ConformanceCase {
  name: string;
  /** False when the transport did not give what the case needs (it then passes without testing: skip it). */
  applies?(limits: ConformanceLimits): boolean;
  /**
   * Throws when the transport breaks the contract. `skip(reason)` marks the case as not applying (reported as
   * skipped, never passed) when that shows only at run time (e.g. the channel has no `destroy`).
   */
  run(factory: ChannelPairFactory<any>, limits: ConformanceLimits, skip?: (reason: string) => never): Promise<void>;
}

/** Thrown by the default `skip` of a case run outside `describeChannelConformance`. */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
}

const skipOutsideVitest = (reason: string): never => {
  throw new CaseSkipped(reason);
};

const peerEnds = (limits: ConformanceLimits): boolean => limits.peerEnds !== false;

/** An end with `destroy(error?)`, as docs/API.md asks of every channel. */
type Destroyable = AnyChannel & { destroy(error?: Error): void };

function hasDestroy(channel: AnyChannel): channel is Destroyable {
  return typeof (channel as Partial<Destroyable>).destroy === 'function';
}

type AnyChannel = Channel<any>;

const FILL_BOUND = 100_000;

function encodingOf(limits: ConformanceLimits): 'msgpack' | 'bytes' {
  return limits.encoding ?? 'msgpack';
}

/** A numbered message in the channel's encoding, `size` payload bytes. */
function message(limits: ConformanceLimits, seq: number, size = 16): unknown {
  if (encodingOf(limits) === 'bytes') {
    const bytes = new Uint8Array(Math.max(4, size));
    new DataView(bytes.buffer).setUint32(0, seq);
    for (let i = 4; i < bytes.length; i++) bytes[i] = (seq + i) & 0xff;
    return bytes;
  }
  return { seq, pad: 'x'.repeat(size) };
}

function seqOf(limits: ConformanceLimits, value: unknown): number {
  if (encodingOf(limits) === 'bytes') {
    assert.ok(value instanceof Uint8Array, 'expected a Uint8Array message');
    return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  }
  assert.equal(typeof value, 'object', 'expected an object message');
  return (value as { seq: number }).seq;
}

async function rejectsWith(promise: Promise<unknown>, code: IpcErrorCode, what: string): Promise<unknown> {
  let settled: 'resolved' | 'rejected' = 'resolved';
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    settled = 'rejected';
    error = e;
  }
  assert.equal(settled, 'rejected', `${what}: expected a rejection with ${code}`);
  assert.ok(isIpcError(error), `${what}: expected an IpcError, got ${String(error)}`);
  assert.equal(error.code, code, `${what}: expected ${code}, got ${error.code} (${error.message})`);
  return error;
}

function throwsWith(fn: () => unknown, code: IpcErrorCode, what: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(isIpcError(error), `${what}: expected a thrown ${code}, got ${String(error)}`);
  assert.equal(error.code, code, `${what}: expected ${code}, got ${error.code}`);
}

/**
 * True when `promise` is still pending after `turns` turns of the event loop: how a test checks that a wait
 * waits, without a sleep.
 */
export async function pendingAfterTurns(promise: Promise<unknown>, turns = 50): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i++) await nextTurn();
  return !settled;
}

/**
 * Fills the channel with `trySend` until it says false; returns how many messages went in (their seqs run from
 * `from`).
 */
function fill(a: AnyChannel, limits: ConformanceLimits, size: number, from = 0): number {
  let count = from;
  while (a.trySend(message(limits, count, size))) {
    count++;
    assert.ok(count - from < FILL_BOUND, `trySend never returned false in ${FILL_BOUND} messages`);
  }
  if (limits.capacity !== undefined && from === 0)
    assert.equal(count, limits.capacity, 'trySend accepted a different number of messages than the capacity');
  return count;
}

/** Rounds of `fillSettled` before it gives up waiting for the other end to stop taking messages. */
const SETTLE_ROUNDS = 20;

/**
 * Fills the channel, then lets the event loop turn as long as `pendingAfterTurns` will and fills again,
 * until a round finds no room: full, as the cases that need a full channel mean it. A receiving end may read
 * ahead of its `receive` calls (a stream channel reads up to `receiveBufferBytes` into its own buffer once the
 * event loop runs), which frees room in the kernel after a fill that ran without yielding; a send that then
 * goes through did not find the channel full. A channel of fixed capacity is full after the first round.
 */
async function fillSettled(a: AnyChannel, limits: ConformanceLimits, size: number): Promise<number> {
  let count = fill(a, limits, size);
  if (limits.capacity !== undefined) return count;
  for (let round = 0; round < SETTLE_ROUNDS; round++) {
    for (let i = 0; i < 50; i++) await nextTurn();
    const more = fill(a, limits, size, count);
    if (more === count) return count;
    count = more;
  }
  return count;
}

async function expectSeqs(b: AnyChannel, limits: ConformanceLimits, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const got = seqOf(limits, await b.receive({ timeout: 5000 }));
    assert.equal(got, i, `message ${i} arrived as ${got}: order broken or a message lost`);
  }
}

function fillSize(limits: ConformanceLimits): number {
  return Math.min(1024, Math.max(16, Math.floor((limits.maxMessageBytes ?? 1 << 20) / 2)));
}

/** A payload whose encoding through `codec` is exactly `target` bytes (searching around the header size). */
function sizedPayload(limits: ConformanceLimits, target: number): unknown {
  const bytesEncoding = encodingOf(limits) === 'bytes';
  const codec: Codec<any> = limits.codec ?? (bytesEncoding ? rawCodec : msgpackCodec);
  for (let n = Math.max(0, target - 16); n <= target; n++) {
    const value = new Uint8Array(n).fill(7);
    if (codec.encode(value).length === target) return value;
  }
  throw new Error(`no payload encodes to exactly ${target} bytes with ${codec.name}`);
}

const everyType = {
  int: 42,
  negative: -7,
  float: 1.5,
  big: 2n ** 70n,
  small: 3n,
  text: 'héllo wörld ✓',
  empty: '',
  yes: true,
  no: false,
  nothing: null,
  date: new Date(1_700_000_000_000),
  map: new Map<unknown, unknown>([
    [1, 'one'],
    ['two', { x: 2 }],
  ]),
  set: new Set([1, 'a']),
  bytes: new Uint8Array([0, 1, 254, 255]),
  floats: new Float64Array([0.5, -2]),
  ints: new Int32Array([-1, 2 ** 31 - 1]),
  nested: [{ a: [1, [2, [3]]] }, []],
  record: [
    { id: 1, name: 'a' },
    { id: 2, name: 'b' },
  ],
};

/** Every case of the channel contract; `describeChannelConformance` runs them, one test each. */
export const conformanceCases: ConformanceCase[] = [
  {
    name: 'keeps the order of messages in both directions',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const n = 200;
        const sendAll = async (from: AnyChannel, count: number): Promise<void> => {
          for (let i = 0; i < count; i++) await from.send(message(limits, i), { timeout: 5000 });
        };
        await Promise.all([expectSeqs(b, limits, 0, n), sendAll(a, n)]);
        await Promise.all([expectSeqs(a, limits, 0, 20), sendAll(b, 20)]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'serves receives waiting together in the order they were called',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const first = b.receive({ timeout: 5000 });
        const second = b.receive({ timeout: 5000 });
        await a.send(message(limits, 0));
        await a.send(message(limits, 1));
        assert.equal(seqOf(limits, await first), 0);
        assert.equal(seqOf(limits, await second), 1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'tryReceive returns undefined when nothing waits and a message once one arrived',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        assert.equal(b.tryReceive(), undefined);
        await a.send(message(limits, 0));
        await a.send(message(limits, 1));
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 0);
        let got: unknown;
        for (let i = 0; i < 10_000 && got === undefined; i++) {
          got = b.tryReceive();
          if (got === undefined) await nextTurn();
        }
        assert.notEqual(got, undefined, 'tryReceive never returned the second message');
        assert.equal(seqOf(limits, got), 1);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'trySend returns false when full and send waits for room',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const size = fillSize(limits);
        const count = await fillSettled(a, limits, size);
        const waiting = a.send(message(limits, count, size), { timeout: 10_000 });
        assert.ok(await pendingAfterTurns(waiting), 'send on a full channel did not wait');
        await Promise.all([expectSeqs(b, limits, 0, count + 1), waiting]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a send that times out or is aborted on a full channel delivers nothing',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const size = fillSize(limits);
        const count = await fillSettled(a, limits, size);
        await rejectsWith(
          a.send(message(limits, 900_001, size), { timeout: 20 }),
          'IPCX_ERR_TIMEOUT',
          'send with timeout',
        );
        const controller = new AbortController();
        const aborted = a.send(message(limits, 900_002, size), { signal: controller.signal });
        controller.abort(new Error('stop'));
        await rejectsWith(aborted, 'IPCX_ERR_ABORTED', 'send aborted');
        await rejectsWith(
          a.send(message(limits, 900_003, size), { signal: AbortSignal.abort() }),
          'IPCX_ERR_ABORTED',
          'send with an aborted signal',
        );
        await Promise.all([
          expectSeqs(b, limits, 0, count + 1),
          a.send(message(limits, count, size), { timeout: 10_000 }),
        ]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'receive times out with TimeoutError and loses no message',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await rejectsWith(b.receive({ timeout: 20 }), 'IPCX_ERR_TIMEOUT', 'receive with timeout');
        await a.send(message(limits, 7));
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 7);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'receive ends with AbortedError when its signal aborts and loses no message',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const reason = new Error('stop');
        const controller = new AbortController();
        const pending = b.receive({ signal: controller.signal });
        controller.abort(reason);
        const error = (await rejectsWith(pending, 'IPCX_ERR_ABORTED', 'aborted receive')) as Error;
        assert.equal(error.cause, reason, 'the abort reason is the cause');
        await rejectsWith(
          b.receive({ signal: AbortSignal.abort() }),
          'IPCX_ERR_ABORTED',
          'receive with an aborted signal',
        );
        await a.send(message(limits, 3));
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 3);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a receive waiting when the channel closes rejects with ClosedError',
    async run(factory) {
      const [a, b] = await factory();
      try {
        const pending = b.receive();
        await b.close();
        await rejectsWith(pending, 'IPCX_ERR_CLOSED', 'receive pending at close');
        assert.equal(b.closed, true);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'every call after close fails with ClosedError and a second close is harmless',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await a.close();
        await a.close();
        await rejectsWith(a.send(message(limits, 0)), 'IPCX_ERR_CLOSED', 'send after close');
        await rejectsWith(a.receive(), 'IPCX_ERR_CLOSED', 'receive after close');
        throwsWith(() => a.trySend(message(limits, 0)), 'IPCX_ERR_CLOSED', 'trySend after close');
        throwsWith(() => a.tryReceive(), 'IPCX_ERR_CLOSED', 'tryReceive after close');
        await a[Symbol.asyncDispose]();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a receive on one end ends with ClosedError once the peer closes and its messages are read',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await a.send(message(limits, 1));
        await a.close();
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 1);
        await rejectsWith(b.receive({ timeout: 5000 }), 'IPCX_ERR_CLOSED', 'receive after the peer closed');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'iteration yields every message and ends when the peer closes',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const seen: number[] = [];
        const iterating = (async () => {
          for await (const m of b) seen.push(seqOf(limits, m));
        })();
        for (let i = 0; i < 5; i++) await a.send(message(limits, i));
        await a.close();
        await iterating;
        assert.deepEqual(seen, [0, 1, 2, 3, 4]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'iteration ends when the channel closes locally, and leaving a loop early does not close it',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await a.send(message(limits, 0));
        await a.send(message(limits, 1));
        for await (const m of b) {
          assert.equal(seqOf(limits, m), 0);
          break;
        }
        assert.equal(b.closed, false, 'breaking out of for await closed the channel');
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 1);
        const iterating = (async () => {
          for await (const _ of b) assert.fail('nothing was sent');
        })();
        await b.close();
        await iterating;
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a send after the peer closed rejects with PeerGoneError (nothing is silently dropped)',
    applies: peerEnds,
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await a.close();
        // Once a receive has seen the end, this end knows the peer closed.
        await rejectsWith(b.receive({ timeout: 5000 }), 'IPCX_ERR_CLOSED', 'receive after the peer closed');
        await rejectsWith(
          b.send(message(limits, 1), { timeout: 5000 }),
          'IPCX_ERR_PEER_GONE',
          'send after the peer closed',
        );
        throwsWith(() => b.trySend(message(limits, 2)), 'IPCX_ERR_PEER_GONE', 'trySend after the peer closed');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: '`closed` turns true once the peer closed and everything it sent was received, not before',
    applies: peerEnds,
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        await a.send(message(limits, 1));
        await a.send(message(limits, 2));
        await a.close();
        assert.equal(b.closed, false, '`closed` is true while messages of the peer are still unreceived');
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 1);
        assert.equal(b.closed, false, '`closed` is true while a message of the peer is still unreceived');
        assert.equal(seqOf(limits, await b.receive({ timeout: 5000 })), 2);
        await rejectsWith(b.receive({ timeout: 5000 }), 'IPCX_ERR_CLOSED', 'receive after everything was received');
        assert.equal(b.closed, true, '`closed` is false after the peer closed and everything was received');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a for await loop started after the peer closed yields what arrived, then ends',
    applies: peerEnds,
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        for (let i = 0; i < 3; i++) await a.send(message(limits, i));
        await a.close();
        const seen: number[] = [];
        await within(
          (async () => {
            for await (const m of b) seen.push(seqOf(limits, m));
          })(),
          5000,
          'a for await loop over a channel whose peer closed',
        );
        assert.deepEqual(seen, [0, 1, 2]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'destroy() rejects the sends waiting for room at once, and every later call fails with ClosedError',
    async run(factory, limits, skip = skipOutsideVitest) {
      const [a, b] = await factory();
      try {
        if (!hasDestroy(a)) return skip('the channel has no destroy()');
        const size = fillSize(limits);
        const count = await fillSettled(a, limits, size);
        const waiting = a.send(message(limits, count, size), { timeout: 10_000 });
        assert.ok(await pendingAfterTurns(waiting), 'send on a full channel did not wait');
        a.destroy();
        await within(
          rejectsWith(waiting, 'IPCX_ERR_CLOSED', 'a send waiting when the channel was destroyed'),
          5000,
          'the waiting send',
        );
        assert.equal(a.closed, true, '`closed` after destroy()');
        await rejectsWith(a.send(message(limits, 0)), 'IPCX_ERR_CLOSED', 'send after destroy');
        await rejectsWith(a.receive(), 'IPCX_ERR_CLOSED', 'receive after destroy');
        a.destroy(); // idempotent
        await within(a.close(), 5000, 'close() after destroy()');
      } finally {
        if (hasDestroy(a)) a.destroy();
        if (hasDestroy(b)) b.destroy();
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'close() returns, and again when called twice, even with a send waiting for room and a peer that does not read',
    async run(factory, limits) {
      const [a, b] = await factory();
      try {
        const size = fillSize(limits);
        const count = await fillSettled(a, limits, size);
        const waiting = a.send(message(limits, count, size), { timeout: 20_000 }).then(
          () => 'sent',
          (error: unknown) => error,
        );
        assert.ok(await pendingAfterTurns(waiting), 'send on a full channel did not wait');
        const first = a.close();
        const second = a.close();
        await within(Promise.all([first, second]), 10_000, 'close() of an end whose peer does not read');
        const outcome = await within(waiting, 10_000, 'the send waiting at close()');
        assert.ok(
          outcome === 'sent' || isIpcError(outcome),
          `the send waiting at close() ended with ${String(outcome)}`,
        );
        await within(a.close(), 5000, 'a third close()');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a message exactly at the size limit arrives and one byte over is TooLargeError',
    applies: (limits) => limits.maxMessageBytes !== undefined,
    async run(factory, limits, skip = skipOutsideVitest) {
      if (limits.maxMessageBytes === undefined) return skip('no maxMessageBytes given');
      const [a, b] = await factory();
      try {
        const max = limits.maxMessageBytes;
        const exact = sizedPayload(limits, max);
        const over = sizedPayload(limits, max + 1);
        await rejectsWith(a.send(over), 'IPCX_ERR_TOO_LARGE', 'send one byte over the limit');
        throwsWith(() => a.trySend(over), 'IPCX_ERR_TOO_LARGE', 'trySend one byte over the limit');
        const receiving = b.receive({ timeout: 10_000 });
        await a.send(exact, { timeout: 10_000 });
        assert.deepEqual(new Uint8Array((await receiving) as Uint8Array), new Uint8Array(exact as Uint8Array));
        await a.send(message(limits, 5));
        assert.equal(
          seqOf(limits, await b.receive({ timeout: 5000 })),
          5,
          'the channel is usable after a refused message',
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
  {
    name: 'a receive waiting on a peer whose process is killed ends with PeerGoneError or ClosedError, and a later send fails too',
    applies: (limits) => limits.killablePeer !== undefined,
    async run(_factory, limits) {
      if (!limits.killablePeer) return;
      const { channel, kill } = await limits.killablePeer();
      try {
        await channel.send(message(limits, 1));
        assert.equal(seqOf(limits, await channel.receive({ timeout: 4000 })), 1, 'the peer echoes while it lives');
        const pending = channel.receive({ timeout: 4000 }).then(
          () => 'a message',
          (error: unknown) => error,
        );
        await kill();
        assertGone(await pending, 'a receive waiting when the peer was killed');
        // Once the channel knows, a message is refused rather than lost.
        assertGone(
          await channel.send(message(limits, 2), { timeout: 4000 }).then(
            () => 'accepted',
            (error: unknown) => error,
          ),
          'a send after that',
        );
      } finally {
        await channel.close();
      }
    },
  },
  {
    name: 'bytes the codec cannot decode fail a receive with BadFrameError, after the messages sent before them',
    applies: (limits) => limits.garbagePeer !== undefined && encodingOf(limits) === 'msgpack',
    run: (_factory, limits) => garbageCase(limits, GARBAGE), // a str8 that announces 16 bytes and carries 1
  },
  {
    name: "msgpack's reserved byte 0xc1 (nested in an array) fails a receive with BadFrameError and never reaches the application",
    applies: (limits) => limits.garbagePeer !== undefined && encodingOf(limits) === 'msgpack',
    run: (_factory, limits) => garbageCase(limits, RESERVED_C1),
  },
  {
    name: 'every msgpack type round-trips',
    applies: (limits) => encodingOf(limits) === 'msgpack',
    async run(factory, limits) {
      if (encodingOf(limits) !== 'msgpack') return;
      const [a, b] = await factory();
      try {
        await a.send(everyType);
        assert.deepStrictEqual(await b.receive({ timeout: 5000 }), everyType);
        await b.send([undefined, 0.25, Number.MAX_SAFE_INTEGER, 'end']);
        assert.deepStrictEqual(await a.receive({ timeout: 5000 }), [undefined, 0.25, Number.MAX_SAFE_INTEGER, 'end']);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  },
];

/**
 * Registers the channel conformance suite with vitest: one `it` per case, each on a fresh pair.
 *
 * @example
 * ```ts
 * describeChannelConformance('memory', () => MemoryChannel.pair({ capacity: 8 }), { capacity: 8, maxMessageBytes: 1024 });
 * ```
 */
export function describeChannelConformance<T>(
  name: string,
  factory: ChannelPairFactory<T>,
  limits: ConformanceLimits = {},
): void {
  describe(`${name}: Channel conformance`, () => {
    for (const c of conformanceCases) {
      it.skipIf(c.applies?.(limits) === false)(c.name, (context) =>
        c.run(factory, limits, (reason) => {
          context.skip(reason);
          throw new CaseSkipped(reason); // skip() throws already; this line is for the type checker
        }),
      );
    }
  });
}

/** Sends a message, `garbage` and another message over a garbage peer: BadFrameError for the garbage, nothing worse. */
async function garbageCase(limits: ConformanceLimits, garbage: Uint8Array): Promise<void> {
  if (!limits.garbagePeer || encodingOf(limits) !== 'msgpack') return;
  const [receiver, raw] = await limits.garbagePeer();
  try {
    const encode = (value: unknown): Uint8Array => copyBytes((limits.codec ?? msgpackCodec).encode(value));
    await raw.send(encode(message(limits, 1)));
    await raw.send(garbage);
    await raw.send(encode(message(limits, 3)));
    assert.equal(seqOf(limits, await receiver.receive({ timeout: 5000 })), 1, 'the message before the garbage');
    await rejectsWith(receiver.receive({ timeout: 5000 }), 'IPCX_ERR_BAD_FRAME', 'a receive of the garbage');
    // The transport may go on (the next message arrives) or end the connection (a typed error): it may not
    // hang, crash or hand out the garbage.
    const after = await receiver.receive({ timeout: 5000 }).then(
      (value: unknown) => value,
      (error: unknown) => error,
    );
    if (isIpcError(after)) {
      assert.ok(
        ['IPCX_ERR_BAD_FRAME', 'IPCX_ERR_CLOSED', 'IPCX_ERR_PEER_GONE'].includes(after.code),
        `after the garbage: ${after.code}`,
      );
    } else {
      assert.equal(seqOf(limits, after), 3, 'the message after the garbage');
    }
  } finally {
    await Promise.all([receiver.close(), raw.close()]);
  }
}
