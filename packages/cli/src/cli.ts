#!/usr/bin/env node
/**
 * `ipcx`: the operator's command. Exit codes a script can rely on: 0 all is well, 1 a problem was found (an
 * object whose owner is dead, a limit ipcx will hit, an object that could not be removed), 2 usage.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { cleanObjects } from './clean.js';
import { runDoctor } from './doctor.js';
import { listObjects, type IpcxObject } from './objects.js';
import { formatObjects, formatTable, objectDetail } from './format.js';

const EXIT_OK = 0;
const EXIT_PROBLEM = 1;
const EXIT_USAGE = 2;

// `ipcx ls | head`: a reader that went away is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function json(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number');
  return n;
}

async function findObject(name: string, allUsers: boolean): Promise<IpcxObject | undefined> {
  const objects = await listObjects({ allUsers });
  const candidates = [name, name.startsWith('/') ? name : `/${name}`];
  return objects.find((o) => candidates.includes(o.name)) ?? objects.find((o) => o.name.endsWith(name));
}

const program = new Command('ipcx')
  .description("Operator's view of ipcx: its kernel objects, their owners, and this machine's limits")
  .showHelpAfterError()
  .exitOverride();

program
  .command('ls')
  .description('every ipcx object (segments, queues, semaphores, socket files, topics) and whether its owner is alive')
  .option('--json', 'machine-readable output')
  .option('-a, --all-users', "every user's objects (needs root)")
  .option('--filter <text>', 'only names containing text')
  .action(async (options: { json?: boolean; allUsers?: boolean; filter?: string }) => {
    const objects = await listObjects({ allUsers: options.allUsers, filter: options.filter });
    if (options.json) json(objects);
    else print(objects.length === 0 ? 'no ipcx objects' : formatObjects(objects));
    process.exitCode = objects.some((o) => o.owner === 'dead' && o.exists) ? EXIT_PROBLEM : EXIT_OK;
  });

program
  .command('inspect')
  .description('the header and counters of one object')
  .argument('<name>', 'as `ipcx ls` shows it (/ipcx-jobs, a socket path)')
  .option('--json', 'machine-readable output')
  .option('-a, --all-users', "look among every user's objects")
  .action(async (name: string, options: { json?: boolean; allUsers?: boolean }) => {
    const object = await findObject(name, options.allUsers === true);
    if (!object) {
      process.stderr.write(`ipcx: no ipcx object called ${name} (see \`ipcx ls\`)\n`);
      process.exitCode = EXIT_PROBLEM;
      return;
    }
    if (options.json) json(object);
    else print(formatTable(['field', 'value'], objectDetail(object)));
    process.exitCode = object.owner === 'dead' ? EXIT_PROBLEM : EXIT_OK;
  });

program
  .command('watch')
  .description('the counters of one object, live: fill, rates, revision, owner')
  .argument('<name>', 'as `ipcx ls` shows it')
  .option('-i, --interval <ms>', 'sampling interval', positiveInt, 1000)
  .option('-n, --count <n>', 'stop after n samples', positiveInt)
  .option('--json', 'one JSON line a sample')
  .action(async (name: string, options: { interval: number; count?: number; json?: boolean }) => {
    let previous: { at: number; object: IpcxObject } | undefined;
    for (let sample = 0; options.count === undefined || sample < options.count; sample++) {
      if (sample > 0) await new Promise((resolve) => setTimeout(resolve, options.interval));
      const object = await findObject(name, false);
      const at = Date.now();
      if (!object?.exists) {
        process.stderr.write(`ipcx: ${name} is gone\n`);
        process.exitCode = EXIT_PROBLEM;
        return;
      }
      const rates: Record<string, number> = {};
      if (previous) {
        const seconds = (at - previous.at) / 1000;
        for (const [key, value] of Object.entries(object.detail ?? {})) {
          const before = previous.object.detail?.[key];
          if (
            (key.endsWith('written') || key === 'revision') &&
            typeof value === 'number' &&
            typeof before === 'number'
          ) {
            rates[`${key}/s`] = Math.round((((value - before) >>> 0) / seconds) * 10) / 10;
          }
        }
      }
      const line = {
        at: new Date(at).toISOString(),
        name: object.name,
        owner: object.owner,
        fill: object.fill,
        ...object.detail,
        ...rates,
      };
      if (options.json) print(JSON.stringify(line));
      else
        print(
          Object.entries(line)
            .filter(([, v]) => v !== undefined)
            .map(
              ([k, v]) =>
                `${k}=${typeof v === 'object' ? `${(v as { used: number }).used}/${(v as { capacity: number }).capacity}` : String(v)}`,
            )
            .join('  '),
        );
      previous = { at, object };
    }
  });

program
  .command('clean')
  .description('remove objects whose owner is dead (never one with a live owner); try --dry-run first')
  .option('--dry-run', 'list what would be removed, remove nothing')
  .option('--include-unknown', 'also remove ipcx* segments no record names and nobody holds a lock on')
  .option('-a, --all-users', "every user's objects (needs root)")
  .option('--filter <text>', 'only names containing text')
  .option('--json', 'machine-readable output')
  .action(
    async (options: {
      dryRun?: boolean;
      includeUnknown?: boolean;
      allUsers?: boolean;
      filter?: string;
      json?: boolean;
    }) => {
      const result = await cleanObjects(options);
      if (options.json) json(result);
      else {
        const verb = options.dryRun ? 'would remove' : 'removed';
        print(result.removed.length === 0 ? 'nothing to remove' : `${verb}:\n${formatObjects(result.removed)}`);
        if (result.records.length > 0) print(`${verb} ${result.records.length} owner record(s) of dead processes`);
        for (const failure of result.failed)
          process.stderr.write(
            `ipcx: could not remove ${failure.object.kind} ${failure.object.name}: ${failure.error}\n`,
          );
      }
      process.exitCode =
        result.failed.length > 0 || (options.dryRun && result.removed.length > 0) ? EXIT_PROBLEM : EXIT_OK;
    },
  );

program
  .command('doctor')
  .description('what limits this machine puts on ipcx, and how to raise them')
  .option('--json', 'machine-readable output')
  .action((options: { json?: boolean }) => {
    const checks = runDoctor();
    if (options.json) json(checks);
    else
      print(
        formatTable(
          ['check', 'found', 'status', 'how to raise or fix'],
          checks.map((c) => [c.title, c.value, c.status, c.status === 'ok' ? '' : (c.fix ?? '')]),
        ),
      );
    process.exitCode = checks.some((c) => c.status === 'fail') ? EXIT_PROBLEM : EXIT_OK;
  });

program
  .command('bench')
  .description('run the benchmark suite (apps/bench of a clone of the ipcx repository); options go to it')
  .allowUnknownOption()
  .allowExcessArguments()
  .helpOption(false)
  .argument('[args...]', 'options of the bench (--quick, --filter ..., --help)')
  .action((args: string[]) => {
    const require = createRequire(import.meta.url);
    let entry: string;
    try {
      entry = join(dirname(require.resolve('@ipcx/bench/package.json')), 'src', 'cli.mjs');
    } catch {
      process.stderr.write(
        'ipcx: the benchmark suite is not installed here; it runs from a clone of the ipcx repository: `npm run bench`\n',
      );
      process.exitCode = EXIT_PROBLEM;
      return;
    }
    const result = spawnSync(process.execPath, [entry, ...args], { stdio: 'inherit' });
    process.exitCode = result.status ?? EXIT_PROBLEM;
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with exit code 0; everything else commander reports is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  } else {
    process.stderr.write(`ipcx: ${(error as Error).message}\n`);
    process.exitCode = EXIT_PROBLEM;
  }
}
