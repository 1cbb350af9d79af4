import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packages = fileURLToPath(new URL('./packages/', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));

/**
 * Our tests import sibling packages as their TypeScript sources: every export of a package that has
 * an `@ipcx/source` condition becomes an exact alias. Aliases, not resolve conditions: vitest passes
 * conditions on to worker threads and child processes through execArgv, and code that runs there must
 * load `dist` (which is why `test` depends on `build` in nx.json).
 */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const dir of readdirSync(packages)) {
    let manifest: { name?: string; exports?: Record<string, Record<string, string>> };
    try {
      manifest = JSON.parse(readFileSync(`${packages}${dir}/package.json`, 'utf8'));
    } catch {
      continue;
    }
    for (const [subpath, conditions] of Object.entries(manifest.exports ?? {})) {
      const source = conditions['@ipcx/source'];
      if (!manifest.name || !source) continue;
      const specifier = `${manifest.name}${subpath.slice(1)}`;
      aliases.push({
        find: new RegExp(`^${specifier.replace(/[/.]/g, '\\$&')}$`),
        replacement: `${packages}${dir}/${source.slice(2)}`,
      });
    }
  }
  return aliases;
}

export const sharedConfig = defineConfig({
  resolve: { alias: sourceAliases() },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // The run fails if it leaves an ipcx segment, queue or socket file behind (see vitest.leaks.ts).
    globalSetup: [`${here}vitest.leaks.ts`],
    setupFiles: [`${here}vitest.leaks.worker.ts`],
  },
});
