#!/usr/bin/env node
// node scripts/readme-examples.mjs [--only=<path substring>] [--parallel=2] [--timeout=20] [--keep]
//
// Every README code block is a test (CI runs this on Node 20, after the build). The fenced blocks of
// README.md, docs/*.md, packages/*/README.md and apps/*/README.md:
// - ```js / ```mjs: written to .readme-examples/ inside the repository (so `@ipcx/*` resolve to the workspace
//   packages' dist) and run with this node, `--timeout` seconds each, `--parallel` at a time. A block must exit 0
//   by itself and leave no `ipcx*` object in /dev/shm or /dev/mqueue (as root each block gets its own, empty
//   ones: see below; --no-isolate shares the machine's).
// - ```ts: type-checked together with tsc under the repository's strict settings, against the packages' published
//   types (dist/*.d.ts); never run. A block need not be a whole program.
// - `<!-- example: fragment -->` before a js block: type-checked only (as JavaScript, like the apps);
//   `<!-- example: skip <reason> -->`: not run, the reason printed;
//   `<!-- example: run-until "<text>" then SIGTERM -->`: a service that runs until stopped. Once a line of its
//   output contains <text> it is sent the signal (itself, not its children), and must then exit 0 by itself
//   within the same timeout, leaving nothing behind.
// - The environment of every block has PORT=0 (a service example listens on `process.env.PORT ?? 8080`: here
//   a free port) and, when a block mentions NATS_URL, NATS_URL: the URL of a nats-server (with JetStream)
//   started for the run from `@ipcx/nats/testing` and stopped after it (or the NATS_URL already set). Such
//   examples read `process.env.NATS_URL ?? 'nats://127.0.0.1:4222'`.
// - ```sh, ```console, ```text, ```json and the rest: skipped.
// The blocks are found by scripts/lib/readme-blocks.mjs, which pack-check.mjs uses for the main examples.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { JS_LANGS, TS_LANGS, codeBlocks, markdownFiles } from './lib/readme-blocks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const only = arg('only');
const parallel = Number(arg('parallel') ?? 2);
const timeoutSeconds = Number(arg('timeout') ?? 20);
const keep = process.argv.includes('--keep');
const work = join(root, '.readme-examples');
rmSync(work, { recursive: true, force: true });
mkdirSync(work);

const slug = (file) =>
  file
    .replace(/\.md$/, '')
    .replace(/[^\w]+/g, '-')
    .toLowerCase();
const toRun = [];
const toCheck = [];
const skipped = [];
const other = new Map();
for (const file of markdownFiles(root).filter((f) => !only || f.includes(only))) {
  for (const block of codeBlocks(readFileSync(join(root, file), 'utf8'))) {
    const where = { file, index: block.index, line: block.line };
    const js = JS_LANGS.has(block.lang);
    if (!js && !TS_LANGS.has(block.lang)) {
      other.set(block.lang || 'plain', (other.get(block.lang || 'plain') ?? 0) + 1);
    } else if (block.directive?.kind === 'skip') {
      skipped.push({ ...where, reason: block.directive.reason || '(no reason given)' });
    } else {
      const name = `${slug(file)}-${block.index}.${js ? 'mjs' : 'ts'}`;
      // `export {}` makes every file a module of its own, so that two blocks' top-level names do not clash.
      writeFileSync(join(work, name), `${block.code}\n${js ? '' : '\nexport {};\n'}`);
      (js && block.directive?.kind !== 'fragment' ? toRun : toCheck).push({
        ...where,
        name,
        js,
        directive: block.directive,
        nats: block.code.includes('NATS_URL'),
      });
    }
  }
}

const failures = [];
const fail = (block, message) => {
  failures.push({ ...block, message });
  console.error(`FAIL ${block.file} block ${block.index} (line ${block.line}): ${message.split('\n')[0]}`);
};

