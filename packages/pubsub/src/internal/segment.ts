import { IncompatibleError, LimitError, PermissionError, isIpcError } from '@ipcx/core';
import { fromSystemError } from '@ipcx/core/transport';
import { futex, shm } from '@ipcx/native';
import {
  FLAG_LOCKED_WRITERS,
  HEADER_BYTES,
  HEAD_OFFSET,
  PARKED_OFFSET,
  SLOT_HEADER_BYTES,
  TOPIC_LAYOUT_VERSION,
  TOPIC_MAGIC,
  Word,
  segmentBytes,
  slotStride,
  slotsOffset,
} from '../layout.js';
import { segmentName, topicGenerations } from '../names.js';

// x86-64 keeps loads in order (TSO): the plain reads of a slot cannot pass the second Atomics.load of its
// sequence. Elsewhere a read-modify-write of the sequence orders them.
const ORDERED_LOADS = process.arch === 'x64' || process.arch === 'ia32';

/** The geometry a new generation gets. */
export interface Geometry {
  slotBytes: number;
  slots: number;
  maxSubscribers: number;
  locked: boolean;
}

/** A copy of one slot's encoded value. */
export interface RawRevision {
  revision: number;
  bytes: Uint8Array;
}

function mapError(what: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'ENOMEM') {
    return new LimitError(
      '/dev/shm size',
      `${what} failed with ${code}: /dev/shm is full or memory is short; use a smaller maxValueBytes or history`,
      { cause: error },
    );
  }
  return fromSystemError(what, error);
}

/**
 * One generation of a topic in shared memory (see `layout.ts`): the ring of revisions with a sequence lock per
 * slot, HEAD, and the subscribers' parked words. Reading and writing it is all synchronous.
 */
export class TopicSegment {
  readonly words: Int32Array;
  readonly #head: BigInt64Array;
  readonly parked: Int32Array;
  readonly slotBytes: number;
  readonly slots: number;
  readonly maxSubscribers: number;
  readonly generation: number;
  readonly #slotsAt: number;
  readonly #stride: number;
  readonly #bytes: Uint8Array;
  readonly #slotWords: Int32Array;
  readonly #slotRevisions: BigInt64Array;

  private constructor(
    readonly topic: string,
    readonly name: string,
    readonly buffer: SharedArrayBuffer,
  ) {
    if (buffer.byteLength < HEADER_BYTES + 64) throw new IncompatibleError(`topic segment ${name}`, 'too small');
    this.words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (Atomics.load(this.words, Word.Magic) !== TOPIC_MAGIC)
      throw new IncompatibleError(`topic segment ${name}`, 'wrong magic number');
    const version = Atomics.load(this.words, Word.Version);
    if (version !== TOPIC_LAYOUT_VERSION)
      throw new IncompatibleError(
        `topic segment ${name}`,
        `layout version ${version}, expected ${TOPIC_LAYOUT_VERSION}`,
      );
    this.slotBytes = Atomics.load(this.words, Word.SlotBytes);
    this.slots = Atomics.load(this.words, Word.Slots);
    this.maxSubscribers = Atomics.load(this.words, Word.MaxSubscribers);
    this.generation = Atomics.load(this.words, Word.Generation);
    if (
      this.slots < 2 ||
      this.slotBytes < 0 ||
      this.maxSubscribers < 1 ||
      segmentBytes(this.slotBytes, this.slots, this.maxSubscribers) > buffer.byteLength
    ) {
      throw new IncompatibleError(`topic segment ${name}`, 'its geometry does not fit its size');
    }
    this.#head = new BigInt64Array(buffer, HEAD_OFFSET, 1);
    this.parked = new Int32Array(buffer, PARKED_OFFSET, this.maxSubscribers);
    this.#slotsAt = slotsOffset(this.maxSubscribers);
    this.#stride = slotStride(this.slotBytes);
    this.#bytes = new Uint8Array(buffer);
    // Views over every slot header at once: slot i's seq is word (at + i*stride)/4.
    this.#slotWords = new Int32Array(buffer, this.#slotsAt);
    this.#slotRevisions = new BigInt64Array(buffer, this.#slotsAt, (buffer.byteLength - this.#slotsAt) >> 3);
  }

