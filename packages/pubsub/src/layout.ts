/**
 * The shared-memory layout of one generation of a topic (`/ipcx-topic-<topic>.<generation>`).
 *
 * ```
 * offset 0    header, 16 Int32 words (below): magic, layout version, generation, next generation, ...
 * offset 64   HEAD: the latest complete revision, a BigInt64 (0 = nothing published yet)
 * offset 128  PARKED: one Int32 word per subscriber slot (1 = that subscriber sleeps on the WAKE_SEQ futex)
 * then        SLOTS: `slots` slots of SLOT_HEADER + slotBytes each, every one 64-byte aligned:
 *               +0 Int32 seq       even: stable; odd: being written (a per-slot sequence lock)
 *               +4 Int32 length    bytes of the encoded value
 *               +8 BigInt64 revision  the revision the slot holds
 *               +64 the encoded value
 * ```
 *
 * Revision r lives in slot r % slots. The writer fills a slot under its sequence lock and only then stores HEAD,
 * so HEAD always names a complete slot: a writer killed in the middle of a write leaves the slot it was writing
 * odd, never the latest. There is always one slot more than the history kept, so the slot being written is never
 * one that a reader of the kept revisions needs.
 *
 * Wake-ups: a subscriber that found nothing new reads WAKE_SEQ, stores 1 in its PARKED word, reads HEAD again, and
 * sleeps (a futex wait on WAKE_SEQ, `futex.waitAsync` of @ipcx/native) only if HEAD did not move. The publisher stores
 * HEAD, bumps WAKE_SEQ, exchanges every PARKED word with 0, and makes one futex wake system call only if it found
 * a 1. Both sides use sequentially consistent atomics, so either the subscriber sees the new HEAD (or a changed
 * WAKE_SEQ, and its wait returns at once) or the publisher sees it parked: no lost wake-up, one system call per
 * publish at most however many subscribers sleep, and none while every subscriber keeps up by itself. The
 * topic's socket carries the rest (the hello, a new generation, goodbye) and its end tells that the publisher died.
 *
 * Growth: a value larger than `slotBytes` moves the topic to generation g+1 (a new segment with the kept history
 * copied). NEXT_GENERATION of the old segment is stored last; a reader checks it on every read and follows it.
 */

/** 'IPTS' */
export const TOPIC_MAGIC = 0x49505453;
export const TOPIC_LAYOUT_VERSION = 1;

/** Int32 word indexes of the header. */
export const enum Word {
  Magic = 0,
  Version = 1,
  Generation = 2,
  /** 0 while this generation is current; then the generation that replaced it. */
  NextGeneration = 3,
  SlotBytes = 4,
  Slots = 5,
  MaxSubscribers = 6,
  /** A label for people (`listTopics`), never proof of life. */
  Pid = 7,
  Flags = 8,
  /** Bumped after every write: the futex word sleeping subscribers wait on. */
  WakeSeq = 9,
  /** Subscribers connected (kept by the publisher): a subscriber spins only while they and the publisher fit the cores. */
  Subscribers = 10,
}

/** Flags word: several writers serialise their writes with the writers' lock file. */
export const FLAG_LOCKED_WRITERS = 1;

export const HEADER_BYTES = 64;
export const HEAD_OFFSET = 64;
export const PARKED_OFFSET = 128;
export const SLOT_HEADER_BYTES = 64;

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/** Where the slots start, for a segment with `maxSubscribers` parked words. */
export function slotsOffset(maxSubscribers: number): number {
  return PARKED_OFFSET + align64(maxSubscribers * 4);
}

/** Distance between two slots. */
export function slotStride(slotBytes: number): number {
  return SLOT_HEADER_BYTES + align64(slotBytes);
}

/** Size of a segment with this geometry. */
export function segmentBytes(slotBytes: number, slots: number, maxSubscribers: number): number {
  return slotsOffset(maxSubscribers) + slots * slotStride(slotBytes);
}
