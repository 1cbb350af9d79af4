import { Packr, Unpackr, type Options as MsgpackrOptions } from 'msgpackr';
import { BadFrameError } from './errors.js';
import { PRODUCED_EXTENSIONS, refusedMsgpack } from './internal/msgpack-check.js';

/**
 * Turns messages into bytes and back. Every channel takes one (`msgpackCodec` by default).
 *
 * `encode` may return a view of a buffer the codec reuses: use the bytes before the next call on
 * the same codec. `decode` must not keep references into `bytes` when `transient` is true
 * (the transport reuses that memory, e.g. a ring slot); otherwise it may hand out views.
 * A codec throws `BadFrameError` for bytes it cannot decode.
 */
export interface Codec<T = unknown> {
  /** A short name for errors and reports, e.g. 'msgpack'. */
  readonly name: string;
  encode(value: T): Uint8Array;
  /**
   * Encodes straight into `target` (a ring slot, an outgoing buffer). Returns the number of bytes
   * written, or, when the encoding does not fit, the encoded bytes so that the caller can wait for
   * room without encoding twice.
   */
  encodeInto(value: T, target: Uint8Array): number | Uint8Array;
  decode(bytes: Uint8Array, transient?: boolean): T;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Up to this length V8 keeps a typed array's bytes on its heap, where `slice` is cheapest. */
const ON_HEAP_BYTES = 64;

/** Copies up to this length share a slab; longer ones get memory of their own. */
const SLAB_COPY_BYTES = 4096;
const SLAB_BYTES = 32 * 1024;
let slab: ArrayBufferLike = new ArrayBuffer(0);
let slabUsed = 0;

/**
 * A copy of `bytes` that the caller owns, as a plain `Uint8Array`. Up to 64 bytes V8 keeps it in its heap.
 * Up to 4 KiB it is cut from a 32 KiB slab of uninitialised memory, at an 8-byte boundary, as Node's Buffer
 * pool does for small Buffers but without building a Buffer per copy: 1 KiB copied in 130 ns, against 280 ns
 * through `Buffer.allocUnsafe` and 1.3 µs through `slice` (a zero-filled ArrayBuffer outside V8's heap).
 * Longer copies get uninitialised memory of their own. Like a pooled Buffer's, the copy's `.buffer` may be
 * larger than the copy and shared with other copies (one kept copy keeps its 32 KiB slab alive).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  if (n <= ON_HEAP_BYTES) return new Uint8Array(bytes);
  let copy: Uint8Array;
  if (n <= SLAB_COPY_BYTES) {
    if (slabUsed + n > slab.byteLength) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES).buffer;
      slabUsed = 0;
    }
    copy = new Uint8Array(slab, slabUsed, n);
    slabUsed = (slabUsed + n + 7) & ~7;
  } else {
    const own = Buffer.allocUnsafeSlow(n);
    copy = new Uint8Array(own.buffer, own.byteOffset, n);
  }
  copy.set(bytes);
  return copy;
}

function copyInto(bytes: Uint8Array, target: Uint8Array): number | Uint8Array {
  if (bytes.length > target.length) return bytes;
  target.set(bytes);
  return bytes.length;
}

function badFrame(codec: string, error: unknown): BadFrameError {
  return new BadFrameError(`${codec} could not decode the payload`, { cause: error });
}

/** Payloads up to this size are decoded from a copy in a reused buffer (see `decode`). */
const DECODE_SCRATCH_BYTES = 16 * 1024;

// msgpackr refuses a caller's buffer with less room than this and allocates its own instead.
const MSGPACKR_MIN_TARGET = 2048 + 10;

/** Options of `createMsgpackCodec`: msgpackr's, plus what the decoder accepts beyond what it writes. */
export type MsgpackCodecOptions = MsgpackrOptions & {
  /**
   * Extension types registered with msgpackr's `addExtension` that this codec may decode. Every other type
   * that msgpackr knows but this codec never writes is refused (see `createMsgpackCodec`).
   */
  extensionTypes?: readonly number[];
};

/**
 * A msgpack codec built on msgpackr with a reused packer. Plain objects are packed as records
 * (keys written once per message, as msgpackr's extension type 0x72); Date, Map, Set, BigInt (any
 * size), typed arrays, Error and RegExp round-trip. Messages are self-contained: no state is shared
 * between messages. For decoders other than msgpackr, pass `{ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true }`.
 *
 * The decoder accepts only what the encoder produces: the reserved byte 0xc1 (alone or nested) and any
 * extension type it does not write (msgpackr's string bundles and structured-clone references among them,
 * unless the options turn those on) are `BadFrameError`, so a peer cannot hand msgpackr's internals to the
 * application.
 */
export function createMsgpackCodec(codecOptions: MsgpackCodecOptions = {}): Codec<unknown> {
  const { extensionTypes, ...options } = codecOptions;
  const extensions = new Set(PRODUCED_EXTENSIONS);
  for (const type of extensionTypes ?? []) {
    if (!Number.isInteger(type) || type < -128 || type > 255)
      throw new RangeError(`extensionTypes: ${type} is not an extension type`);
    extensions.add(type & 0xff);
  }
  if (options.structuredClone === true) extensions.add(0x69).add(0x70);
  // String bundles reference their strings with 0xc1: a codec that writes them cannot refuse the byte.
  const check = options.bundleStrings !== true;
  const twoByteRecords =
    (options.maxSharedStructures ?? 0) > 32 ||
    (options.maxOwnStructures ?? (options.structures ? 32 : 64)) + (options.maxSharedStructures ?? 0) > 64;
  const shared: MsgpackrOptions = {
    structuredClone: false,
    useRecords: true,
    moreTypes: true,
    mapsAsObjects: false,
    useBigIntExtension: true,
    int64AsType: 'bigint',
    copyBuffers: true,
    ...options,
  };
  const packr = new Packr(shared);
  const unpackr = new Unpackr(shared);
  const home = Buffer.allocUnsafeSlow(64 * 1024);
  packr.useBuffer(home);
  const copies = shared.copyBuffers === true;
  const scratch = Buffer.allocUnsafeSlow(DECODE_SCRATCH_BYTES);
  return {
    name: 'msgpack',
    encode: (value) => packr.pack(value),
    encodeInto(value, target) {
      if (target.length < MSGPACKR_MIN_TARGET) return copyInto(packr.pack(value), target);
      packr.useBuffer(asBuffer(target));
      try {
        const bytes = packr.pack(value);
        // msgpackr moves to a buffer of its own when the value outgrows the target.
        return bytes.buffer === target.buffer && bytes.byteOffset === target.byteOffset ? bytes.length : bytes;
      } finally {
        packr.useBuffer(home);
      }
    },
    decode(bytes, transient) {
      if (bytes.length === 0) throw new BadFrameError('an empty msgpack payload');
      const refused = check ? refusedMsgpack(bytes, bytes.length, extensions, twoByteRecords) : undefined;
      if (refused !== undefined) throw new BadFrameError(`msgpack payload with ${refused}`);
      try {
        // msgpackr makes a DataView for every new source it sees, and reads shared memory (a ring
        // slot) at about half speed: copying a small payload into one reused Buffer is cheaper than
        // both (a 65-byte object decodes in 0.8 µs instead of 1.2-1.9 µs). Only while decoded
        // values never point into the source (copyBuffers).
        if (copies && bytes.length <= scratch.length) {
          scratch.set(bytes);
          return unpackr.unpack(scratch, bytes.length);
        }
        // Without copyBuffers, decoded binaries are views of the source: never of memory the transport reuses.
        return unpackr.unpack(asBuffer(transient === true && !copies ? copyBytes(bytes) : bytes));
      } catch (error) {
        throw badFrame('msgpack', error);
      }
    },
  };
}

/** The default codec: msgpack through msgpackr (see `createMsgpackCodec`). */
export const msgpackCodec: Codec<unknown> = createMsgpackCodec();

/**
 * Bytes in, bytes out. `encode` hands the caller's bytes through without a copy; `decode` hands out
 * a view of what the transport received, or a copy when that memory is reused.
 */
export const rawCodec: Codec<Uint8Array> = {
  name: 'raw',
  encode(value) {
    if (!(value instanceof Uint8Array)) throw new TypeError('rawCodec sends Uint8Array (or Buffer) messages');
    return value;
  },
  encodeInto(value, target) {
    return copyInto(rawCodec.encode(value), target);
  },
  decode: (bytes, transient) => (transient ? copyBytes(bytes) : bytes),
};

/** UTF-8 strings. */
export const stringCodec: Codec<string> = {
  name: 'string',
  encode(value) {
    if (typeof value !== 'string') throw new TypeError('stringCodec sends string messages');
    return Buffer.from(value, 'utf8');
  },
  encodeInto(value, target) {
    if (typeof value !== 'string') throw new TypeError('stringCodec sends string messages');
    // Worst case 3 bytes per UTF-16 unit: write in place when that surely fits.
    if (value.length * 3 <= target.length) return asBuffer(target).write(value, 0, 'utf8');
    return copyInto(Buffer.from(value, 'utf8'), target);
  },
  decode: (bytes) => asBuffer(bytes).toString('utf8'),
};

/** JSON text in UTF-8: for peers that speak JSON. Only what JSON can represent round-trips. */
export const jsonCodec: Codec<unknown> = {
  name: 'json',
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('jsonCodec cannot encode undefined or a function');
    return Buffer.from(text, 'utf8');
  },
  encodeInto(value, target) {
    return copyInto(jsonCodec.encode(value), target);
  },
  decode(bytes) {
    try {
      return JSON.parse(asBuffer(bytes).toString('utf8'));
    } catch (error) {
      throw badFrame('json', error);
    }
  },
};
