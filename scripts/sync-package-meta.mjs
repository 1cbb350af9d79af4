#!/usr/bin/env node
// node scripts/sync-package-meta.mjs [--check]
//
// Keeps what every publishable package (packages/*, not private) must carry in step with the root:
// author, repository (with directory), homepage, bugs, keywords, engines, a copy of the root LICENSE,
// `src` in `files` (the `@ipcx/source` export condition points there), and internal ranges `^<version>`
// (changesets' updateInternalDependencies moves them on each release). Without --check it writes the
// fixes; with --check (CI) it only reports them and exits 1 if there are any. A new package needs nothing
// but a run of this script.
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const REPO = 'https://github.com/ipcx/ipcx';
const ENGINES = { node: '>=20.4.0' }; // AbortSignal.any (20.3), Symbol.dispose/asyncDispose (20.4)
const DEP_FIELDS = ['dependencies', 'peerDependencies', 'devDependencies', 'optionalDependencies'];

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir, file: join(root, 'packages', dir, 'package.json') }))
  .filter((p) => existsSync(p.file))
  .map((p) => ({ ...p, json: JSON.parse(readFileSync(p.file, 'utf8')) }))
  .filter((p) => !p.json.private);
const versions = new Map(packages.map((p) => [p.json.name, p.json.version]));
const license = readFileSync(join(root, 'LICENSE'), 'utf8');

/** The manifest with every field set; key order: the wanted fields right after `license`. */
function wanted(dir, json) {
  const fields = {
    author: json.author ?? 'the ipcx authors',
    repository: { type: 'git', url: `git+${REPO}.git`, directory: `packages/${dir}` },
    homepage: `${REPO}/tree/main/packages/${dir}#readme`,
    bugs: { url: `${REPO}/issues` },
    keywords: json.keywords?.length ? json.keywords : ['ipc', 'linux', 'nodejs'],
  };
  const out = {};
  for (const [key, value] of Object.entries(json)) {
    if (key in fields) continue;
    out[key] = value;
    if (key === 'license') Object.assign(out, fields);
  }
  if (!('license' in json)) Object.assign(out, { license: 'MIT' }, fields);
  out.engines = { ...json.engines, ...ENGINES };
  if (Array.isArray(out.files) && !out.files.includes('src')) out.files = [...out.files, 'src'];
  for (const field of DEP_FIELDS) {
    for (const name of Object.keys(out[field] ?? {})) {
      if (versions.has(name)) out[field] = { ...out[field], [name]: `^${versions.get(name)}` };
    }
  }
  return out;
}

let problems = 0;
for (const { dir, file, json } of packages) {
  const next = wanted(dir, json);
  const before = `${JSON.stringify(json, null, 2)}\n`;
  const after = `${JSON.stringify(next, null, 2)}\n`;
  if (before !== after) {
    problems++;
    if (check)
      console.error(
        `packages/${dir}/package.json: metadata or internal ranges out of step (run node scripts/sync-package-meta.mjs)`,
      );
    else writeFileSync(file, after);
  }
  const licenseFile = join(root, 'packages', dir, 'LICENSE');
  if (!existsSync(licenseFile) || readFileSync(licenseFile, 'utf8') !== license) {
    problems++;
    if (check) console.error(`packages/${dir}/LICENSE: missing or not the root LICENSE`);
    else writeFileSync(licenseFile, license);
  }
}
if (check && problems > 0) process.exit(1);
console.log(
  check ? `package metadata: ${packages.length} packages in step` : `package metadata: ${problems} fix(es) written`,
);