// --- type-check the ts blocks and the js fragments, all in one tsc run ---------------------------------
if (toCheck.length > 0) {
  const tsconfig = {
    extends: '../tsconfig.base.json',
    compilerOptions: {
      // What a user compiles against: the packages' dist types, not their sources.
      customConditions: [],
      allowJs: true,
      checkJs: true,
    },
    files: toCheck.map((b) => b.name),
  };
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const started = performance.now();
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', work, '--pretty', 'false'],
    {
      cwd: work,
      encoding: 'utf8',
    },
  );
  const errors = `${tsc.stdout}${tsc.stderr}`.split('\n').filter((l) => /error TS\d+/.test(l));
  for (const block of toCheck) {
    const mine = errors.filter((l) => l.startsWith(`${block.name}(`));
    if (mine.length > 0) fail(block, `tsc: ${mine.length} error(s): ${mine.join('\n')}`);
  }
  const stray = errors.filter((l) => !toCheck.some((b) => l.startsWith(`${b.name}(`)));
  if (stray.length > 0) failures.push({ file: 'tsc', index: 0, line: 0, message: stray.join('\n') });
  console.log(`type-checked ${toCheck.length} block(s) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

// --- run the js blocks, `parallel` at a time ------------------------------------------------------------
// Each block runs in mount and IPC namespaces of its own (as root, with unshare: CI's case) with an empty
// /dev/shm and /dev/mqueue, so what it leaves there is its own, whatever else runs on the machine, and goes
// with the namespace. Elsewhere the blocks share the machine's, and a name that appeared during the run and
// is still there at the end is reported (not removed: another program may own it).
const LEFT = '@@ipcx-readme-left ';
const isolate =
  process.getuid?.() === 0 &&
  !process.argv.includes('--no-isolate') &&
  spawnSync('unshare', ['--version']).status === 0;
const SANDBOX = [
  'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount -t mqueue mqueue /dev/mqueue || exit 99',
  '"$0" "$1"; rc=$?',
  `for f in /dev/shm/* /dev/mqueue/*; do [ -e "$f" ] && echo "${LEFT}$f"; done`,
  'exit $rc',
].join('\n');

function kernelObjects() {
  const found = new Set();
  for (const dir of ['/dev/shm', '/dev/mqueue']) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) if (name.startsWith('ipcx')) found.add(`${dir}/${name}`);
  }
  return found;
}

/** The pid of the block's node: the child itself, or (isolated) the child of the sandbox's shell. */
function nodePid(child) {
  if (!isolate) return child.pid;
  try {
    return (
      Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || undefined
    );
  } catch {
    return undefined;
  }
}

function runBlock(block, env) {
  return new Promise((resolve) => {
    const started = performance.now();
    const [cmd, args] = isolate
      ? ['unshare', ['--mount', '--ipc', '--propagation', 'private', 'sh', '-c', SANDBOX, process.execPath, block.name]]
      : [process.execPath, [block.name]];
    const child = spawn(cmd, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    let output = '';
    let stopped; // run-until: when the signal was sent
    const until = block.directive?.kind === 'run-until' ? block.directive : undefined;
    const onData = (d) => {
      output += d;
      if (until && stopped === undefined && output.split('\n').some((l) => l.includes(until.text))) {
        const pid = nodePid(child);
        stopped = (performance.now() - started) / 1000;
        try {
          if (pid) process.kill(pid, until.signal);
        } catch {}
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL'); // the block and whatever it started
      } catch {}
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = output.split('\n');
      const left = lines.filter((l) => l.startsWith(LEFT)).map((l) => l.slice(LEFT.length));
      output = lines.filter((l) => !l.startsWith(LEFT)).join('\n');
      resolve({ code, signal, timedOut, left, output, seconds: (performance.now() - started) / 1000, stopped });
    });
  });
}

// --- a nats-server for the blocks that use NATS_URL ------------------------------------------------------
let nats;
let natsProblem;
const env = { ...process.env, PORT: '0' };
if (toRun.some((b) => b.nats) && !process.env.NATS_URL) {
  try {
    const { startNatsServer } = await import(join(root, 'packages', 'nats', 'dist', 'testing.js'));
    nats = await startNatsServer();
    env.NATS_URL = nats.url;
    console.log(`nats-server for the NATS examples at ${nats.url}`);
  } catch (error) {
    natsProblem = `no nats-server for NATS_URL: ${error?.message ?? error}`;
  }
}

const before = kernelObjects();
const queue = [...toRun];
let ran = 0;
try {
  await Promise.all(
    Array.from({ length: Math.max(1, parallel) }, async () => {
      for (let block = queue.shift(); block; block = queue.shift()) {
        if (block.nats && natsProblem) {
          fail(block, natsProblem);
          continue;
        }
        await runOne(block);
      }
    }),
  );
} finally {
  await nats?.stop();
}

async function runOne(block) {
  const r = await runBlock(block, env);
  const until = block.directive?.kind === 'run-until' ? block.directive : undefined;
  ran++;
  if (r.code === 99 && isolate) fail(block, `could not make its own /dev/shm and /dev/mqueue\n${r.output}`);
  else if (r.timedOut)
    fail(
      block,
      until && r.stopped !== undefined
        ? `did not exit within ${timeoutSeconds} s; ${until.signal} was sent after ${r.stopped.toFixed(1)} s\n${r.output}`
        : `did not exit within ${timeoutSeconds} s (an example must end by itself${until ? `; it never printed "${until.text}"` : ''})\n${r.output}`,
    );
  else if (until && r.stopped === undefined)
    fail(block, `exited (${r.code ?? r.signal}) before printing "${until.text}"\n${r.output}`);
  else if (r.code !== 0) {
    const first =
      r.output.split('\n').find((l) => /^\s*[A-Z]\w*(Error|Exception)\b/.test(l)) ?? r.output.split('\n')[0] ?? '';
    fail(block, `exit ${r.code ?? r.signal}: ${first.trim()}\n${r.output}`);
  } else if (r.left.length > 0) fail(block, `left ${r.left.length} kernel object(s): ${r.left.join(', ')}`);
  else console.log(`ok   ${block.file} block ${block.index} (line ${block.line}), ${r.seconds.toFixed(1)} s`);
  if (r.left.length > 0 && r.code !== 0) console.error(`     and left ${r.left.join(', ')}`);
}
if (!isolate) {
  const appeared = [...kernelObjects()].filter((o) => !before.has(o));
  if (appeared.length > 0) {
    failures.push({
      file: '(machine)',
      index: 0,
      line: 0,
      message: `appeared during the run and still there: ${appeared.join(', ')}`,
    });
    console.error(`FAIL these appeared during the run (a block's, or another program's): ${appeared.join(', ')}`);
  }
}

// --- summary ------------------------------------------------------------------------------------------
console.log(
  `\nREADME code blocks: ${ran} run, ${toCheck.length} type-checked, ${skipped.length} skipped by a comment, ` +
    `${[...other.values()].reduce((a, b) => a + b, 0)} not code (${[...other].map(([l, n]) => `${l} ${n}`).join(', ')})`,
);
for (const s of skipped) console.log(`skip ${s.file} block ${s.index} (line ${s.line}): ${s.reason}`);
if (!keep) rmSync(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
if (failures.length > 0) {
  console.error(`\n${failures.length} failing README block(s):`);
  for (const f of failures)
    console.error(`  ${f.file} block ${f.index} (line ${f.line}): ${f.message.split('\n')[0].slice(0, 200)}`);
  process.exit(1);
}
console.log('all README blocks good');
