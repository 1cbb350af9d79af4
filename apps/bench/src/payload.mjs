// The two payload kinds of every row: raw bytes of the nominal size, and a typical application object
// whose encoding by ipcx's default codec (msgpack) is about the nominal size.
import { msgpackCodec } from '@ipcx/core';

/** Nominal message sizes, in bytes. */
export const SIZES = [64, 1024, 64 * 1024];

/** `size` bytes with a recognisable pattern (not zeros, which some paths could treat specially). */
export function rawPayload(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

/**
 * An event as a service would send it: a few scalar fields, a nested object, and a list of line items
 * that grows until the msgpack encoding reaches `size` bytes (the 64-byte object has no items).
 * Deterministic, so that every process builds the same object.
 */
export function typicalObject(size) {
  const small = { id: 1001, type: 'order.created', at: 1_700_000_000_123, ok: true, source: 'web-checkout' };
  if (size <= 64) return small;
  const item = (i) => ({
    sku: `SKU-${String(i).padStart(5, '0')}`,
    qty: (i % 7) + 1,
    price: 9.99 + (i % 13),
    note: i % 3 === 0 ? 'gift' : '',
  });
  const build = (count) => ({
    ...small,
    user: { id: 42, name: 'Ada Lovelace', roles: ['admin', 'ops'] },
    items: Array.from({ length: count }, (_, i) => item(i)),
  });
  // The fewest items that reach the size: double, then bisect.
  let high = 1;
  while (encodedSize(build(high)) < size) high *= 2;
  let low = 0;
  while (high - low > 1) {
    const mid = (low + high) >> 1;
    if (encodedSize(build(mid)) < size) low = mid;
    else high = mid;
  }
  return build(high);
}

/** Bytes of `value` through the default codec. */
export function encodedSize(value) {
  return msgpackCodec.encode(value).length;
}

/** The payload of a row: raw bytes or the typical object, and the bytes it counts for in MB/s. */
export function payloadFor(kind, size) {
  const key = `${kind}/${size}`;
  if (!cache.has(key)) {
    if (kind === 'raw') cache.set(key, { payload: rawPayload(size), bytes: size });
    else {
      const payload = typicalObject(size);
      cache.set(key, { payload, bytes: encodedSize(payload) });
    }
  }
  return cache.get(key);
}

const cache = new Map();
