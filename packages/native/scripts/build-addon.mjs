#!/usr/bin/env node
// Compiles the addon for the `build` script (nx). Incremental on purpose: `make` only recompiles what
// changed, so after the `install` script (node-gyp-build → `node-gyp rebuild`) has compiled the addon on a
// fresh install, the `build` that the root postinstall runs through nx compiles nothing again.
// A full `node-gyp configure` runs only when build/ was configured for another Node (or not at all).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.platform !== 'linux') {
  console.log(`@ipcx/native: skipping the addon build, ${process.platform} is not supported (Linux only)`);
  process.exit(0);
}

/** The node-gyp that npm bundles: npm exports its path to scripts; fall back to the copy next to this node. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  return found ? [process.execPath, found] : ['node-gyp'];
}

function run(args) {
  const [cmd, ...pre] = nodeGyp();
  const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Configured for this Node ABI? Our stamp says so after our own builds; after node-gyp-build's
// `node-gyp rebuild` (the install script) config.gypi records the module version it was configured for.
const stampFile = join(root, 'build', 'ipcx-configured.json');
const wanted = { modules: process.versions.modules, arch: process.arch };

function configuredFor() {
  if (!existsSync(join(root, 'build', 'Makefile')) || !existsSync(join(root, 'build', 'config.gypi'))) return undefined;
  if (existsSync(stampFile)) return JSON.parse(readFileSync(stampFile, 'utf8'));
  const gypi = readFileSync(join(root, 'build', 'config.gypi'), 'utf8');
  const modules = /"node_module_version":\s*(\d+)/.exec(gypi)?.[1];
  const arch = /"target_arch":\s*"(\w+)"/.exec(gypi)?.[1];
  return { modules, arch };
}

const current = configuredFor();
if (current?.modules !== wanted.modules || current?.arch !== wanted.arch) run(['configure']);
run(['build', '--jobs=max']);
writeFileSync(stampFile, JSON.stringify(wanted) + '\n');
