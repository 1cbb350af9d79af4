import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';
import { killTrackedChildren, uniqueName } from '@ipcx/core/testing';
export { childLines, exited, killChild, spawnCode, spawnNode, within } from '@ipcx/core/testing';

// Children spawned by a test (spawnNode, spawnCode) are killed after it.
afterEach(killTrackedChildren);

/** Fixture scripts: plain Node processes that load the built `dist` of our packages. */
export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/**
 * Socket addresses named by `uniqueName`: a path in the temp folder, removed after the test that made it, also
 * when the test fails (after each test, or after all tests of the file with scope 'all'), or an abstract name.
 */
export function uniqueNames(scope: 'each' | 'all' = 'each'): {
  path(tag: string): string;
  abstract(tag: string): { abstract: string };
} {
  const made: string[] = [];
  (scope === 'each' ? afterEach : afterAll)(() => {
    for (const path of made.splice(0)) rmSync(path, { force: true });
  });
  return {
    path(tag) {
      const path = join(tmpdir(), uniqueName(tag));
      made.push(path);
      return path;
    },
    abstract: (tag) => ({ abstract: uniqueName(tag) }),
  };
}
