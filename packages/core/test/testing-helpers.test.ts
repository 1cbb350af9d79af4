import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  childLines,
  compileC,
  defer,
  exited,
  ignoring,
  killChild,
  killTrackedChildren,
  rejection,
  runDeferred,
  runReadmeExample,
  shmLeftovers,
  spawnCode,
  spawnNode,
  trackChild,
  uniqueName,
  until,
  within,
} from '@ipcx/core/testing';
import { spawn } from 'node:child_process';

afterEach(killTrackedChildren);

describe('uniqueName', () => {
  it('is ipcx, the label, this pid and random hex, and differs on every call', () => {
    const a = uniqueName('jobs');
    expect(a).toMatch(new RegExp(`^ipcx-jobs-${process.pid}-[0-9a-f]{8}$`));
    expect(uniqueName('jobs')).not.toBe(a);
    expect(uniqueName()).toMatch(new RegExp(`^ipcx-test-${process.pid}-`));
  });
});

describe('child processes', () => {
  it('killTrackedChildren kills a tracked child with SIGKILL and resolves once it exited', async () => {
    const child = spawnNode([
      '-e',
      'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)',
    ]);
    const out = childLines(child);
    expect(await out.next()).toBe('ready');
    await killTrackedChildren();
    expect(child.signalCode).toBe('SIGKILL');
    expect((await out.exited).signal).toBe('SIGKILL');
    await killTrackedChildren(); // nothing left: resolves at once
  });

  it('tracks a child spawned elsewhere, and forgets one that exited by itself', async () => {
    const child = trackChild(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }));
    const done = spawnNode(['-e', '']);
    expect((await childLines(done).exited).code).toBe(0);
    await killTrackedChildren();
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('childLines queues lines, finds one by prefix, and rejects with stderr when the child exits first', async () => {
    const child = spawnCode(
      'console.log("a"); console.log("pid 42"); console.log("b"); console.error("boom"); process.exit(3)',
    );
    const out = childLines(child);
    expect(await out.line('pid')).toBe('pid 42');
    expect(await out.next()).toBe('a');
    expect(await out.next()).toBe('pid 42');
    expect(await out.next()).toBe('b');
    const error = await rejection(out.next());
    expect(error.message).toMatch(/exited \(3\).*boom/s);
    expect(await out.exited).toMatchObject({ code: 3, stdout: 'a\npid 42\nb\n', stderr: 'boom\n' });
  });

  it('childLines is one reader per child, made when spawnNode spawns: a late reader misses nothing', async () => {
    const child = spawnNode(['-e', 'console.log("early")']);
    expect((await exited(child)).code).toBe(0); // every line was printed before this reader was asked for
    const out = childLines(child);
    expect(out).toBe(childLines(child));
    expect(out.child).toBe(child);
    expect(await out.next()).toBe('early');
    expect(await exited(child)).toMatchObject({ code: 0, signal: null, stdout: 'early\n' });
  });

  it('exited resolves for a child that ended before its reader was made, and is bounded', async () => {
    const child = trackChild(spawn(process.execPath, ['-e', ''], { stdio: 'ignore' }));
    await new Promise((resolve) => child.once('close', resolve));
    expect(await exited(child)).toMatchObject({ code: 0, signal: null });
    const stays = spawnNode(['-e', 'setInterval(() => {}, 1000)']);
    expect((await rejection(exited(stays, 50))).message).toMatch(/not within 50 ms/);
  });

  it('killChild signals a child and resolves with how it ended', async () => {
    const child = spawnNode(['-e', 'console.log("up"); setInterval(() => {}, 1000)']);
    expect(await childLines(child).next()).toBe('up');
    expect(await killChild(child, 'SIGTERM')).toMatchObject({ code: null, signal: 'SIGTERM', stdout: 'up\n' });
    expect(await killChild(child)).toMatchObject({ signal: 'SIGTERM' }); // already gone: how it ended
  });

  it('spawnCode passes spawn options through (env, cwd)', async () => {
    const child = spawnCode('console.log(process.env.IPCX_TESTING_VALUE, process.cwd())', {
      env: { ...process.env, IPCX_TESTING_VALUE: 'passed' },
      cwd: '/',
    });
    expect(await childLines(child).next()).toBe('passed /');
  });

  it('a wait for a line is bounded', async () => {
    const out = childLines(spawnNode(['-e', 'setInterval(() => {}, 1000)']));
    expect((await rejection(out.next(50))).message).toMatch(/not within 50 ms/);
  });
});

