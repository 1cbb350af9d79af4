#!/usr/bin/env node
// Moves the transport kit's names from `@ipcx/core` to `@ipcx/core/transport` in every import and re-export of
// packages/*/src, packages/*/test and apps/*, following the names packages/core/src/transport.ts exports.
//
//   node scripts/split-core-imports.mjs            rewrite the files, list what changed
//   node scripts/split-core-imports.mjs --check    change nothing; exit 1 and list the files that still import kit
//                                                  names from '@ipcx/core'
//   node scripts/split-core-imports.mjs --root DIR work on another checkout (a scratch copy)
//
// `import { a, type B } from '@ipcx/core'`, `import type { ... }`, multi-line lists, `as` renames and
// `export { ... } from '@ipcx/core'` are handled; a statement that keeps names of both entries is split in two.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootIndex = args.indexOf('--root');
const root = rootIndex >= 0 ? args[rootIndex + 1] : fileURLToPath(new URL('..', import.meta.url));

/** The names `@ipcx/core/transport` exports, read from its source. */
export function kitNames(transportSource) {
  const names = new Set();
  for (const match of transportSource.matchAll(/export\s*\{([^}]*)\}\s*from/g)) {
    for (const spec of splitSpecifiers(match[1])) names.add(spec.exported);
  }
  return names;
}

/** `a`, `type B`, `c as d` → { text, imported, exported, type }. */
function splitSpecifiers(list) {
  return list
    .replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const m = /^(type\s+)?([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(text);
      if (!m) throw new Error(`cannot read import specifier "${text}"`);
      return { text, type: Boolean(m[1]), imported: m[2], exported: m[3] ?? m[2] };
    });
}

const STATEMENT = /(^|\n)([ \t]*)(import|export)(\s+type)?\s*\{([^}]*)\}\s*from\s*(['"])@ipcx\/core\6(\s*;)?/g;

/** The file's text with kit names moved to '@ipcx/core/transport'; the same text when there is nothing to move. */
export function rewrite(source, kit) {
  return source.replace(STATEMENT, (whole, lead, indent, keyword, typeOnly = '', list, quote, semi = '') => {
    const specs = splitSpecifiers(list);
    const moved = specs.filter((s) => kit.has(s.imported));
    if (moved.length === 0) return whole;
    const kept = specs.filter((s) => !kit.has(s.imported));
    const multiline = list.includes('\n');
    const itemIndent = multiline ? (/\n([ \t]*)\S/.exec(list)?.[1] ?? `${indent}  `) : '';
    const render = (items, from) => {
      const body = multiline
        ? `{\n${items.map((s) => `${itemIndent}${s.text},`).join('\n')}\n${indent}}`
        : `{ ${items.map((s) => s.text).join(', ')} }`;
      return `${indent}${keyword}${typeOnly} ${body} from ${quote}${from}${quote}${semi}`;
    };
    const out = [];
    if (kept.length > 0) out.push(render(kept, '@ipcx/core'));
    out.push(render(moved, '@ipcx/core/transport'));
    return lead + out.join('\n');
  });
}

function* sourceFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) yield* sourceFiles(path);
    else if (/\.(?:[cm]?[jt]s|tsx)$/.test(name) && !name.endsWith('.d.ts')) yield path;
  }
}

function targets() {
  const dirs = [];
  for (const pkg of readdirSync(join(root, 'packages'))) dirs.push(join(root, 'packages', pkg, 'src'), join(root, 'packages', pkg, 'test'));
  for (const app of readdirSync(join(root, 'apps'))) dirs.push(join(root, 'apps', app));
  return dirs;
}

function main() {
  const kit = kitNames(readFileSync(join(root, 'packages/core/src/transport.ts'), 'utf8'));
  const changed = [];
  for (const dir of targets()) {
    for (const file of sourceFiles(dir)) {
      const source = readFileSync(file, 'utf8');
      if (!source.includes('@ipcx/core')) continue;
      const next = rewrite(source, kit);
      if (next === source) continue;
      changed.push(relative(root, file));
      if (!check) writeFileSync(file, next);
    }
  }
  if (check) {
    if (changed.length > 0) {
      console.error(`these files import transport-kit names from '@ipcx/core' (run node scripts/split-core-imports.mjs):\n  ${changed.join('\n  ')}`);
      process.exit(1);
    }
    console.log('every kit name comes from @ipcx/core/transport');
    return;
  }
  console.log(changed.length === 0 ? 'nothing to rewrite' : `rewrote ${changed.length} files:\n  ${changed.join('\n  ')}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
