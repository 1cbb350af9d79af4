import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { childChannel } from '@ipcx/sockets';
import { exited, fixtures, spawnNode } from './helpers.js';

describe('child process pipes', () => {
  it('talks to a child over an extra stdio pipe, both ways, and the child exits when asked', async () => {
    const child = spawnNode([`${fixtures}child.mjs`], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    await using channel = childChannel(child);
    expect(channel.peer.pid).toBe(child.pid);
    for (let i = 0; i < 100; i++) await channel.send({ i });
    for (let i = 0; i < 100; i++)
      expect(await channel.receive({ timeout: 10_000 })).toEqual({ echo: { i }, pid: child.pid });
    await channel.send('exit');
    await expect(channel.receive({ timeout: 10_000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(await exited(child)).toMatchObject({ code: 0, signal: null });
  });

  it('ends receive when the child is killed', async () => {
    const child = spawnNode([`${fixtures}child.mjs`], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    await using channel = childChannel(child);
    await channel.send('ping');
    await channel.receive({ timeout: 10_000 });
    const receiving = channel.receive({ timeout: 10_000 });
    child.kill('SIGKILL');
    await expect(receiving).rejects.toMatchObject({ code: expect.stringMatching(/IPCX_ERR_(CLOSED|PEER_GONE)/) });
    await expect(channel.send('anyone?')).rejects.toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it('says NotFoundError when the child has no pipe at that slot', () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    expect(() => childChannel(child)).toThrow(expect.objectContaining({ code: 'IPCX_ERR_NOT_FOUND' }));
    expect(() => childChannel(child, { fd: 1 })).toThrow(expect.objectContaining({ code: 'IPCX_ERR_NOT_FOUND' }));
  });
});
