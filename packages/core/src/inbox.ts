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
  readonly #waiters = new Set<Settle<T>>();
  #error: IpcError | undefined;

  /** Messages buffered and not yet received. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Receivers waiting for a message. */
  get waiting(): number {
    return this.#waiters.size;
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
    for (const waiter of this.#waiters) {
      this.#waiters.delete(waiter);
      waiter.resolve(item);
      return true;
    }
    this.#items.push(item);
    return false;
  }

  /** The next buffered message, or undefined; throws the end error once ended and drained. */
  shift(): T | undefined {
    if (this.#head < this.#items.length) return this.#take();
    if (this.#error !== undefined) throw this.#error;
    return undefined;
  }

  /** The next message, waiting for one if none is buffered. */
  receive(what: string, options?: WaitOptions): Promise<T> {
    if (this.#head < this.#items.length) return Promise.resolve(this.#take());
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return waitFor<T>(what, options, (settle) => {
      this.#waiters.add(settle);
      return () => this.#waiters.delete(settle);
    });
  }

  /**
   * Rejects only the oldest waiting receiver with `error` (a message that could not be decoded): the
   * inbox stays open for the next one. Returns false when nobody waited.
   */
  rejectOne(error: IpcError): boolean {
    for (const waiter of this.#waiters) {
      this.#waiters.delete(waiter);
      waiter.reject(error);
      return true;
    }
    return false;
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
    for (const waiter of this.#waiters) waiter.reject(error);
    this.#waiters.clear();
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