describe('defer / runDeferred / ignoring', () => {
  it('runs every step, last first, and reports the ones that failed after all ran', async () => {
    const ran: number[] = [];
    defer(() => void ran.push(1));
    defer(() => {
      throw new Error('step 2');
    });
    defer(async () => void ran.push(3));
    const error = await rejection(runDeferred());
    expect(error).toBeInstanceOf(AggregateError);
    expect(ran).toEqual([3, 1]);
    await runDeferred();
  });

  it('ignoring swallows only the codes listed', () => {
    const enoent = () => {
      throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    };
    expect(ignoring(['ENOENT'], enoent)).toBeUndefined();
    expect(() => ignoring(['EACCES'], enoent)).toThrow('gone');
    expect(ignoring(['ENOENT'], () => 5)).toBe(5);
  });
});

describe('shmLeftovers', () => {
  it('lists /dev/shm names that contain the pattern', () => {
    expect(existsSync('/dev/shm')).toBe(true);
    expect(shmLeftovers(uniqueName('none'))).toEqual([]);
  });

  it("takes a predicate too, and by default looks for this process's names", async () => {
    const { openSync, closeSync, unlinkSync } = await import('node:fs');
    const name = uniqueName('leftover');
    closeSync(openSync(`/dev/shm/${name}`, 'w'));
    try {
      expect(shmLeftovers()).toContain(name);
      expect(shmLeftovers((n) => n === name)).toEqual([name]);
    } finally {
      unlinkSync(`/dev/shm/${name}`);
    }
    expect(shmLeftovers(name)).toEqual([]);
  });
});

describe('compileC', () => {
  it('builds a C program into a folder that remove() deletes, or says why it could not', async (context) => {
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-compile-test-'));
    try {
      writeFileSync(join(dir, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n');
      writeFileSync(join(dir, 'broken.c'), 'int main(void) { return }\n');
      const broken = await rejection(compileC(join(dir, 'broken.c')));
      expect(broken.message).toMatch(/no C compiler could build broken\.c/);
      const hello = await compileC(join(dir, 'hello.c'), { context });
      try {
        expect(
          await childLines(trackChild(spawn(hello.binary, [], { stdio: ['ignore', 'pipe', 'pipe'] }))).next(),
        ).toBe('hello from C');
      } finally {
        hello.remove();
      }
      expect(existsSync(hello.binary)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runReadmeExample', () => {
  it('runs the js block that starts with the header from the README folder, and fails on a missing block or a bad exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipcx-readme-test-'));
    try {
      const readme = pathToFileURL(join(dir, 'README.md'));
      const fence = '```';
      writeFileSync(
        readme,
        [
          `${fence}js`,
          '// other.mjs',
          'process.exit(1)',
          fence,
          `${fence}js`,
          '// ok.mjs: node ok.mjs',
          'console.log(process.cwd())',
          fence,
          `${fence}js`,
          '// bad.mjs',
          'console.error("broken"); process.exit(2)',
          fence,
          '',
        ].join('\n'),
      );
      expect(await runReadmeExample(readme, '// ok.mjs: node ok.mjs')).toBe(`${dir}\n`);
      expect((await rejection(runReadmeExample(readme, '// bad.mjs'))).message).toMatch(/exit 2\nbroken/);
      expect((await rejection(runReadmeExample(readme, '// none.mjs'))).message).toMatch(/no js block/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('until', () => {
  it('resolves once the condition holds, and fails naming what it waited for after the limit', async () => {
    let ready = false;
    setTimeout(() => (ready = true), 20);
    await until(() => ready, 5000, 'ready');
    expect(ready).toBe(true);
    expect((await rejection(until(() => false, 30, 'never'))).message).toBe('never: not within 30 ms');
  });
});

describe('within', () => {
  it('passes the value through', async () => {
    expect(await within(Promise.resolve(1), 100, 'one')).toBe(1);
  });
});
