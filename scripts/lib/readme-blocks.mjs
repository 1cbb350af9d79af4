// The fenced code blocks of the repository's Markdown, and the HTML comment right before each, for the two
// scripts that run them: readme-examples.mjs (every block, from the workspace) and pack-check.mjs (each
// package's main example, from the tarballs).
//
// A comment on the line(s) right before a block says what to do with it:
//   <!-- example: skip <reason> -->     not run, the reason printed (say what it needs)
//   <!-- example: fragment -->          type-checked only (a part of a program, not a whole one)
//   <!-- example: run-until "text" then SIGTERM -->
//                                       a service that runs until stopped: once a line of its output contains
//                                       "text" it is sent the signal, and must then exit 0 by itself
//   <!-- main-example ... -->           the package's main example; `<!-- main-example: skip <reason> -->`
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The Markdown whose blocks are examples: README.md, docs/*.md, packages/*\/README.md, apps/*\/README.md. */
export function markdownFiles(root) {
  const files = ['README.md'];
  const docs = join(root, 'docs');
  if (existsSync(docs))
    files.push(
      ...readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`),
    );
  for (const dir of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, dir)).sort()) {
      if (existsSync(join(root, dir, name, 'README.md'))) files.push(`${dir}/${name}/README.md`);
    }
  }
  return files.filter((f) => existsSync(join(root, f)));
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$/;
const COMMENT = /<!--([\s\S]*?)-->\s*$/;

/**
 * Every fenced block of `markdown`, in order: `{ index, lang, code, line, directive }`. `index` counts from 1
 * in the file, `line` is the line of the opening fence (1-based), `lang` is lowercased ('' when absent),
 * `directive` is `{ kind: 'skip' | 'fragment' | 'main', reason }` or `{ kind: 'run-until', text, signal }` from
 * the comment right before the block, or undefined.
 */
export function codeBlocks(markdown) {
  const lines = markdown.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (!open) continue;
    const indent = open[1].length;
    const fence = open[2];
    const body = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j].trim();
      if (close.startsWith(fence) && /^[`~]+$/.test(close)) break;
      body.push(lines[j].slice(Math.min(indent, lines[j].length - lines[j].trimStart().length)));
    }
    blocks.push({
      index: blocks.length + 1,
      lang: open[3].toLowerCase(),
      code: body.join('\n'),
      line: i + 1,
      directive: directiveBefore(lines, i),
    });
    i = j;
  }
  return blocks;
}

/** The `example:` or `main-example` comment that ends on the line before `at` (blank lines allowed). */
function directiveBefore(lines, at) {
  let k = at - 1;
  while (k >= 0 && lines[k].trim() === '') k--;
  if (k < 0 || !lines[k].trimEnd().endsWith('-->')) return undefined;
  let text = lines[k];
  while (!text.includes('<!--') && k > 0) text = `${lines[--k]}\n${text}`;
  const comment = COMMENT.exec(text)?.[1].trim() ?? '';
  const main = /^main-example\b\s*(:\s*)?([\s\S]*)$/.exec(comment);
  if (main) {
    const skip = /^skip\b\s*([\s\S]*)$/.exec(main[2]);
    return skip ? { kind: 'main', skip: true, reason: skip[1].trim() } : { kind: 'main', reason: main[2].trim() };
  }
  const until = /^example\s*:\s*run-until\s+"([^"]+)"\s+then\s+(SIG[A-Z0-9+-]+)\s*$/.exec(comment);
  if (until) return { kind: 'run-until', text: until[1], signal: until[2] };
  const example = /^example\s*:\s*(skip|fragment)\b\s*([\s\S]*)$/.exec(comment);
  if (example) return { kind: example[1], reason: example[2].replace(/^\((.*)\)$/s, '$1').trim() };
  return undefined;
}

export const JS_LANGS = new Set(['js', 'mjs', 'javascript']);
export const TS_LANGS = new Set(['ts', 'typescript', 'mts']);

/**
 * A package README's main example: `{ code }`, `{ skip: reason }`, or `{ missing: true }` (no
 * `<!-- main-example -->` comment) or `{ notJs: true }` (the comment is not followed by a ```js block).
 */
export function mainExample(markdown) {
  if (!/<!--\s*main-example\b/.test(markdown)) return { missing: true };
  const block = codeBlocks(markdown).find((b) => b.directive?.kind === 'main');
  if (block?.directive.skip) return { skip: block.directive.reason };
  if (!block) {
    const skip = /<!--\s*main-example\s*:\s*skip\b([\s\S]*?)-->/.exec(markdown);
    return skip ? { skip: skip[1].trim() } : { notJs: true };
  }
  return JS_LANGS.has(block.lang) ? { code: block.code } : { notJs: true };
}
