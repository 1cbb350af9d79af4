import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { addonCandidates, missingAddonMessage, prebuildTag } from '../src/internal/addon-path.js';
import { native } from '../src/binding.js';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempPackage(files: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipcx-loader-'));
  dirs.push(dir);
  for (const file of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), '');
  }
  return dir;
}

describe('addon lookup', () => {
  it('prefers a build from source to the prebuilt binary of the platform', () => {
    const dir = tempPackage(['build/Release/ipcx_native.node', 'prebuilds/linux-x64/ipcx_native.node']);
    expect(addonCandidates(dir, 'linux', 'x64')).toEqual([
      join(dir, 'build/Release/ipcx_native.node'),
      join(dir, 'prebuilds/linux-x64/ipcx_native.node'),
    ]);
  });

  it('takes the prebuilt binary of this platform and arch only', () => {
    const dir = tempPackage(['prebuilds/linux-x64/ipcx_native.node', 'prebuilds/linux-arm64/ipcx_native.node']);
    expect(addonCandidates(dir, 'linux', 'arm64')).toEqual([join(dir, 'prebuilds/linux-arm64/ipcx_native.node')]);
    expect(addonCandidates(dir, 'linux', 'riscv64')).toEqual([]);
  });

  it('names musl binaries with a -musl suffix', () => {
    expect(prebuildTag('linux', 'x64', 'musl')).toBe('linux-x64-musl');
    expect(prebuildTag('linux', 'arm64', 'glibc')).toBe('linux-arm64');
  });

  it('says which platform has no binary and how to build one', () => {
    const message = missingAddonMessage('/pkg', [
      { file: '/pkg/prebuilds/linux-x64/ipcx_native.node', error: new Error('bad ELF') },
    ]);
    expect(message).toContain(`${process.platform}-${process.arch}`);
    expect(message).toContain('bad ELF');
    expect(message).toContain(join('/pkg', 'scripts', 'build-addon.mjs'));
  });

  it('loads one binary that makes SharedArrayBuffers over shared memory on this Node', () => {
    // Node 20 has no Node-API for it (V8's API, looked up at run time); recent 22 and 24 releases have.
    expect(['node-api', 'v8']).toContain(native.sharedArrayBufferImpl);
    if (process.versions.node.startsWith('20.')) expect(native.sharedArrayBufferImpl).toBe('v8');
  });

  it('fails at import with that message when the package has no binary for the platform', async () => {
    // A copy of the bundled package without build/ or prebuilds/: what a platform we ship nothing for sees.
    const dir = tempPackage([]);
    cpSync(join(packageRoot, 'dist'), join(dir, 'dist'), { recursive: true });
    const script = `import(${JSON.stringify(join(dir, 'dist', 'index.js'))}).then(
      () => console.log('loaded'),
      (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 10_000 });
    const result = JSON.parse(stdout) as { code: string; message: string };
    expect(result.code).toBe('ERR_IPCX_NATIVE_NO_BINARY');
    expect(result.message).toContain(`no prebuilt binary that loads on linux-${process.arch}`);
    expect(result.message).toContain('build-addon.mjs');
  });
});
