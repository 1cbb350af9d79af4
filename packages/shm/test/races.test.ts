// Finding 1 and 2 of issue 12: processes racing for one name, and a restarted Mutex creator.
// Four processes race ShmChannel.open, ShmChannel.create and Mutex.create on one name for 20 rounds:
// exactly one winner per end, nothing duplicated, one lock word.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shm } from '@ipcx/native';
import { Mutex, ShmChannel } from '@ipcx/shm';
import { killPeers, Peer } from './peers.js';
import { segmentExists, spawnReady, uniqueName, killAll } from './helpers.js';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

const ROUNDS = 20;
/** Every racer starts its call at the same moment (`at`), far enough ahead for the command to arrive. */
const together = (): number => Date.now() + 40;
const RACERS = 4;
const peers: Peer[] = [];
const names: string[] = [];
const children: ChildProcess[] = [];

function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

beforeAll(async () => {
  for (let i = 0; i < RACERS; i++) await Peer.start(peers);
}, 30_000);

afterAll(() => killPeers(peers));

afterEach(async () => {
  await killAll(children);
  for (const n of names.splice(0)) await ShmChannel.unlink(n);
});

describe('racing on one name (4 processes, 20 rounds)', () => {
  it('ShmChannel.open: exactly one process gets the second end, and it alone receives every message', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const n = name('race-open');
      const creator = await ShmChannel.create<number>(n, { bufferBytes: 4096 });
      const at = together();
      const answers = await Promise.all(peers.map((peer) => peer.ask({ op: 'open', name: n, at })));
      const winners = answers.filter((a) => a.won);
      expect(winners, `round ${round}: ${JSON.stringify(answers)}`).toHaveLength(1);
      for (const loser of answers.filter((a) => !a.won)) expect(loser.code).toBe('IPCX_ERR_ALREADY_EXISTS');
      for (let i = 0; i < 50; i++) await creator.send(i);
      const received = await Promise.all(peers.map((peer) => peer.ask({ op: 'receiveAll', count: 50, timeout: 2000 })));
      const all = received.flatMap((a) => (a.got as number[] | undefined) ?? []);
      // Once each, in order, by the one winner (two winners would show 100: each gets every message).
      expect(all).toEqual(Array.from({ length: 50 }, (_, i) => i));
      await Promise.all(peers.map((peer) => peer.ask({ op: 'closeChannel' })));
      await creator.close();
    }
  }, 60_000);

  it('ShmChannel.create: exactly one process creates, and its channel is the one an opener reaches', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const n = name('race-create');
      const at = together();
      const answers = await Promise.all(peers.map((peer) => peer.ask({ op: 'create', name: n, at })));
      const winners = answers.map((a, i) => (a.won ? i : -1)).filter((i) => i >= 0);
      expect(winners, `round ${round}: ${JSON.stringify(answers)}`).toHaveLength(1);
      for (const loser of answers.filter((a) => !a.won)) expect(loser.code).toBe('IPCX_ERR_ALREADY_EXISTS');
      const opener = await ShmChannel.open<number>(n);
      await peers[winners[0]!]!.ask({ op: 'send', count: 3 });
      expect([
        await opener.receive({ timeout: 5000 }),
        await opener.receive({ timeout: 5000 }),
        await opener.receive({ timeout: 5000 }),
      ]).toEqual([0, 1, 2]);
      await opener.close();
      await Promise.all(peers.map((peer) => peer.ask({ op: 'closeChannel' })));
      expect(segmentExists(n)).toBe(false);
    }
  }, 60_000);

  it('Mutex.create: exactly one process creates, and all of them share one lock word', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const n = name('race-mutex');
      const counterName = name('race-counter');
      shm.open(counterName, { create: true, size: 64 });
      const at = together();
      const answers = await Promise.all(peers.map((peer) => peer.ask({ op: 'mutexCreate', name: n, at })));
      expect(
        answers.filter((a) => a.won),
        `round ${round}: ${JSON.stringify(answers)}`,
      ).toHaveLength(1);
      for (const loser of answers.filter((a) => !a.won)) expect(loser.code).toBe('IPCX_ERR_ALREADY_EXISTS');
      await Promise.all(peers.map((peer, i) => (answers[i]!.won ? undefined : peer.ask({ op: 'mutexOpen', name: n }))));
      await Promise.all(peers.map((peer) => peer.ask({ op: 'mutexCount', counter: counterName, iterations: 200 })));
      expect(new Int32Array(shm.open(counterName).buffer)[0]).toBe(RACERS * 200);
      await Promise.all(peers.map((peer) => peer.ask({ op: 'closeAll' })));
    }
  }, 60_000);
});

describe('a restarted Mutex creator', () => {
  it('adopts the lock a survivor recovered from the dead creator instead of splitting it', async () => {
    const n = name('restart');
    const first = await Peer.start(peers);
    expect((await first.ask({ op: 'mutexCreate', name: n })).won).toBe(true);
    expect((await first.ask({ op: 'mutexHold' })).recovered).toBe(false);
    const survivor = await Mutex.open(n, { peerCheckInterval: 20 });
    await first.kill();
    peers.splice(peers.indexOf(first), 1);
    const guard = await survivor.lock({ timeout: 5000 });
    expect(guard.recovered).toBe(true);
    // The creator restarts (a new object, its own kernel locks) while the survivor holds the lock.
    const restarted = await Mutex.create(n, { peerCheckInterval: 20 });
    expect(restarted.tryLock()).toBeUndefined();
    await expect(restarted.lock({ timeout: 300 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    guard.release();
    const next = restarted.tryLock();
    expect(next?.recovered).toBe(false);
    next!.release();
    await survivor.close();
    await restarted.close();
    expect(segmentExists(n)).toBe(false);
  }, 20_000);

  it('replaces a segment nobody uses any more, and refuses one whose creator lives', async () => {
    const n = name('stale');
    const child = await spawnReady('segment-owner.mjs', [n], children).catch(() => undefined);
    if (child === undefined) return;
    await expect(Mutex.create(n)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const mutex = await Mutex.create(n);
    await mutex.close();
  });
});
