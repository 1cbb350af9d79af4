import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { IncompatibleError, LimitError } from '@ipcx/core';
import { fromSystemError, registerKernelObject, type KernelObjectRegistration } from '@ipcx/core/transport';
import { shm } from '@ipcx/native';
import type { LinkSlot } from './link.js';

/**
 * Control slots: one 64-byte line of shared memory per supervised worker, written by the worker and read
 * by its parent without a message: a heartbeat counter (a hung event loop stops counting), the ready
 * word (the parent sleeps on it with a futex), and a pool worker's count of tasks started (so that the
 * tasks a dead worker never began can go to another worker instead of failing).
 *
 * Layout (Int32 words): a 16-word header (magic, version, slot count), then 16 words per slot. Each word
 * of a slot has one writer: BEATS, READY, STARTED by the worker; nothing by the parent but zeroing a
 * slot before handing it out.
 */
export const Word = {
  Beats: 0,
  Ready: 1,
  Started: 2,
} as const;
export const SLOT_WORDS = 16;
const HEADER_WORDS = 16;
const MAGIC = 0x49504358; // "IPCX"
const KIND_CONTROL = 0x4354524c; // "CTRL"
const VERSION = 1;

/** Word index of `word` in slot `index`. */
export function wordOf(index: number, word: number): number {
  return HEADER_WORDS + index * SLOT_WORDS + word;
}

/** Checks the header of a control area mapped from a link. */
export function controlView(buffer: SharedArrayBuffer): Int32Array {
  const view = new Int32Array(buffer);
  if (view.length < HEADER_WORDS || view[0] !== MAGIC || view[1] !== KIND_CONTROL || view[2] !== VERSION) {
    throw new IncompatibleError('control area of @ipcx/cluster', 'wrong magic, kind or version');
  }
  return view;
}

/** A block of control slots, in a SharedArrayBuffer (threads) or a named segment (processes). */
class ControlArea {
  readonly view: Int32Array;
  readonly #free: number[] = [];
  readonly #registration: KernelObjectRegistration | undefined;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly slots: number,
    readonly name?: string,
  ) {
    this.view = new Int32Array(buffer);
    this.view[1] = KIND_CONTROL;
    this.view[2] = VERSION;
    this.view[3] = slots;
    Atomics.store(this.view, 0, MAGIC);
    for (let i = slots - 1; i >= 0; i--) this.#free.push(i);
    if (name !== undefined) {
      this.#registration = registerKernelObject({
        kind: 'shm',
        name,
        owner: '@ipcx/cluster',
        unlink: () => unlinkQuietly(name),
      });
    }
  }

  acquire(): number {
    const index = this.#free.pop();
    if (index === undefined) throw new LimitError('control slots', `all ${this.slots} control slots are in use`);
    this.view.fill(0, wordOf(index, 0), wordOf(index + 1, 0));
    return index;
  }

  release(index: number): void {
    this.#free.push(index);
  }

  close(): void {
    if (this.name === undefined) return;
    this.#registration?.unregister();
    unlinkQuietly(this.name);
  }
}

function unlinkQuietly(name: string): void {
  try {
    shm.unlink(name);
  } catch {
    // Already gone.
  }
}

/** One slot handed to a spawned worker. */
export interface ControlSlot {
  readonly view: Int32Array;
  readonly index: number;
  readonly link: LinkSlot;
  release(): void;
}

/**
 * The control slots of one Supervisor or Pool. The thread area is a plain SharedArrayBuffer; the
 * process area a named segment, made on the first process spawn and unlinked on `close`.
 */
export class ControlProvider {
  #thread: ControlArea | undefined;
  #process: ControlArea | undefined;
  #closed = false;

  constructor(
    readonly slots: number,
    readonly heartbeat: number,
  ) {}

  slotFor(kind: 'thread' | 'process'): ControlSlot {
    if (this.#closed) throw new LimitError('control slots', 'the supervisor or pool that owns these workers is closed');
    const area =
      kind === 'thread' ? (this.#thread ??= this.#makeThreadArea()) : (this.#process ??= this.#makeProcessArea());
    const index = area.acquire();
    let released = false;
    return {
      view: area.view,
      index,
      link:
        area.name === undefined
          ? { buffer: area.buffer, index, heartbeat: this.heartbeat }
          : { name: area.name, index, heartbeat: this.heartbeat },
      release: () => {
        if (released) return;
        released = true;
        area.release(index);
      },
    };
  }

  close(): void {
    this.#closed = true;
    this.#process?.close();
  }

  #makeThreadArea(): ControlArea {
    return new ControlArea(new SharedArrayBuffer((HEADER_WORDS + this.slots * SLOT_WORDS) * 4), this.slots);
  }

  #makeProcessArea(): ControlArea {
    const name = `/ipcx-cluster-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const segment = shm.open(name, {
        create: true,
        exclusive: true,
        size: (HEADER_WORDS + this.slots * SLOT_WORDS) * 4,
        mode: 0o600,
      });
      return new ControlArea(segment.buffer, this.slots, segment.name);
    } catch (error) {
      throw fromSystemError(`shared memory "${name}" create`, error);
    }
  }
}

/** The provider that spawns running inside `Supervisor` or `Pool` take their control slot from. */
export const controlContext = new AsyncLocalStorage<ControlProvider>();
