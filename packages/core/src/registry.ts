/**
 * The registry of kernel objects this process owns: segments, queues, semaphores, socket files, FIFOs.
 *
 * A package that creates a named kernel object registers it here with the function that removes it, and
 * unregisters it when it removes the object itself (on `close()`). Nothing here installs a signal handler or
 * an exit hook: a library must not change what SIGTERM does behind its user's back. `@ipcx/signals`'
 * `ShutdownCoordinator` (or the application itself) calls `unlinkOwnedKernelObjects()` when it shuts down.
 *
 * The registry is process-wide and shared by every installed copy of `@ipcx/core` (it lives on a
 * `Symbol.for` key of `globalThis`), so two copies of a transport package still see one list.
 */

/** What kind of kernel object an entry is; `ipcx ls` and the cleanup use the same words. */
export type KernelObjectKind =
  | 'shm'
  | 'mq'
  | 'sem'
  | 'socket'
  | 'fifo'
  | 'sysv-shm'
  | 'sysv-msg'
  | 'sysv-sem'
  | 'file'
  | 'topic';

/** One kernel object this process made and must remove. */
export interface KernelObject {
  /** What it is. */
  readonly kind: KernelObjectKind;
  /** How the kernel (or the file system) names it: `/ipcx-jobs`, a socket path, a System V key. */
  readonly name: string;
  /** The package that made it, for messages (`@ipcx/shm`). */
  readonly owner?: string;
  /** Removes the object; called at most once by the registry. May be async. */
  readonly unlink: () => void | Promise<void>;
}

/** The handle `registerKernelObject` returns. */
export interface KernelObjectRegistration extends Disposable {
  /** The entry as registered. */
  readonly object: KernelObject;
  /** Removes the entry without unlinking the object (the owner unlinked it itself). Idempotent. */
  unregister(): void;
}

/** What `unlinkOwnedKernelObjects` did with one entry. */
export interface UnlinkResult {
  readonly object: KernelObject;
  /** Set when `unlink` threw or rejected; the entry is still removed from the registry. */
  readonly error?: unknown;
}

const KEY = Symbol.for('ipcx.kernelObjects');
const RECORDS = Symbol.for('ipcx.ownerRecords');

/**
 * The on-disk owner records, when `@ipcx/native` is loaded: it writes what is registered to a file it keeps
 * locked for the life of the process, so that `ipcx clean` finds the objects of a process that crashed.
 */
interface OwnerRecords {
  add(object: KernelObject): void;
  remove(object: KernelObject): void;
}

function records(): OwnerRecords | undefined {
  return (globalThis as unknown as Record<symbol, OwnerRecords | undefined>)[RECORDS];
}

function forget(set: Set<KernelObject>, entry: KernelObject): void {
  if (set.delete(entry)) records()?.remove(entry);
}

function entries(): Set<KernelObject> {
  const holder = globalThis as unknown as Record<symbol, Set<KernelObject> | undefined>;
  let set = holder[KEY];
  if (!set) {
    set = new Set();
    Object.defineProperty(globalThis, KEY, { value: set, enumerable: false, configurable: false, writable: false });
  }
  return set;
}

/**
 * Records that this process owns a kernel object and how to remove it.
 *
 * ```ts
 * const entry = registerKernelObject({ kind: 'shm', name: '/ipcx-cache', unlink: () => shm.unlink('/ipcx-cache') });
 * // ... on close, after unlinking it yourself:
 * entry.unregister();
 * ```
 */
export function registerKernelObject(object: KernelObject): KernelObjectRegistration {
  const set = entries();
  // A frozen copy: the registry hands entries out, and a caller must not rename one behind its back.
  const entry = Object.freeze({ ...object });
  set.add(entry);
  records()?.add(entry);
  return {
    object: entry,
    unregister: () => forget(set, entry),
    [Symbol.dispose]: () => forget(set, entry),
  };
}

/** The kernel objects this process owns now, oldest first. */
export function ownedKernelObjects(): readonly KernelObject[] {
  return [...entries()];
}

/**
 * Takes every entry out of the list, newest first: a second call does not unlink twice. Each entry leaves the
 * owner record only after its `unlink` ran (`done`), so a crash in between leaves the object findable.
 */
function takeOwned(): { owned: KernelObject[]; done: (results: UnlinkResult[], result: UnlinkResult) => void } {
  const set = entries();
  const owned = [...set].reverse();
  set.clear();
  return {
    owned,
    done: (results, result) => {
      results.push(result);
      records()?.remove(result.object);
    },
  };
}

/**
 * Removes every kernel object this process still owns, newest first, and empties the registry. Errors from
 * one `unlink` do not stop the others; each is reported in the result. Safe to call more than once.
 */
export async function unlinkOwnedKernelObjects(): Promise<UnlinkResult[]> {
  const { owned, done } = takeOwned();
  const results: UnlinkResult[] = [];
  for (const object of owned) {
    try {
      await object.unlink();
      done(results, { object });
    } catch (error) {
      done(results, { object, error });
    }
  }
  return results;
}

/**
 * The synchronous form, for an `exit` handler, where nothing asynchronous runs: calls every `unlink`, and
 * reports those that threw or returned a promise (which cannot be awaited there) as errors.
 */
export function unlinkOwnedKernelObjectsSync(): UnlinkResult[] {
  const { owned, done } = takeOwned();
  const results: UnlinkResult[] = [];
  for (const object of owned) {
    try {
      const returned = object.unlink();
      if (returned && typeof (returned as Promise<void>).then === 'function') {
        (returned as Promise<void>).catch(() => {});
        done(results, { object, error: new Error(`unlink of ${object.name} is asynchronous and was not awaited`) });
      } else {
        done(results, { object });
      }
    } catch (error) {
      done(results, { object, error });
    }
  }
  return results;
}
