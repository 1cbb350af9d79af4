import { nativeIfAvailable } from './waker.js';

/** What `atThreadExit` of `@ipcx/native` returns. */
export interface ExitRegistration {
  cancel(run?: boolean): void;
}

/** The current thread-exit action of one object; `current` changes when the object re-registers. */
export interface ExitHolder {
  current: ExitRegistration | undefined;
}

// An object dropped without close still holds a native thread-exit action, and through it its memory (and
// a descriptor): once the object is collected, run the action (its side is dead to the peer) and let go.
const collected = new FinalizationRegistry<ExitHolder>((holder) => {
  holder.current?.cancel(true);
  holder.current = undefined;
});

/** A holder whose action runs if `owner` is collected without releasing it first. */
export function exitHolder(owner: object, current?: ExitRegistration): ExitHolder {
  const holder: ExitHolder = { current };
  collected.register(owner, holder);
  return holder;
}

/** Registers: when this thread ends without close, store `value` into `i32[index]` (a "this side died" word). */
export function markOnThreadExit(owner: object, i32: Int32Array, index: number, value: number): ExitHolder {
  return exitHolder(owner, nativeIfAvailable()?.atThreadExit({ i32, index, value }));
}

/** Forgets the action without running it (close, or a handle handed to another thread). */
export function releaseExit(holder: ExitHolder | undefined): void {
  holder?.current?.cancel(false);
  if (holder !== undefined) holder.current = undefined;
}
