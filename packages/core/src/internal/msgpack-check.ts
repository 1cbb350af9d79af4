/**
 * A check of msgpack bytes before msgpackr reads them: the default codec accepts only what it produces.
 *
 * msgpackr decodes more than our packer writes: the reserved byte 0xc1 comes out as its internal `C1Type`
 * object, and it knows extension types that we never write (string bundles 0x62, structured-clone ids and
 * pointers 0x69/0x70) whose payloads steer its reader. A hostile peer could hand such values to the
 * application. This walk refuses them before decoding.
 *
 * The walk is linear and needs no nesting counts: every msgpack token says how long it is, and container
 * headers are followed inline by their elements, so skipping token by token visits every token exactly
 * once. msgpackr's records fit this too: a record definition is the fixext1 `0xd4 0x72 id` followed inline
 * by its keys and values, and a record reference is one byte of 0x40-0x7f (a positive fixint to plain
 * msgpack) followed inline by its values. It costs one pass over the tokens (not the bytes: strings, binaries
 * and extension payloads are skipped by length), a few percent of a decode.
 */

/** Extension types our packer writes with `moreTypes` and records. */
export const PRODUCED_EXTENSIONS: ReadonlySet<number> = new Set<number>([
  0x00, // undefined (fixext1 0, 0)
  0x42, // 'B' BigInt (useBigIntExtension)
  0x65, // 'e' Error
  0x72, // 'r' record definition
  0x73, // 's' Set
  0x74, // 't' typed array, ArrayBuffer, DataView
  0x78, // 'x' RegExp
  0xff, // -1: Date (timestamp)
]);

// Bytes a token takes beyond its first byte, for the fixed-size tokens 0xc0-0xdf (-1: variable or refused).
const FIXED = new Int8Array(32).fill(-1);
FIXED[0xc0 - 0xc0] = 0; // nil
FIXED[0xc2 - 0xc0] = 0; // false
FIXED[0xc3 - 0xc0] = 0; // true
FIXED[0xca - 0xc0] = 4; // float32
FIXED[0xcb - 0xc0] = 8; // float64
FIXED[0xcc - 0xc0] = 1; // uint8
FIXED[0xcd - 0xc0] = 2;
FIXED[0xce - 0xc0] = 4;
FIXED[0xcf - 0xc0] = 8;
FIXED[0xd0 - 0xc0] = 1; // int8
FIXED[0xd1 - 0xc0] = 2;
FIXED[0xd2 - 0xc0] = 4;
FIXED[0xd3 - 0xc0] = 8;
FIXED[0xdc - 0xc0] = 2; // array16 (elements follow inline)
FIXED[0xdd - 0xc0] = 4;
FIXED[0xde - 0xc0] = 2; // map16
FIXED[0xdf - 0xc0] = 4;

/**
 * Why `bytes[0..length)` is not msgpack that our packer could have written, or undefined when it may be.
 * Not a full validation (lengths of containers are left to msgpackr, which throws on a short message).
 */
export function refusedMsgpack(
  bytes: Uint8Array,
  length: number,
  extensions: ReadonlySet<number> = PRODUCED_EXTENSIONS,
  twoByteRecords = false,
): string | undefined {
  let i = 0;
  while (i < length) {
    const token = bytes[i]!;
    if (token < 0xc0) {
      if (token >= 0xa0)
        i += 1 + (token & 0x1f); // fixstr
      else i += 1; // fixint, record reference, fixmap, fixarray
      continue;
    }
    if (token >= 0xe0) {
      i += 1; // negative fixint
      continue;
    }
    const fixed = FIXED[token - 0xc0]!;
    if (fixed >= 0) {
      i += 1 + fixed;
      continue;
    }
    let size: number;
    let header: number;
    let extension = -1;
    switch (token) {
      case 0xc1:
        return `the reserved byte 0xc1 at offset ${i}`;
      case 0xc4: // bin8
      case 0xd9: // str8
        if (i + 1 >= length) return truncated(i);
        size = bytes[i + 1]!;
        header = 2;
        break;
      case 0xc5:
      case 0xda:
        if (i + 2 >= length) return truncated(i);
        size = (bytes[i + 1]! << 8) | bytes[i + 2]!;
        header = 3;
        break;
      case 0xc6:
      case 0xdb:
        if (i + 4 >= length) return truncated(i);
        size = read32(bytes, i + 1);
        header = 5;
        break;
      case 0xc7: // ext8
        if (i + 2 >= length) return truncated(i);
        size = bytes[i + 1]!;
        extension = bytes[i + 2]!;
        header = 3;
        break;
      case 0xc8:
        if (i + 3 >= length) return truncated(i);
        size = (bytes[i + 1]! << 8) | bytes[i + 2]!;
        extension = bytes[i + 3]!;
        header = 4;
        break;
      case 0xc9:
        if (i + 5 >= length) return truncated(i);
        size = read32(bytes, i + 1);
        extension = bytes[i + 5]!;
        header = 6;
        break;
      default: // 0xd4-0xd8: fixext 1, 2, 4, 8, 16
        if (i + 1 >= length) return truncated(i);
        size = 1 << (token - 0xd4);
        extension = bytes[i + 1]!;
        header = 2;
        break;
    }
    if (extension >= 0 && !extensions.has(extension)) {
      return `extension type 0x${extension.toString(16).padStart(2, '0')} at offset ${i}, which this codec never writes`;
    }
    if (extension === 0x72 && token !== 0xd4 && !(twoByteRecords && token === 0xd5))
      return `a record definition of a form this codec never writes at offset ${i}`;
    i += header + size;
  }
  return i === length ? undefined : truncated(length);
}

function read32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function truncated(at: number): string {
  return `a token at offset ${at} runs past the end of the payload`;
}