  /**
   * Creates generation `generation` of a topic, exclusively. A segment of that name left behind is removed
   * first: the caller holds the topic's lock, so nobody else can be creating it.
   */
  static create(topic: string, generation: number, geometry: Geometry, mode: number): TopicSegment {
    const name = segmentName(topic, generation);
    const size = segmentBytes(geometry.slotBytes, geometry.slots, geometry.maxSubscribers);
    for (let attempt = 0; ; attempt++) {
      let buffer: SharedArrayBuffer;
      try {
        buffer = shm.open(name, { create: true, exclusive: true, size, mode }).buffer;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 2) {
          unlinkQuietly(name);
          continue;
        }
        throw mapError(`topic segment ${name} create`, error);
      }
      const words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
      words[Word.Version] = TOPIC_LAYOUT_VERSION;
      words[Word.Generation] = generation;
      words[Word.SlotBytes] = geometry.slotBytes;
      words[Word.Slots] = geometry.slots;
      words[Word.MaxSubscribers] = geometry.maxSubscribers;
      words[Word.Pid] = process.pid;
      words[Word.Flags] = geometry.locked ? FLAG_LOCKED_WRITERS : 0;
      // The magic goes last: a reader that sees it sees the rest.
      Atomics.store(words, Word.Magic, TOPIC_MAGIC);
      return new TopicSegment(topic, name, buffer);
    }
  }

  /** Maps an existing generation. `owned`: refuse one that another user made (a publisher adopting it). */
  static open(topic: string, generation: number, owned = false): TopicSegment {
    const name = segmentName(topic, generation);
    if (owned) {
      const uid = process.getuid?.();
      let stat;
      try {
        stat = shm.stat(name);
      } catch (error) {
        throw mapError(`topic segment ${name} stat`, error);
      }
      if (uid !== undefined && stat.uid !== uid)
        throw new PermissionError(`topic segment ${name} belongs to uid ${stat.uid}`);
    }
    let buffer: SharedArrayBuffer;
    try {
      buffer = shm.open(name, { create: false }).buffer;
    } catch (error) {
      throw mapError(`topic segment ${name} open`, error);
    }
    return new TopicSegment(topic, name, buffer);
  }

  /** The newest generation of a topic that can be mapped, or undefined when none exists. */
  static openLatest(topic: string, owned = false): TopicSegment | undefined {
    for (const generation of topicGenerations(topic)) {
      try {
        return TopicSegment.open(topic, generation, owned);
      } catch (error) {
        if (isIpcError(error) && (error.code === 'IPCX_ERR_NOT_FOUND' || error.code === 'IPCX_ERR_INCOMPATIBLE'))
          continue;
        throw error;
      }
    }
    return undefined;
  }

  get head(): number {
    return Number(Atomics.load(this.#head, 0));
  }

  get nextGeneration(): number {
    return Atomics.load(this.words, Word.NextGeneration);
  }

  get locked(): boolean {
    return (Atomics.load(this.words, Word.Flags) & FLAG_LOCKED_WRITERS) !== 0;
  }

  get pid(): number {
    return Atomics.load(this.words, Word.Pid);
  }

  /** Revisions a reader can still ask for: the slot after HEAD may be in the middle of a write. */
  get kept(): number {
    return this.slots - 1;
  }

  /** The oldest revision still kept (0 when nothing was published). */
  get oldest(): number {
    const head = this.head;
    return head === 0 ? 0 : Math.max(1, head - this.kept + 1);
  }

  /** Subscribers connected, as the publisher counts them. */
  get subscribers(): number {
    return Atomics.load(this.words, Word.Subscribers);
  }

  set subscribers(count: number) {
    Atomics.store(this.words, Word.Subscribers, count);
  }

  /** The futex word sleeping readers wait on. */
  get wakeSeq(): number {
    return Atomics.load(this.words, Word.WakeSeq);
  }

  /** Bumps the futex word after a write (or a new generation) and wakes its sleepers when `wake`. */
  ring(wake: boolean): void {
    Atomics.add(this.words, Word.WakeSeq, 1);
    if (wake) futex.notify(this.words, Word.WakeSeq);
  }

  /** Tells readers of this generation to move on to `generation` (stored last, after it is complete). */
  supersede(generation: number): void {
    Atomics.store(this.words, Word.NextGeneration, generation);
  }

  /** Marks this process as the writer, for `listTopics`. */
  claim(): void {
    Atomics.store(this.words, Word.Pid, process.pid);
  }

  /** Writes `bytes` as `revision` (HEAD + 1, or a copied revision during a takeover) and moves HEAD to it. */
  write(revision: number, bytes: Uint8Array): void {
    if (bytes.length > this.slotBytes)
      throw new RangeError(`${bytes.length} bytes do not fit a slot of ${this.slotBytes}`);
    const rel = (revision % this.slots) * this.#stride;
    const seqIndex = rel >> 2;
    const seq = Atomics.load(this.#slotWords, seqIndex);
    // Odd: readers of this slot that overlap the write retry.
    Atomics.store(this.#slotWords, seqIndex, (seq + 1) | 0);
    this.#bytes.set(bytes, this.#slotsAt + rel + SLOT_HEADER_BYTES);
    Atomics.store(this.#slotWords, seqIndex + 1, bytes.length);
    Atomics.store(this.#slotRevisions, (rel >> 3) + 1, BigInt(revision));
    Atomics.store(this.#slotWords, seqIndex, (seq + 2) | 0);
    Atomics.store(this.#head, 0, BigInt(revision));
  }

  /**
   * A consistent copy of the slot that holds `revision`, or what the slot holds instead: `'gone'` when it was
   * overwritten by a newer revision, `'missing'` when it does not hold it (not written, or torn by a dead writer).
   */
  read(revision: number): RawRevision | 'gone' | 'missing' {
    const at = (revision % this.slots) * this.#stride;
    const seqIndex = at >> 2;
    const revIndex = (at >> 3) + 1;
    let oddSince = 0;
    for (;;) {
      const before = Atomics.load(this.#slotWords, seqIndex);
      if ((before & 1) === 1) {
        // Being written: with a live writer, for a moment (a copy); with a dead one, for ever (not kept then).
        const now = performance.now();
        if (oddSince === 0) oddSince = now;
        else if (now - oddSince > 20) return 'missing';
        continue;
      }
      const stored = Number(Atomics.load(this.#slotRevisions, revIndex));
      const length = Atomics.load(this.#slotWords, seqIndex + 1);
      if (stored !== revision || length > this.slotBytes || length < 0) {
        const after = Atomics.load(this.#slotWords, seqIndex);
        if (after !== before) continue;
        return stored > revision ? 'gone' : 'missing';
      }
      const start = this.#slotsAt + at + SLOT_HEADER_BYTES;
      const bytes = this.#bytes.slice(start, start + length);
      const after = ORDERED_LOADS
        ? Atomics.load(this.#slotWords, seqIndex)
        : Atomics.compareExchange(this.#slotWords, seqIndex, before, before);
      if (after === before) return { revision, bytes };
    }
  }

  /** A consistent copy of the latest revision, or undefined before the first. */
  readLatest(): RawRevision | undefined {
    for (;;) {
      const head = this.head;
      if (head === 0) return undefined;
      const got = this.read(head);
      if (typeof got === 'object') return got;
      // Overwritten while we read: a newer HEAD is there; read that one.
      if (this.head === head) return undefined; // torn by a dead writer and nothing newer: nothing readable
    }
  }

  /** Removes this generation's name (mappings stay valid). Missing names are ignored. */
  unlink(): void {
    unlinkQuietly(this.name);
  }
}

/** Removes a segment name, ignoring one that is already gone. */
export function unlinkQuietly(name: string): void {
  try {
    shm.unlink(name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw fromSystemError(`topic segment ${name} unlink`, error);
  }
}
