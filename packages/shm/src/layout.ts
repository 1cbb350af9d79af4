import { IncompatibleError, InvalidOptionError } from '@ipcx/core';
import { checkInteger } from '@ipcx/core/transport';

/**
 * The shared-memory layouts of @ipcx/shm, described once. Every object starts with a 64-byte header:
 *
 * | word | meaning |
 * | --- | --- |
 * | 0 | MAGIC, 0x49504358 ('IPCX') |
 * | 1 | VERSION of the layout (this file) |
 * | 2 | KIND: what follows (channel, state, lock...) |
 * | 3 | kind-specific size word (a channel: ring capacity in bytes per direction) |
 * | 4, 5 | pid of side A, side B (0 = not attached): labels for messages, never proof of life |
 * | 6, 7 | state of side A, side B: 0 unattached, 1 open, 2 closed, 3 dead (its thread ended without close) |
 * | 8 | WAKE: 0 = Atomics (threads of one process), 1 = futex (processes) |
 * | 9 | RETIRED: 1 while a creator replaces this (stale) named segment; openers look for the name again |
 * | 10 | NEXT_ID: the last id handed to a user of a named Mutex (see segment.ts) |
 *
 * Pids are labels for messages only: liveness is an OFD lock on the segment's file (segment.ts) or, between
 * threads, a side state set to DEAD by the thread's exit hook.
 *
 * Words are Int32, read and written with Atomics. Indices that two sides write live on separate
 * 64-byte cache lines so that a producer and a consumer never write the same line.
 */
export const MAGIC = 0x49504358;
export const VERSION = 4;
export const CACHE_LINE = 64;
export const HEADER_BYTES = CACHE_LINE;

export const enum Header {
  Magic = 0,
  Version = 1,
  Kind = 2,
  Size = 3,
  PidA = 4,
  PidB = 5,
  StateA = 6,
  StateB = 7,
  Wake = 8,
  Retired = 9,
  NextId = 10,
}

export const enum Kind {
  Channel = 1,
  State = 2,
  Locks = 3,
  FanIn = 4,
}

export const enum SideState {
  Unattached = 0,
  Open = 1,
  Closed = 2,
  /** The side's thread ended without closing (a worker that threw or was terminated). */
  Dead = 3,
}

export const enum Wake {
  Atomics = 0,
  Futex = 1,
}

/**
 * A ring: a control block of four cache lines, then `capacity` bytes of frames.
 *
 * | line | word | written by | meaning |
 * | --- | --- | --- | --- |
 * | 0 | HEAD | producer | bytes ever written (mod 2^32) |
 * | 1 | TAIL | consumer | bytes ever consumed (mod 2^32) |
 * | 2 | CONSUMER_PARKED | both | 1 while the consumer sleeps (futex word); the producer swaps it to 0 and wakes |
 * | 3 | PRODUCER_PARKED | both | 1 while the producer sleeps on a full ring; the consumer swaps it to 0 and wakes |
 *
 * A frame is an 8-byte header (a little-endian Int32 length, then 4 reserved bytes), the payload, and
 * padding to a multiple of 8. Payloads start 8-byte aligned because V8 copies to and from shared memory
 * word by word only when source and target share their alignment, and byte by byte otherwise (measured:
 * 64 KiB in 3 µs aligned, 25 µs at an offset of 4). A frame never wraps: when it does not fit before the
 * end, the producer writes WRAP_MARKER as the length and starts again at offset 0. So that any frame
 * fits once the ring is empty, a frame (with its header and padding) is at most half the capacity.
 *
 * Version 4 of the layout: a fan-in's producers sleep on ROOM_SEQ (version 3 slept on TAIL, and the two
 * would not wake each other). Version 3 brought liveness by kernel locks, the DEAD side state, RETIRED and
 * NEXT_ID; version 2 judged liveness by pids; version 1 had a 4-byte frame header and 4-byte alignment.
 */
export const RING_CONTROL_BYTES = 4 * CACHE_LINE;
export const RING_HEAD = 0;
export const RING_TAIL = CACHE_LINE / 4;
export const RING_CONSUMER_PARKED = (2 * CACHE_LINE) / 4;
export const RING_PRODUCER_PARKED = (3 * CACHE_LINE) / 4;
export const FRAME_HEADER_BYTES = 8;
/** Bytes a payload of `length` occupies in a ring, padding included. */
export const alignFrame = (length: number): number => (length + 7) & ~7;
export const WRAP_MARKER = -1;
export const MIN_RING_CAPACITY = 1024;
export const MAX_RING_CAPACITY = 1 << 30;

/** The largest payload a ring of `capacity` bytes carries. */
export function maxPayload(capacity: number): number {
  return capacity / 2 - FRAME_HEADER_BYTES;
}

/** A channel: the header, then the ring from side A to side B, then the ring from B to A. */
export function channelBytes(capacity: number): number {
  return HEADER_BYTES + 2 * (RING_CONTROL_BYTES + capacity);
}

/** Byte offset of the ring that `side` writes. */
export function ringOffset(capacity: number, writer: 'a' | 'b'): number {
  return HEADER_BYTES + (writer === 'a' ? 0 : RING_CONTROL_BYTES + capacity);
}

/** Checks a ring's `bufferBytes` option (default 256 KiB): a power of two within bounds. */
export function ringBytes(bufferBytes: number | undefined): number {
  const bytes = checkInteger('bufferBytes', bufferBytes, {
    min: MIN_RING_CAPACITY,
    max: MAX_RING_CAPACITY,
    default: DEFAULT_RING_BYTES,
  });
  if ((bytes & (bytes - 1)) !== 0)
    throw new InvalidOptionError(
      'bufferBytes',
      bytes,
      `a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY}`,
    );
  return bytes;
}

