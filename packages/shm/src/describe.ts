/**
 * What an ipcx segment holds, read from its bytes without attaching to it: the operator's view (`ipcx inspect`,
 * `ipcx ls`). It reads a snapshot (the bytes may change while it reads) and never writes.
 */
import {
  HEADER_BYTES,
  Header,
  Kind,
  MAGIC,
  RING_CONTROL_BYTES,
  RING_HEAD,
  RING_TAIL,
  STATE_LENGTH,
  STATE_SEQ,
  VERSION,
  channelBytes,
} from './layout.js';

/** The description `describeSegment` returns. */
export interface SegmentDescription {
  /** True when the bytes start with ipcx's magic number. */
  readonly ipcx: boolean;
  /** Layout version found, and whether this library reads it. */
  readonly version?: number;
  readonly compatible?: boolean;
  /** `channel`, `state`, `locks`, `fan-in` or `unknown`. */
  readonly kind?: 'channel' | 'state' | 'locks' | 'fan-in' | 'unknown';
  /** Pids written by the ends (labels: liveness is told by locks, not by these). */
  readonly pids?: readonly [number, number];
  /** Channels, per direction: bytes written and not yet released (the consumer releases lazily, every quarter ring, so an upper bound), the ring capacity, bytes ever written (mod 2^32). */
  readonly rings?: readonly {
    readonly direction: 'a->b' | 'b->a';
    readonly used: number;
    readonly capacity: number;
    readonly written: number;
  }[];
  /** Shared state: the revision (completed writes), whether a write is in progress, the value's length. */
  readonly state?: {
    readonly revision: number;
    readonly writing: boolean;
    readonly length: number;
    readonly capacity: number;
  };
}

const KINDS: Record<number, SegmentDescription['kind']> = {
  [Kind.Channel]: 'channel',
  [Kind.State]: 'state',
  [Kind.Locks]: 'locks',
  [Kind.FanIn]: 'fan-in',
};

/** Reads `length` bytes at `offset` of a segment (fewer at its end). */
export type SegmentReader = (offset: number, length: number) => Uint8Array;

function int32(bytes: Uint8Array): Int32Array {
  // Copy: a view of a Buffer from Node's pool may not be 4-byte aligned.
  const copy = new Uint8Array(bytes.byteLength & ~3);
  copy.set(bytes.subarray(0, copy.byteLength));
  return new Int32Array(copy.buffer);
}

/**
 * Describes a segment from its bytes, or from a reader of its bytes (so that a 1 GiB ring is not read whole):
 * `describeSegment((offset, length) => bytesOfFileAt(offset, length))`.
 */
export function describeSegment(source: Uint8Array | SegmentReader): SegmentDescription {
  const read: SegmentReader =
    typeof source === 'function' ? source : (offset, length) => source.subarray(offset, offset + length);
  const words = int32(read(0, HEADER_BYTES + RING_CONTROL_BYTES));
  if (words.length < HEADER_BYTES / 4 || words[Header.Magic] !== MAGIC) return { ipcx: false };
  const version = words[Header.Version]!;
  const kind = KINDS[words[Header.Kind]!] ?? 'unknown';
  const size = words[Header.Size]!;
  const base: SegmentDescription = {
    ipcx: true,
    version,
    compatible: version === VERSION,
    kind,
    pids: [words[Header.PidA]!, words[Header.PidB]!],
  };
  if (version !== VERSION) return base;
  if (kind === 'channel' && size > 0) {
    const ring = (control: Int32Array, direction: 'a->b' | 'b->a') => {
      const head = control[RING_HEAD] ?? 0;
      const tail = control[RING_TAIL] ?? 0;
      return { direction, used: (head - tail) >>> 0, capacity: size, written: head >>> 0 };
    };
    const rings = [ring(words.subarray(HEADER_BYTES / 4), 'a->b')];
    const second = int32(read(channelBytes(size) - RING_CONTROL_BYTES - size, RING_CONTROL_BYTES));
    if (second.length * 4 >= RING_CONTROL_BYTES) rings.push(ring(second, 'b->a'));
    return { ...base, rings };
  }
  if (kind === 'state') {
    const seq = words[STATE_SEQ] ?? 0;
    return {
      ...base,
      state: {
        revision: Math.floor((seq >>> 0) / 2),
        writing: (seq & 1) === 1,
        length: words[STATE_LENGTH] ?? 0,
        capacity: size,
      },
    };
  }
  return base;
}
