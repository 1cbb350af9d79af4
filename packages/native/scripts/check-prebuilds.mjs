#!/usr/bin/env node
// Run before `npm pack` / `npm publish` (prepack) and by CI: every binary the package promises is in
// prebuilds/, is built for the right machine, links nothing of V8 or of a Node-API newer than Node 20
// (a binary that did would die on an older Node at its first call), and needs no newer glibc than the
// README states. Reads the ELF tables with `readelf` (binutils), which reads every architecture.
// IPCX_PREBUILDS_ALLOW_MISSING=linux-arm64 packs without the named ones (a developer without the cross
// compiler); a release never sets it.
//
// It also copies binding.gyp to scripts/binding.gyp for the tarball: a binding.gyp at the package root
// makes pnpm (and Bun) treat the package as one with an install script ("Ignored build scripts", and
// `node-gyp rebuild` once approved), whatever `gypfile` says. scripts/build-addon.mjs builds from that copy.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** What we ship: directory under prebuilds/, ELF machine, oldest glibc (also in README "Install"). */
export const PREBUILDS = [
  { tag: 'linux-x64', machine: 'Advanced Micro Devices X86-64', glibc: '2.34' },
  { tag: 'linux-arm64', machine: 'AArch64', glibc: '2.34' },
];

// Node 20's Node-API (version 9 and its own extensions) exports these; node_api_* functions added later
// must be looked up at run time (cpp/sab.cc), so none may appear as an undefined symbol.
const NODE_API_OF_NODE_20 =
  /^(napi_\w+|node_api_(symbol_for|create_syntax_error|throw_syntax_error|get_module_file_name|create_external_string_latin1|create_external_string_utf16|create_property_key_utf16|post_finalizer))$/;
// libuv is exported by every Node with a stable 1.x ABI (cpp/fd_watcher.cc, waiters.cc use it).
const LIBUV = /^uv_\w+$/;
const VERSIONED_LIBC = /@(GLIBC|GLIBCXX|CXXABI)_[\d.]+$/;
const WEAK_OK = /^(_ITM_\w+|__gmon_start__|__cxa_finalize@\S+)$/;

function readelf(args, file) {
  const r = spawnSync('readelf', [...args, file], { encoding: 'utf8' });
  if (r.error)
    throw new Error(`readelf is needed to check the prebuilds (apt-get install binutils): ${r.error.message}`);
  return r.stdout;
}

const compareVersions = (a, b) => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++)
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
};

/** Problems with one binary (empty when fine), plus the highest GLIBC_ version it needs. */
export function checkBinary(file, expected) {
  const problems = [];
  const machine = /Machine:\s+(.+)/.exec(readelf(['-h'], file))?.[1]?.trim();
  if (machine !== expected.machine) problems.push(`built for ${machine}, expected ${expected.machine}`);
  let glibc = '0';
  for (const line of readelf(['--dyn-syms', '-W'], file).split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[6] !== 'UND' || cols[7] === undefined) continue;
    const symbol = cols[7];
    const version = /@GLIBC_([\d.]+)$/.exec(symbol)?.[1];
    if (version && compareVersions(version, glibc) > 0) glibc = version;
    if (NODE_API_OF_NODE_20.test(symbol) || LIBUV.test(symbol) || VERSIONED_LIBC.test(symbol) || WEAK_OK.test(symbol))
      continue;
    problems.push(
      `links ${symbol} (only Node 20's Node-API, libuv and versioned libc/libstdc++ symbols may be linked)`,
    );
  }
  if (compareVersions(glibc, expected.glibc) > 0)
    problems.push(`needs glibc ${glibc}, newer than the ${expected.glibc} the README promises`);
  return { problems, glibc };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  copyFileSync(join(root, 'binding.gyp'), join(root, 'scripts', 'binding.gyp'));
  const allowMissing = new Set((process.env.IPCX_PREBUILDS_ALLOW_MISSING ?? '').split(',').filter(Boolean));
  let failed = false;
  for (const expected of PREBUILDS) {
    const file = join(root, 'prebuilds', expected.tag, 'ipcx_native.node');
    if (!existsSync(file)) {
      if (allowMissing.has(expected.tag)) {
        console.warn(`@ipcx/native: prebuilds/${expected.tag} missing (allowed by IPCX_PREBUILDS_ALLOW_MISSING)`);
        continue;
      }
      console.error(
        `@ipcx/native: prebuilds/${expected.tag}/ipcx_native.node is missing; run \`npm run build\` (linux-arm64 needs g++-aarch64-linux-gnu)`,
      );
      failed = true;
      continue;
    }
    const { problems, glibc } = checkBinary(file, expected);
    for (const p of problems) console.error(`@ipcx/native: prebuilds/${expected.tag}: ${p}`);
    if (problems.length === 0)
      console.log(`@ipcx/native: prebuilds/${expected.tag} ok (Node-API only, glibc >= ${glibc})`);
    failed ||= problems.length > 0;
  }
  process.exit(failed ? 1 : 0);
}
