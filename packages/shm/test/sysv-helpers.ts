import { randomInt } from 'node:crypto';
import { dirname } from 'node:path';
import { compileC as compileFixture } from '@ipcx/core/testing';
import { sysv } from '@ipcx/native';

/** A random System V key for one test (never 0, IPC_PRIVATE). */
export function uniqueKey(): number {
  return randomInt(0x1000_0000, 0x7fff_ffff);
}

/** What a test made, by kind and id: `leftovers()` removes and reports whatever is still there. */
export const made = { shm: new Set<number>(), msg: new Set<number>(), sem: new Set<number>() };

/** Removes every object a test made that still exists and returns their descriptions (expected: none). */
export function leftovers(): string[] {
  const left: string[] = [];
  const check = (kind: 'shm' | 'msg' | 'sem', stat: (id: number) => unknown, remove: (id: number) => void): void => {
    for (const id of made[kind]) {
      try {
        stat(id);
      } catch {
        continue; // gone: EINVAL/EIDRM
      }
      left.push(`${kind} id ${id}`);
      try {
        remove(id);
      } catch {
        // raced away
      }
    }
    made[kind].clear();
  };
  check(
    'shm',
    (id) => {
      // A removed segment still attached somewhere stays visible with SHM_DEST until its last detach.
      if (sysv.shm.stat(id).removed) throw new Error('removed');
    },
    sysv.shm.remove,
  );
  check('msg', sysv.msg.stat, sysv.msg.remove);
  check('sem', sysv.sem.stat, sysv.sem.remove);
  return left;
}

/** Compiles a C fixture into a temp dir (core's `compileC`); the error instead when no compiler can. */
export async function compileC(fixture: string): Promise<{ binary: string; dir: string } | { error: string }> {
  try {
    const { binary } = await compileFixture(new URL(`./fixtures/${fixture}`, import.meta.url));
    return { binary, dir: dirname(binary) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
