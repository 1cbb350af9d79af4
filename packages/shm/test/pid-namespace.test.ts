// Finding 3 of issue 12: liveness across PID namespaces (containers sharing /dev/shm). A peer runs as
// pid 1 of a new PID namespace (`unshare -p -f --mount-proc`, root only): while it lives it is never taken
// for dead, and once it dies it is recovered, although its pid means nothing here.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerGoneError, TimeoutError } from '@ipcx/core';
import { Mutex, ShmChannel } from '@ipcx/shm';
import { killPeers, Peer } from './peers.js';
import { uniqueName } from './helpers.js';

const UNSHARE = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc'];
const canUnshare = process.getuid?.() === 0 && spawnSync(UNSHARE[0]!, [...UNSHARE.slice(1), 'true']).status === 0;
const peers: Peer[] = [];
const names: string[] = [];

afterEach(async () => {
  await killPeers(peers);
  for (const n of names.splice(0)) await ShmChannel.unlink(n);
});

function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

describe.skipIf(!canUnshare)('a peer in another PID namespace (pid 1 there)', () => {
  it('a Mutex holder there is not taken while it lives, and is recovered once it dies', async () => {
    const n = name('pidns-mutex');
    const mutex = await Mutex.create(n, { peerCheckInterval: 50 });
    const holder = await Peer.start(peers, UNSHARE);
    expect((await holder.ask({ op: 'mutexOpen', name: n })).won).toBe(true);
    expect((await holder.ask({ op: 'mutexHold' })).recovered).toBe(false);
    expect(mutex.tryLock()).toBeUndefined();
    // Many owner checks run in 600 ms; none may take a live holder's lock.
    await expect(mutex.lock({ timeout: 600 })).rejects.toBeInstanceOf(TimeoutError);
    await holder.kill(); // SIGKILL to unshare; --kill-child sends SIGKILL to the pid-1 holder
    const killedAt = performance.now();
    const guard = await mutex.lock({ timeout: 5000 });
    const took = performance.now() - killedAt;
    expect(guard.recovered).toBe(true);
    console.log(
      `[ipcx-fault] Mutex holder (pid 1 of another PID namespace) SIGKILLed: recovered in ${took.toFixed(1)} ms`,
    );
    guard.release();
    await mutex.close();
  }, 20_000);

  it('a ShmChannel peer there is not declared gone while it lives, and is once it dies', async () => {
    const n = name('pidns-channel');
    const channel = await ShmChannel.create<number>(n, { bufferBytes: 4096, peerCheckInterval: 50 });
    const peer = await Peer.start(peers, UNSHARE);
    expect((await peer.ask({ op: 'open', name: n })).won).toBe(true);
    await expect(channel.receive({ timeout: 600 })).rejects.toBeInstanceOf(TimeoutError);
    await channel.send(1);
    await peer.kill();
    const killedAt = performance.now();
    await expect(channel.receive({ timeout: 5000 })).rejects.toBeInstanceOf(PeerGoneError);
    console.log(
      `[ipcx-fault] ShmChannel peer (pid 1 of another PID namespace) SIGKILLed: noticed in ${(performance.now() - killedAt).toFixed(1)} ms`,
    );
    await channel.close();
  }, 20_000);
});
