import type { WaitOptions } from './channel.js';
import type { IpcError } from './errors.js';
import { waitFor, type Settle } from './wait.js';

/**
 * The receiving half of a push-style transport: messages that arrived and the receivers waiting for them.
 * Transports push what the kernel delivered; `receive` hands it out in order, one message to the
 * oldest waiter. After `end(error)` the buffered messages are still handed out, then `error` is thrown;
 * after `fail(error)` they are dropped. Building block for transport authors.
 */
export class Inbox<T> {
  #items: T[] = [];
  #head = 0;
  /** The oldest waiting receiver; the others (rarely any) wait in `#more`, oldest first. */
  #first: Settle<T> | undefined;
  readonly #more = new Set<Settle<T>>();
  #error: IpcError | undefined;

  /** Messages buffered and not yet received. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Receivers waiting for a message. */
  get waiting(): number {
    return (this.#first === undefined ? 0 : 1) + this.#more.size;
  }

  /** True once `end` or `fail` was called. */
  get ended(): boolean {
    return this.#error !== undefined;
  }

  /**
   * Delivers a message to the oldest waiting receiver (returns true), or buffers it (false).
   * Ignored once ended (false).
   */
  push(item: T): boolean {
    if (this.#error !== undefined) return false;
    const waiter = this.#next();
    if (waiter === undefined) {
      this.#items.push(item);
      return false;
    }
    waiter.resolve(item);
    return true;
  }

  /** The next buffered message, or undefined; throws the end error once ended and drained. */
  shift(): T | undefined {
    if (this.#head < this.#items.length) return this.#take();
    if (this.#error !== undefined) throw this.#error;
    return undefined;
  }

  /** The next message, waiting for one if none is buffered. */
  receive(what: string, options?: WaitOptions): Promise<T>;
  /**
   * The next message passed through `map` (e.g. a decoder), waiting for one if none is buffered. The promise
   * settles with what `map` returns, without a `then` of its own (one promise and one turn of the microtask
   * queue fewer). With `mapError`, an error (the inbox's end error, or what `map` throws) settles it with what
   * `mapError` returns instead, or rejects with what that throws. A timeout or an abort still rejects.
   */
  receive<R>(
    what: string,
    options: WaitOptions | undefined,
    map: (item: T) => R,
    mapError?: (error: unknown) => R,
  ): Promise<R>;
  receive<R>(
    what: string,
    options?: WaitOptions,
    map?: (item: T) => R,
    mapError?: (error: unknown) => R,
  ): Promise<R | T> {
    if (this.#head < this.#items.length) {
      if (map === undefined) return Promise.resolve(this.#take());
      try {
        return Promise.resolve(mapItem(this.#take(), map, mapError));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const ended = this.#error;
    if (ended !== undefined) {
      if (mapError === undefined) return Promise.reject(ended);
      try {
        return Promise.resolve(mapError(ended));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (options === undefined) {
      // Nothing can end this wait but a message or the inbox's end: no `waitFor`, no unregistering.
      return new Promise<R | T>((resolve, reject) => {
        this.#wait(map === undefined ? { resolve, reject } : new MappedWaiter(resolve, reject, map, mapError));
      });
    }
    if (map === undefined) {
      return waitFor<T>(what, options, (settle) => {
        this.#wait(settle);
        return () => this.#cancel(settle);
      });
    }
    return waitFor<R>(what, options, (settle) => {
      const waiter = new MappedWaiter(settle.resolve, settle.reject, map, mapError);
      this.#wait(waiter);
      return () => this.#cancel(waiter);
    });
  }

  #wait(waiter: Settle<T>): void {
    if (this.#first === undefined && this.#more.size === 0) this.#first = waiter;
    else this.#more.add(waiter);
  }

  #cancel(waiter: Settle<T>): void {
    if (this.#first === waiter) this.#first = undefined;
    else this.#more.delete(waiter);
  }

  /** Removes and returns the oldest waiter, if any. */
  #next(): Settle<T> | undefined {
    const first = this.#first;
    if (first !== undefined) {
      this.#first = undefined;
      return first;
    }
    for (const waiter of this.#more) {
      this.#more.delete(waiter);
      return waiter;
    }
    return undefined;
  }

  /**
   * Rejects only the oldest waiting receiver with `error` (a message that could not be decoded): the
   * inbox stays open for the next one. Returns false when nobody waited.
   */
  rejectOne(error: IpcError): boolean {
    const waiter = this.#next();
    waiter?.reject(error);
    return waiter !== undefined;
  }

  /** No more messages will come: hand out what is buffered, then reject with `error`. */
  end(error: IpcError): void {
    this.#error ??= error;
    if (this.size === 0) this.#rejectWaiters();
  }

  /** Drop what is buffered and reject every receive with `error` from now on. */
  fail(error: IpcError): void {
    this.#error ??= error;
    this.#items = [];
    this.#head = 0;
    this.#rejectWaiters();
  }

  #rejectWaiters(): void {
    const error = this.#error!;
    for (let waiter = this.#next(); waiter !== undefined; waiter = this.#next()) waiter.reject(error);
  }

  #take(): T {
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

/** A waiting receive of `Inbox.receive` with `map`: settles its promise with the mapped message or error. */
class MappedWaiter<T, R> implements Settle<T> {
  constructor(
    private readonly settleResolve: (value: R) => void,
    private readonly settleReject: (error: unknown) => void,
    private readonly map: (item: T) => R,
    private readonly mapError: ((error: unknown) => R) | undefined,
  ) {}

  resolve(item: T): void {
    let value: R;
    try {
      value = mapItem(item, this.map, this.mapError);
    } catch (error) {
      this.settleReject(error);
      return;
    }
    this.settleResolve(value);
  }

  reject(error: unknown): void {
    if (this.mapError === undefined) {
      this.settleReject(error);
      return;
    }
    let value: R;
    try {
      value = this.mapError(error);
    } catch (thrown) {
      this.settleReject(thrown);
      return;
    }
    this.settleResolve(value);
  }
}

/** `map(item)`; what it throws goes to `mapError` when there is one. */
function mapItem<T, R>(item: T, map: (item: T) => R, mapError: ((error: unknown) => R) | undefined): R {
  if (mapError === undefined) return map(item);
  try {
    return map(item);
  } catch (error) {
    return mapError(error);
  }
}

/**
 * Callers waiting for a condition (room to send, a drain, a connection); `wake` releases them in order.
 * Building block for transport authors.
 */
export class WaitList {
  readonly #waiters = new Set<Settle<void>>();

  /** Callers waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Waits until woken, aborted or timed out. */
  wait(what: string, options?: WaitOptions): Promise<void> {
    return waitFor<void>(what, options, (settle) => {
      this.#waiters.add(settle);
      return () => this.#waiters.delete(settle);
    });
  }

  /** Wakes the oldest waiter; returns false if there was none. */
  wakeOne(): boolean {
    for (const waiter of this.#waiters) {
      this.#waiters.delete(waiter);
      waiter.resolve();
      return true;
    }
    return false;
  }

  /** Wakes every waiter. */
  wakeAll(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.resolve();
  }

  /** Rejects every waiter with `error`. */
  failAll(error: unknown): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}
