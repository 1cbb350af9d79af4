import { readdirSync } from 'node:fs';

/** A fixture script (run with plain Node: it loads the built packages). */
export function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** Segments in /dev/shm made by this process for @ipcx/cluster. */
export function leftovers(): string[] {
  return readdirSync('/dev/shm').filter((name) => name.startsWith(`ipcx-cluster-${process.pid}-`));
}

/** Resolves with what `promise` settles to, or rejects after `ms` (a bound for "noticed within", never a sleep). */
export function within<T>(ms: number, promise: Promise<T>, what = 'event'): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

/** The error a promise rejects with (fails if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
