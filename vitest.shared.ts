import { defineConfig } from 'vitest/config';

/**
 * Shared by every package's vitest.config.ts: tests import sibling packages through the
 * `@ipcx/source` export condition (their TypeScript sources); code that runs in spawned
 * workers and processes loads `dist`, which is why `test` depends on `build` in nx.json.
 */
export const sharedConfig = defineConfig({
  resolve: { conditions: ['@ipcx/source', 'module', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['@ipcx/source', 'module', 'node', 'import', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
  },
});
