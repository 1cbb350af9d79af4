import { spawnSync } from 'node:child_process';
import { setImmediate as tick } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compileC, type CompiledC } from '@ipcx/core/testing';
import { FdWatcher, futex, mq, shm } from '../src/index.js';
import { defer, fixtureProcess, ignoring, succeeds, uniqueName, within } from './helpers.js';

// A C compiler is optional on a developer machine; CI has one. Without it the test is skipped, loudly.
const cc = spawnSync('cc', ['--version'], { stdio: 'ignore' }).status === 0;
if (!cc) console.warn('c-interop: no `cc` on PATH — skipping the test against a C program');

const enc = new TextEncoder();
const dec = new TextDecoder();

describe.skipIf(!cc)('interop with a C program', () => {
  let peer: CompiledC | undefined;
  let binary = '';

  beforeAll(async () => {
    peer = await compileC(new URL('./fixtures/c-peer.c', import.meta.url), { libraries: ['-lrt'] });
    binary = peer.binary;
  });
  afterAll(() => peer?.remove());

  function queue(label: string): { name: string; fd: number } {
    const name = `/${uniqueName(label)}`;
    const fd = mq.open(name, { create: true, exclusive: true, maxMessages: 8, messageSize: 128 });
    defer(() => ignoring(['ENOENT'], () => mq.unlink(name)));
    defer(() => mq.close(fd));
    return { name, fd };
  }

  it('exchanges queue messages with priorities, and wakes and is woken through a futex in a shared segment', async () => {
    const segName = `/${uniqueName('c-shm')}`;
    const seg = shm.open(segName, { create: true, exclusive: true, size: 4096 });
    defer(() => ignoring(['ENOENT'], () => shm.unlink(segName)));
    const words = new Int32Array(seg.buffer);
    const toC = queue('to-c');
    const fromC = queue('from-c');

    const peer = fixtureProcess(binary, [segName, toC.name, fromC.name, '3']);
    await within(
      peer.line((l) => l === 'ready'),
      10_000,
      'C peer ready',
    );

    // Wait for the C side's futex wake on word 0 while we talk over the queues.
    const wokenByC = futex.waitAsync(words, 0, 0, 10_000);

    const replies: string[] = [];
    const allReplies = new Promise<void>((resolve) => {
      const w = new FdWatcher(fromC.fd, () => {
        const buf = new Uint8Array(128);
        for (;;) {
          try {
            const { length, priority } = mq.receive(fromC.fd, buf);
            replies.push(`${dec.decode(buf.subarray(0, length))}@${priority}`);
          } catch (error) {
            if ((error as { code?: string }).code === 'EAGAIN') break;
            throw error;
          }
        }
        if (replies.length === 3) {
          w.close();
          resolve();
        }
      });
      defer(() => w.close());
      w.start({ readable: true });
    });
    mq.send(toC.fd, enc.encode('alpha'), 1);
    mq.send(toC.fd, enc.encode('beta'), 7);
    mq.send(toC.fd, enc.encode('gamma'), 3);
    await within(allReplies, 10_000, 'replies from C');
    // C received highest priority first and answered at priority + 1.
    expect(new Set(replies)).toEqual(new Set(['c:beta@8', 'c:gamma@4', 'c:alpha@2']));

    expect(await within(wokenByC, 10_000, 'woken by C')).toBe('ok');
    await within(
      peer.line((l) => l === 'woke 1'),
      10_000,
      'C reports the wake',
    );

    // Now wake the C program blocked in FUTEX_WAIT on word 1.
    Atomics.store(words, 1, 99);
    await within(
      (async () => {
        while (futex.notify(words, 1) === 0 && peer.child.exitCode === null) await tick();
      })(),
      10_000,
      'C waiter queued',
    );
    expect(await succeeds(peer, 10_000, 'C peer')).toContain('woken with 99');
  });
});
