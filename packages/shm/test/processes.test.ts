import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { AlreadyExistsError, IncompatibleError, InvalidNameError, PeerGoneError, rawCodec } from '@ipcx/core';
import { describeChannelConformance } from '@ipcx/core/testing';
import { SharedState, ShmChannel } from '@ipcx/shm';
import { killAll, segmentExists, spawnReady, uniqueName } from './helpers.js';

const children: ChildProcess[] = [];
const names: string[] = [];
function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

afterEach(async () => {
  await killAll(children);
  await Promise.all(names.splice(0).map((n) => ShmChannel.unlink(n)));
});

describeChannelConformance(
  'ShmChannel on a named segment',
  async () => {
    const n = name('conf');
    const a = await ShmChannel.create(n, { bufferBytes: 4096 });
    return [a, await ShmChannel.open(n)];
  },
  {
    maxMessageBytes: 2040,
    garbagePeer: async () => {
      const n = name('conf-garbage');
      const receiver = await ShmChannel.create(n, { bufferBytes: 4096 });
      return [receiver, await ShmChannel.open(n, { codec: rawCodec })];
    },
    // This end, and an echo in a child process that the suite kills.
    killablePeer: async () => {
      const n = name('conf-kill');
      const channel = await ShmChannel.create(n, { bufferBytes: 4096, peerCheckInterval: 20 });
      const child = await spawnReady('process-echo.mjs', [n], children);
      const exited = once(child, 'exit');
      return {
        channel,
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      };
    },
  },
);

describe('ShmChannel between processes', () => {
  it('round-trips messages with a child process that echoes', async () => {
    const n = name('echo');
    const channel = await ShmChannel.create<{ i: number; s: string }>(n, { bufferBytes: 8192 });
    const child = await spawnReady('process-echo.mjs', [n], children);
    for (let i = 0; i < 500; i++) {
      await channel.send({ i, s: 'y'.repeat(i) });
      expect(await channel.receive({ timeout: 5000 })).toEqual({ i, s: 'y'.repeat(i) });
    }
    const exited = once(child, 'exit');
    await channel.close();
    expect((await exited)[0]).toBe(0);
    expect(segmentExists(n)).toBe(false);
  });

  it('ends a receive waiting on a peer process killed with SIGKILL with PeerGoneError', async () => {
    const n = name('kill');
    const channel = await ShmChannel.create(n, { bufferBytes: 1024, peerCheckInterval: 50, codec: rawCodec });
    const child = await spawnReady('process-echo.mjs', [n, 'raw'], children);
    await channel.send(new Uint8Array([1]));
    expect([...(await channel.receive({ timeout: 5000 }))]).toEqual([1]);
    const pending = channel.receive({ timeout: 10_000 });
    child.kill('SIGKILL');
    await expect(pending).rejects.toBeInstanceOf(PeerGoneError);
    await channel.close();
  });

  it('replaces a segment whose owner died, and refuses one whose owner lives', async () => {
    const n = name('stale');
    const owner = await spawnReady('segment-owner.mjs', [n], children);
    await expect(ShmChannel.create(n)).rejects.toBeInstanceOf(AlreadyExistsError);
    const exited = once(owner, 'exit');
    owner.kill('SIGKILL');
    await exited;
    expect(segmentExists(n)).toBe(true);
    const channel = await ShmChannel.create(n, { bufferBytes: 1024 });
    await channel.close();
    expect(segmentExists(n)).toBe(false);
  });

  it('refuses bad names with InvalidNameError and a foreign segment with IncompatibleError', async () => {
    await expect(ShmChannel.create('/a/b')).rejects.toBeInstanceOf(InvalidNameError);
    await expect(ShmChannel.create('x'.repeat(300))).rejects.toBeInstanceOf(InvalidNameError);
    await expect(ShmChannel.open(name('missing'))).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
    const n = name('foreign');
    const state = await SharedState.create(n, { maxValueBytes: 64 });
    await expect(ShmChannel.open(n)).rejects.toBeInstanceOf(IncompatibleError);
    await state.close();
  });
});
