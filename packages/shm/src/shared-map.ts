import smd from 'shared-memory-datastructures';
import { ClosedError, IncompatibleError, UnsupportedError, msgpackCodec, type Codec } from '@ipcx/core';
import { handleCodec } from './internal/options.js';

const { ShareableMap } = smd;

/** What `SharedMap.from` needs in a worker thread (from `handle()`). */
export interface SharedMapHandle {
  readonly index: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
  /** The name of the builder's codec. */
  readonly codec: string;
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
 * const routes = new SharedMap(Object.entries(table));
 * new Worker(file, { workerData: routes.handle() }); // worker: SharedMap.from(workerData).get('/users')
 * ```
 */
export class SharedMap<V = unknown> implements Iterable<[string, V]> {
  #map: InstanceType<typeof ShareableMap<string, V>> | undefined;
  readonly #codec: Codec<V>;

  /** Builds the map from entries (a later duplicate key wins, as with `new Map`). */
  constructor(entries: Iterable<readonly [string, V]>, options?: { codec?: Codec<V> });
  constructor(
    entries: Iterable<readonly [string, V]> | typeof FROM_HANDLE,
    options: { codec?: Codec<V> } = {},
    built?: InstanceType<typeof ShareableMap<string, V>>,
  ) {
    const codec = options.codec ?? (msgpackCodec as Codec<V>);
    this.#codec = codec;
    this.#map = entries === FROM_HANDLE ? built! : build(entries, codec);
  }

  /** A reader over the same memory in another thread; the builder's built-in codec is found by name. */
  static from<V>(handle: SharedMapHandle, options: { codec?: Codec<V> } = {}): SharedMap<V> {
    if (!(handle?.index instanceof SharedArrayBuffer) || !(handle.data instanceof SharedArrayBuffer)) {
      throw new IncompatibleError('the handle', "from takes what a SharedMap's handle() returned");
    }
    const codec = handleCodec(handle.codec, options.codec, 'shared map');
    const map = new ShareableMap<string, V>(undefined, undefined, serializer(codec));
    map.setBuffers(handle.index as unknown as ArrayBuffer, handle.data as unknown as ArrayBuffer);
    const Ctor = SharedMap as unknown as new (
      e: typeof FROM_HANDLE,
      o: { codec: Codec<V> },
      m: typeof map,
    ) => SharedMap<V>;
    return new Ctor(FROM_HANDLE, { codec }, map);
  }

  /** What a worker needs for `SharedMap.from`; send it with `postMessage` (nothing is copied). */
  handle(): SharedMapHandle {
    const [index, data] = this.#live().getBuffers();
    if (!(index instanceof SharedArrayBuffer) || !(data instanceof SharedArrayBuffer)) {
      throw new UnsupportedError('SharedMap without SharedArrayBuffer');
    }
    return { index, data, codec: this.#codec.name };
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#map === undefined;
  }

  /** Lets go of the memory here (other threads' maps keep it); later calls throw `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    this.#map = undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #live(): InstanceType<typeof ShareableMap<string, V>> {
    if (this.#map === undefined) throw new ClosedError('shared map');
    return this.#map;
  }

  get size(): number {
    return this.#live().size;
  }

  get(key: string): V | undefined {
    return this.#live().get(key);
  }

  has(key: string): boolean {
    return this.#live().has(key);
  }

  keys(): IterableIterator<string> {
    return this.#live().keys();
  }

  entries(): IterableIterator<[string, V]> {
    return this.#live().entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.#live().entries();
  }
}

const FROM_HANDLE: unique symbol = Symbol('from handle');

/** Builds the table from entries, sized for all of them up front. */
function build<V>(
  entries: Iterable<readonly [string, V]>,
  codec: Codec<V>,
): InstanceType<typeof ShareableMap<string, V>> {
  const unique = new Map<string, V>();
  for (const [key, value] of entries) {
    if (typeof key !== 'string') throw new TypeError(`SharedMap keys are strings, got ${typeof key}`);
    unique.set(key, value);
  }
  // Size it for every entry up front: growing would move it to buffers no reader holds.
  let bytes = 0;
  for (const value of unique.values()) bytes += codec.encode(value).length;
  const average = Math.ceil(bytes / Math.max(unique.size, 1) / 4) * 4 + 64; // the library wants a multiple of 4
  const map = new ShareableMap<string, V>(Math.max(unique.size, 1), average, serializer(codec));
  for (const [key, value] of unique) map.set(key, value);
  return map;
}