/** Bytes of a ring when `bufferBytes` is not given. */
export const DEFAULT_RING_BYTES = 256 * 1024;

/** Writes a fresh header. */
export function initHeader(header: Int32Array, kind: Kind, size: number, wake: Wake): void {
  Atomics.store(header, Header.Kind, kind);
  Atomics.store(header, Header.Size, size);
  Atomics.store(header, Header.Version, VERSION);
  Atomics.store(header, Header.Wake, wake);
  // MAGIC last: a reader that sees it sees the rest.
  Atomics.store(header, Header.Magic, MAGIC);
}

/** Reads and checks a header: wrong magic, version or kind is `IncompatibleError`. */
export function checkHeader(header: Int32Array, kind: Kind, what: string): void {
  const magic = Atomics.load(header, Header.Magic);
  if (magic !== MAGIC)
    throw new IncompatibleError(
      what,
      `magic number 0x${(magic >>> 0).toString(16)} is not 0x${MAGIC.toString(16)} (not an ipcx object, or not initialised)`,
    );
  const version = Atomics.load(header, Header.Version);
  if (version !== VERSION)
    throw new IncompatibleError(what, `layout version ${version}, this library reads version ${VERSION}`);
  const found = Atomics.load(header, Header.Kind);
  if (found !== kind) throw new IncompatibleError(what, `it holds object kind ${found}, expected ${kind}`);
}

/**
 * Shared state (one writer, many readers), after the header:
 *
 * | bytes | word | written by | meaning |
 * | --- | --- | --- | --- |
 * | 64 | STATE_SEQ | writer | sequence: odd while a write is in progress; version = seq / 2 (futex word for `changed`) |
 * | 68 | STATE_LENGTH | writer | byte length of the current value |
 * | 72 | STATE_CODEC | creator | byte length of the writer's codec name (0: not recorded), then the name in UTF-8 (at most 52 bytes) |
 * | 128 | STATE_WAITERS | readers | readers sleeping in `changed`; the writer wakes them only when it is not 0 |
 * | 132 | STATE_WAKE | writer | readers sleep on it: bumped before every wake-up (a new value, the writer's close) |
 * | 192.. | | writer | the encoded value (header Size word = capacity in bytes) |
 */
export const STATE_SEQ = 16;
export const STATE_LENGTH = 17;
export const STATE_WAITERS = 32;
export const STATE_WAKE = 33;
export const STATE_DATA = 3 * CACHE_LINE;
export const STATE_CODEC = 18;
const STATE_CODEC_NAME = STATE_CODEC * 4 + 4;
const STATE_CODEC_MAX = 2 * CACHE_LINE - STATE_CODEC_NAME;

/** Records the writer's codec name (before the header is published); a name too long is not recorded. */
export function writeStateCodec(buffer: SharedArrayBuffer, name: string): void {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length > STATE_CODEC_MAX) return;
  new Uint8Array(buffer, STATE_CODEC_NAME, bytes.length).set(bytes);
  Atomics.store(new Int32Array(buffer, 0, STATE_DATA / 4), STATE_CODEC, bytes.length);
}

/** The writer's codec name, or undefined when it was not recorded. */
export function readStateCodec(buffer: SharedArrayBuffer): string | undefined {
  const length = Atomics.load(new Int32Array(buffer, 0, STATE_DATA / 4), STATE_CODEC);
  if (length <= 0 || length > STATE_CODEC_MAX) return undefined;
  return new TextDecoder().decode(new Uint8Array(buffer, STATE_CODEC_NAME, length).slice());
}

/**
 * A multi-producer single-consumer ring has the same control block as the SPSC ring, but HEAD is a
 * reservation counter that producers advance with compare-and-swap, and a frame is published by its
 * own length word: 0 = not yet written, `length + 1` = committed, WRAP_MARKER = skip to offset 0. The
 * consumer zeroes every byte it consumes before it publishes TAIL, so reserved memory always reads 0
 * until its producer commits. PRODUCER_PARKED counts producers waiting for room. They sleep on ROOM_SEQ,
 * which whoever wakes them (the consumer that freed room, a close) bumps before it notifies, so a wake-up
 * that comes between a producer's last look and its wait changes the word it waits on: a notify that
 * changed nothing (TAIL does not move when a receiver closes) was lost on a producer not yet asleep.
 */
export const MPSC_RESERVE = RING_HEAD;
export const MPSC_WAITING_PRODUCERS = RING_PRODUCER_PARKED;
export const MPSC_ROOM_SEQ = RING_PRODUCER_PARKED + 1;

/**
 * The size word of an attached object's header, checked against the memory: a ring capacity must be a
 * power of two in bounds (`ring`), any other size 0..2^30, and `bytesFor(size)` must fit the buffer. A
 * corrupt or foreign header is `IncompatibleError`, not a RangeError from a typed array or a wrong mask.
 */
export function storedSize(
  header: Int32Array,
  buffer: SharedArrayBuffer,
  what: string,
  ring: boolean,
  bytesFor: (size: number) => number,
): number {
  const size = Atomics.load(header, Header.Size);
  const valid = ring
    ? size >= MIN_RING_CAPACITY && size <= MAX_RING_CAPACITY && (size & (size - 1)) === 0
    : size >= 0 && size <= 1 << 30;
  if (!valid || bytesFor(size) > buffer.byteLength) {
    throw new IncompatibleError(what, `its size word (${size}) does not fit its ${buffer.byteLength} bytes of memory`);
  }
  return size;
}
