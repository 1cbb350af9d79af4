/**
 * Where the compiled addon is looked for, and what a platform without one is told. binding.ts loads it.
 *
 * 1. `build/Release/ipcx_native.node`: a build from source (a developer's `npm run build`, or
 *    `scripts/build-addon.mjs` run by a user on a platform we ship no binary for);
 * 2. `prebuilds/<platform>-<arch>[-musl]/ipcx_native.node`: the binaries in the published package. One
 *    binary serves every supported Node: it uses Node-API only and looks up newer Node-API functions at
 *    run time (cpp/sab.cc), so there is nothing per Node version in the path.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const ADDON_FILE = 'ipcx_native.node';

/** The C library of this process: musl needs its own binary. Only asked when it matters (about 4 ms). */
export function detectLibc(): 'glibc' | 'musl' {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime === undefined ? 'musl' : 'glibc';
}

/** `linux-x64`, `linux-arm64-musl`, …: the directory name under `prebuilds/`. */
export function prebuildTag(platform: string, arch: string, libc: 'glibc' | 'musl'): string {
  return `${platform}-${arch}${libc === 'musl' ? '-musl' : ''}`;
}

/** The files to try, in order; only those that exist. */
export function addonCandidates(root: string, platform = process.platform, arch = process.arch): string[] {
  const found: string[] = [];
  const built = join(root, 'build', 'Release', ADDON_FILE);
  if (existsSync(built)) found.push(built);
  const musl = join(root, 'prebuilds', prebuildTag(platform, arch, 'musl'), ADDON_FILE);
  const glibc = join(root, 'prebuilds', prebuildTag(platform, arch, 'glibc'), ADDON_FILE);
  // Only a machine that has both to choose from pays for asking which C library it runs on.
  if (existsSync(musl) && (!existsSync(glibc) || detectLibc() === 'musl')) found.push(musl);
  else if (existsSync(glibc)) found.push(glibc);
  return found;
}

/** The message of the error thrown when no binary loads: the platform, what was tried, how to build one. */
export function missingAddonMessage(root: string, tried: readonly { file: string; error: unknown }[]): string {
  const tag = prebuildTag(process.platform, process.arch, process.platform === 'linux' ? detectLibc() : 'glibc');
  const lines = [
    `@ipcx/native has no prebuilt binary that loads on ${tag} (Node ${process.version}).`,
    `Prebuilt: linux-x64 and linux-arm64 with glibc >= 2.34 (see the README's "Install").`,
  ];
  for (const t of tried) lines.push(`Tried ${t.file}: ${t.error instanceof Error ? t.error.message : String(t.error)}`);
  lines.push(
    'Build it from source for this machine (needs python3, make and a C++17 compiler, e.g. build-essential):',
    `  node ${JSON.stringify(join(root, 'scripts', 'build-addon.mjs'))}`,
    'which writes build/Release/ipcx_native.node inside the installed package; it is used from then on.',
  );
  return lines.join('\n');
}
