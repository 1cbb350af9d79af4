import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mq, shm } from '@ipcx/native';
import {
  childLines,
  defer,
  ignoring,
  killChild,
  killTrackedChildren,
  runDeferred,
  spawnCode,
  uniqueName,
} from '@ipcx/core/testing';
const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function ipcx(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A process that makes a segment and a queue, registers them as a transport does, and stays until killed. */
async function owner(tag: string): Promise<{ child: ChildProcess; segment: string; queue: string }> {
  const segment = `/${uniqueName(`cli-${tag}`)}`;
  const queue = `${segment}-q`;
  const script = `
    import { registerKernelObject } from '@ipcx/core/transport';
    import { mq, shm } from '@ipcx/native';
    shm.open(${JSON.stringify(segment)}, { create: true, exclusive: true, size: 4096 });
    registerKernelObject({ kind: 'shm', name: ${JSON.stringify(segment)}, unlink: () => shm.unlink(${JSON.stringify(segment)}) });
    const fd = mq.open(${JSON.stringify(queue)}, { create: true, exclusive: true, maxMessages: 4, messageSize: 64 });
    mq.send(fd, new Uint8Array(8));
    registerKernelObject({ kind: 'mq', name: ${JSON.stringify(queue)}, unlink: () => mq.unlink(${JSON.stringify(queue)}) });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  // Unlinked after the test unless the test (or `ipcx clean`) did; the owner is killed before.
  defer(() => void ignoring(['ENOENT'], () => shm.unlink(segment)));
  defer(() => void ignoring(['ENOENT'], () => mq.unlink(queue)));
  const child = spawnCode(script);
  await childLines(child).line('ready');
  return { child, segment, queue };
}

describe('ipcx', () => {
  beforeAll(() => {
    expect(existsSync(bin), 'build @ipcx/cli first').toBe(true);
  });
  afterEach(async () => {
    await killTrackedChildren();
    await runDeferred();
  });

  it('ls shows a live owner, then a dead one after SIGKILL; clean --dry-run removes nothing; clean removes only the dead', async () => {
    const dead = await owner('dead');
    const live = await owner('live');
    const filter = `-${process.pid}-`;
    const before = JSON.parse(ipcx('ls', '--json', '--filter', filter).stdout) as {
      kind: string;
      name: string;
      owner: string;
      pid: number;
      fill?: { used: number };
    }[];
    const find = (list: typeof before, name: string) => list.find((o) => o.name === name);
    expect(find(before, dead.segment)).toMatchObject({ kind: 'shm', owner: 'alive', pid: dead.child.pid });
    expect(find(before, dead.queue)).toMatchObject({
      kind: 'mq',
      owner: 'alive',
      fill: { used: 1, capacity: 4, unit: 'messages' },
    });

    await killChild(dead.child);
    const listed = ipcx('ls', '--json', '--filter', filter);
    expect(listed.code).toBe(1); // an object whose owner is dead is a problem to report
    const after = JSON.parse(listed.stdout) as typeof before;
    expect(find(after, dead.segment)?.owner).toBe('dead');
    expect(find(after, dead.queue)?.owner).toBe('dead');
    expect(find(after, live.segment)?.owner).toBe('alive');

    const dry = ipcx('clean', '--dry-run', '--json', '--filter', filter);
    expect(dry.code).toBe(1);
    expect((JSON.parse(dry.stdout) as { removed: { name: string }[] }).removed.map((o) => o.name).sort()).toEqual(
      [dead.queue, dead.segment].sort(),
    );
    expect(existsSync(`/dev/shm${dead.segment}`)).toBe(true);

    const clean = ipcx('clean', '--json', '--filter', filter);
    expect(clean.code).toBe(0);
    expect(existsSync(`/dev/shm${dead.segment}`)).toBe(false);
    expect(() => mq.unlink(dead.queue)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(existsSync(`/dev/shm${live.segment}`)).toBe(true);
    const fd = mq.open(live.queue, { write: false });
    mq.close(fd);
    const final = JSON.parse(ipcx('ls', '--json', '--filter', filter).stdout) as typeof before;
    expect(final.map((o) => o.name).sort()).toEqual([live.queue, live.segment].sort());
  });

  it("clean --filter removes only what matches, and keeps the dead owner's record while it names what is left", async () => {
    const o = await owner('filter');
    await killChild(o.child);
    expect(ipcx('clean', '--filter', o.queue).code).toBe(0);
    expect(() => mq.unlink(o.queue)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const left = JSON.parse(ipcx('ls', '--json', '--filter', o.segment).stdout) as { name: string; owner: string }[];
    expect(left.find((x) => x.name === o.segment)?.owner).toBe('dead');
    expect(ipcx('clean', '--filter', o.segment).code).toBe(0);
    expect(existsSync(`/dev/shm${o.segment}`)).toBe(false);
  });

  it('inspect shows one object and its header', async () => {
    const o = await owner('inspect');
    const result = ipcx('inspect', o.queue, '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ kind: 'mq', name: o.queue, owner: 'alive' });
    expect(ipcx('inspect', `/ipcx-no-such-${process.pid}`).code).toBe(1);
  });

  it('watch samples a queue and stops after --count', async () => {
    const o = await owner('watch');
    const result = ipcx('watch', o.queue, '--json', '--count', '2', '--interval', '50');
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { owner: string; fill: { used: number } });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ owner: 'alive', fill: { used: 1 } });
  });

  it('doctor reports the limits with stable ids, and exits 1 only when a check fails', () => {
    const result = ipcx('doctor', '--json');
    const checks = JSON.parse(result.stdout) as { id: string; status: string }[];
    expect(checks.map((c) => c.id)).toEqual(
      expect.arrayContaining(['shm-space', 'mq-msg-max', 'mq-rlimit', 'open-files']),
    );
    expect(result.code).toBe(checks.some((c) => c.status === 'fail') ? 1 : 0);
  });

  it('exits 2 on a usage error and 0 on --help of every command', () => {
    expect(ipcx('no-such-command').code).toBe(2);
    expect(ipcx('watch').code).toBe(2);
    expect(ipcx('watch', 'x', '--interval', 'soon').code).toBe(2);
    for (const command of ['ls', 'inspect', 'watch', 'clean', 'doctor']) {
      const help = ipcx(command, '--help');
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`ipcx ${command}`);
    }
    expect(ipcx('--help').code).toBe(0);
  });
});
