import smd from 'shared-memory-datastructures';
import { UnsupportedError, msgpackCodec, type Codec } from '@ipcx/core';

const { ShareableMap } = smd;

/** What `SharedMap.attach` needs in a worker thread. */
export interface SharedMapHandle {
  readonly index: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
}

function serializer<V>(codec: Codec<V>): { encode(value: V): ArrayBuffer; decode(buffer: ArrayBuffer): V } {
  return {
    encode: (value) => {
      const bytes = codec.encode(value);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
    decode: (buffer) => codec.decode(new Uint8Array(buffer)),
  };
}

/**
 * A read-only map built once and then read by many worker threads without copying, on
 * shared-memory-datastructures' `ShareableMap` (a hash table in two SharedArrayBuffers). Values are
 * encoded with msgpack (so Date, Map, BigInt... survive); keys are strings.
 *
 * Only the build-once, read-many shape is offered, because that is where the library holds up (see the
 * README): it cannot delete, silently ignores a second `set` of a key, stores number and string keys
 * alike, and grows into new buffers that threads already holding the old ones never see. For state that
 * changes, use `SharedState` (one writer) instead.
 *
 * @example
 * ```ts
 * const routes = SharedMap.from(Object.entries(table));
 * new Worker(file, { workerData: routes.handle }); // worker: SharedMap.attach(workerData).get('/users')
 * ```
 */
export class SharedMap<V = unknown> implements Iterable<[string, V]> {
  readonly #map: InstanceType<typeof ShareableMap<string, V>>;

  private constructor(map: InstanceType<typeof ShareableMap<string, V>>) {
    this.#map = map;
  }

  /** Builds the map from entries (a later duplicate key wins, as with `new Map`). */
  static from<V>(entries: Iterable<readonly [string, V]>, options: { codec?: Codec<V> } = {}): SharedMap<V> {
    const unique = new Map<string, V>();
    for (const [key, value] of entries) {
      if (typeof key !== 'string') throw new TypeError(`SharedMap keys are strings, got ${typeof key}`);
      unique.set(key, value);
    }
    const codec = options.codec ?? (msgpackCodec as Codec<V>);
    // Size it for every entry up front: growing would move it to buffers no reader holds.
    let bytes = 0;
    for (const value of unique.values()) bytes += codec.encode(value).length;
    const average = Math.ceil(bytes / Math.max(unique.size, 1) / 4) * 4 + 64; // the library wants a multiple of 4
    const map = new ShareableMap<string, V>(Math.max(unique.size, 1), average, serializer(codec));
    for (const [key, value] of unique) map.set(key, value);
    return new SharedMap(map);
  }

  /** A reader over the same memory in another thread. */
  static attach<V>(handle: SharedMapHandle, options: { codec?: Codec<V> } = {}): SharedMap<V> {
    if (!(handle?.index instanceof SharedArrayBuffer) || !(handle.data instanceof SharedArrayBuffer)) {
      throw new TypeError('attach takes the `handle` of a SharedMap');
    }
    const map = new ShareableMap<string, V>(undefined, undefined, serializer(options.codec ?? (msgpackCodec as Codec<V>)));
    map.setBuffers(handle.index as unknown as ArrayBuffer, handle.data as unknown as ArrayBuffer);
    return new SharedMap(map);
  }

  /** What a worker needs to `attach`; send it with `postMessage` (nothing is copied). */
  get handle(): SharedMapHandle {
    const [index, data] = this.#map.getBuffers();
    if (!(index instanceof SharedArrayBuffer) || !(data instanceof SharedArrayBuffer)) {
      throw new UnsupportedError('SharedMap without SharedArrayBuffer');
    }
    return { index, data };
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.#map.entries();
  }
}
