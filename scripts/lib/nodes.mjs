// Node binaries of other majors for the checks: `node-linux-<arch>@<major>` from the npm registry (Node's
// official build, with its headers), installed once into a cache directory outside the repository and
// reused; a re-install comes from npm's cache. The running Node serves its own major. The cache is under
// the temp directory, not $HOME: tests spawn that node as another user (sockets' peer-credential tests),
// and a home directory is usually closed to other users.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CACHE = process.env.IPCX_CHECK_CACHE ?? join(tmpdir(), `ipcx-checks-${process.getuid?.() ?? 'user'}`);

/** Installs `name@range` into CACHE/<dir> (once) and returns that directory's node_modules/<name>. */
export function cachedPackage(dir, name, range, extraArgs = []) {
  const where = join(CACHE, dir);
  const installed = join(where, 'node_modules', name);
  if (existsSync(join(installed, 'package.json'))) return installed;
  mkdirSync(where, { recursive: true, mode: 0o755 });
  writeFileSync(join(where, 'package.json'), `${JSON.stringify({ private: true })}\n`);
  const r = spawnSync(
    'npm',
    [
      'install',
      `${name}@${range}`,
      '--no-save',
      '--no-package-lock',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      ...extraArgs,
    ],
    { cwd: where, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0 || !existsSync(installed)) throw new Error(`could not install ${name}@${range} into ${where}`);
  return installed;
}

/** The `node` binary of a major for `arch` (default: this machine's); this process's own when it matches. */
export function nodeBinary(major, arch = process.arch) {
  if (arch === process.arch && process.versions.node.split('.')[0] === String(major)) return process.execPath;
  // --force: npm refuses a package whose `cpu` is not this machine's (arm64 Node, run under qemu-user).
  const dir = cachedPackage(
    `node-${major}-${arch}`,
    `node-linux-${arch}`,
    String(major),
    arch === process.arch ? [] : ['--force'],
  );
  return join(dir, 'bin', 'node');
}

export function nodeVersion(bin, runner = []) {
  const [cmd, ...pre] = runner.length > 0 ? runner : [bin];
  const r = spawnSync(cmd, [...pre, ...(runner.length > 0 ? [bin] : []), '--version'], { encoding: 'utf8' });
  return r.stdout.trim() || '?';
}
