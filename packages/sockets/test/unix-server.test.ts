import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { isIpcError, ownedKernelObjects, unlinkOwnedKernelObjects, type IpcError } from '@ipcx/core';
import { UnixServer, UnixSocket, type UnixChannel } from '@ipcx/sockets';
import { childLines, exited, fixtures, killChild, spawnNode, uniqueNames, within } from './helpers.js';

const names = uniqueNames();
/**
 * A client that runs as uid 65534: it starts as this user, loads its script and modules, and drops to 65534
 * before it connects (IPCX_TEST_DROP_TO), so it works wherever the repository was cloned, a 0700 folder too.
 */
const asNobody = { env: { ...process.env, IPCX_TEST_DROP_TO: '65534' } };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isIpcError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Answers every message of every client with { echo: message } until the server closes. */
function echo(server: UnixServer): void {
  void (async () => {
    for await (const client of server) {
      void (async () => {
        try {
          for await (const m of client) await client.send({ echo: m });
        } catch {
          // a client that broke off: the server carries on
        }
      })();
    }
  })();
}

describe('UnixServer', () => {
  it('serves 64 clients at once, each sending and receiving its own messages', async () => {
    const path = names.path('many.sock');
    await using server = await UnixServer.listen(path);
    echo(server);
    const clients = await Promise.all(Array.from({ length: 64 }, () => UnixSocket.connect(path, { timeout: 5000 })));
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          for (let i = 0; i < 20; i++) await client.send({ c, i });
          for (let i = 0; i < 20; i++) expect(await client.receive({ timeout: 5000 })).toEqual({ echo: { c, i } });
        }),
      );
      expect(server.clients.length).toBe(64);
      expect(
        server.clients.every((client) => client.peer.pid === process.pid && client.peer.uid === process.getuid!()),
      ).toBe(true);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it('gives every client the peer credentials of the process at the other end, and the client those of the server', async () => {
    const path = names.path('cred.sock');
    await using server = await UnixServer.listen(path);
    await using client = await UnixSocket.connect(path, { timeout: 5000 });
    const accepted = await server.accept({ timeout: 5000 });
    expect(accepted.peer).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    expect(client.peer.pid).toBe(process.pid);
  });

  it('broadcasts one message to every client', async () => {
    const path = names.path('broadcast.sock');
    await using server = await UnixServer.listen(path);
    const clients = await Promise.all(Array.from({ length: 5 }, () => UnixSocket.connect(path, { timeout: 5000 })));
    try {
      const accepted: UnixChannel[] = [];
      for (let i = 0; i < 5; i++) accepted.push(await server.accept({ timeout: 5000 }));
      expect(await server.broadcast({ news: 1 })).toBe(5);
      for (const client of clients) expect(await client.receive({ timeout: 5000 })).toEqual({ news: 1 });
      const gone = closeOf(server.clients[0]!); // the first accepted: clients[0]'s other end
      await clients[0]!.close();
      await within(gone, 5000, 'the server dropping the closed client');
      expect(server.clients).toHaveLength(4);
      expect(await server.broadcast('again')).toBe(4);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });

  it('creates the socket file 0600 by default (or with the given mode) and removes it on close', async () => {
    const path = names.path('mode.sock');
    const server = await UnixServer.listen(path);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    await server.close();
    expect(existsSync(path)).toBe(false);
    const wide = await UnixServer.listen(path, { mode: 0o660 });
    expect(lstatSync(path).mode & 0o777).toBe(0o660);
    await wide.close();
    await wide.close(); // idempotent
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a socket file left by a server that was killed', async () => {
    const path = names.path('stale.sock');
    const child = spawnNode([`${fixtures}listen.mjs`, path, 'hold']);
    expect(await childLines(child).next()).toBe('ready');
    await killChild(child);
    expect(lstatSync(path).isSocket()).toBe(true); // SIGKILL leaves the file behind
    await using server = await UnixServer.listen(path);
    await using client = await UnixSocket.connect(path, { timeout: 5000 });
    await client.send('after recovery');
    expect(await (await server.accept({ timeout: 5000 })).receive({ timeout: 5000 })).toBe('after recovery');
  });

  it("refuses a live server's socket with AlreadyExistsError, and a path that is not a socket without touching it", async () => {
    const path = names.path('live.sock');
    await using server = await UnixServer.listen(path);
    expect(await codeOf(UnixServer.listen(path))).toBe('IPCX_ERR_ALREADY_EXISTS');
    expect(server.closed).toBe(false);
    await using _client = await UnixSocket.connect(path, { timeout: 5000 }); // the first server still answers
    expect((await server.accept({ timeout: 5000 })).peer.pid).toBe(process.pid);
    const file = names.path('plain-file');
    writeFileSync(file, 'keep me');
    expect(await codeOf(UnixServer.listen(file))).toBe('IPCX_ERR_ALREADY_EXISTS');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('listens on an abstract name without any file, and frees the name on close', async () => {
    const address = names.abstract('abs');
    const server = await UnixServer.listen(address);
    expect(server.address.display).toBe(`@${address.abstract}`);
    expect(await codeOf(UnixServer.listen(address))).toBe('IPCX_ERR_ALREADY_EXISTS');
    const client = await UnixSocket.connect(address, { timeout: 5000 });
    await client.send({ over: 'abstract' });
    expect(await (await server.accept({ timeout: 5000 })).receive({ timeout: 5000 })).toEqual({ over: 'abstract' });
    await client.close();
    await server.close();
    expect(await codeOf(UnixSocket.connect(address, { timeout: 5000 }))).toBe('IPCX_ERR_NOT_FOUND');
    const again = await UnixServer.listen(address);
    await again.close();
  });

  it('turns bad addresses and missing servers into typed errors', async () => {
    expect(await codeOf(UnixSocket.connect(names.path('missing.sock'), { timeout: 1000 }))).toBe('IPCX_ERR_NOT_FOUND');
    await expect(UnixServer.listen(`/tmp/${'x'.repeat(120)}`)).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_NAME' });
    await expect(UnixServer.listen('')).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_NAME' });
    await expect(UnixSocket.connect({ abstract: 'a\0b' })).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_NAME' });
    await expect(UnixServer.listen('/nonexistent-dir/x.sock')).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
    await expect(UnixServer.listen(names.path('m.sock'), { mode: 0o10000 })).rejects.toBeInstanceOf(RangeError);
  });

  it('ends accept and iteration with ClosedError / quietly when the server closes', async () => {
    const path = names.path('accept.sock');
    const server = await UnixServer.listen(path);
    expect(await codeOf(server.accept({ timeout: 20 }))).toBe('IPCX_ERR_TIMEOUT');
    const pending = server.accept();
    const iterating = (async () => {
      for await (const _ of server) throw new Error('nobody connected');
    })();
    await server.close();
    expect(await codeOf(pending)).toBe('IPCX_ERR_CLOSED');
    await within(iterating, 5000, 'iteration ending');
    expect(await codeOf(server.accept())).toBe('IPCX_ERR_CLOSED');
  });

  it('closes its clients when it closes', async () => {
    const path = names.path('close-all.sock');
    const server = await UnixServer.listen(path);
    const client = await UnixSocket.connect(path, { timeout: 5000 });
    const accepted = await server.accept({ timeout: 5000 });
    await server.close();
    expect(accepted.closed).toBe(true);
    expect(await codeOf(client.receive({ timeout: 5000 }))).toBe('IPCX_ERR_CLOSED');
    await client.close();
  });

  it('refuses clients over maxClients and tells onRefuse', async () => {
    const path = names.path('max.sock');
    const refused: IpcError[] = [];
    await using server = await UnixServer.listen(path, { maxClients: 2, onRefuse: (e) => refused.push(e) });
    const a = await UnixSocket.connect(path, { timeout: 5000 });
    const b = await UnixSocket.connect(path, { timeout: 5000 });
    await server.accept({ timeout: 5000 });
    await server.accept({ timeout: 5000 });
    const c = await UnixSocket.connect(path, { timeout: 5000 });
    expect(['IPCX_ERR_CLOSED', 'IPCX_ERR_PEER_GONE']).toContain(await codeOf(c.receive({ timeout: 5000 })));
    expect(refused.map((e) => e.code)).toEqual(['IPCX_ERR_PERMISSION']);
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});

describe('UnixServer against bad peers', () => {
  it('drops a client killed by SIGKILL in the middle of a frame and carries on', async () => {
    const path = names.path('kill.sock');
    await using server = await UnixServer.listen(path);
    const child = spawnNode([`${fixtures}client.mjs`, path, 'partial']);
    const victim = await server.accept({ timeout: 10_000 });
    expect(victim.peer.pid).toBe(child.pid);
    expect(await childLines(child).next()).toBe('sent');
    const receiving = victim.receive({ timeout: 10_000 });
    child.kill('SIGKILL');
    expect(await codeOf(receiving)).toBe('IPCX_ERR_BAD_FRAME'); // EOF inside a frame
    expect(victim.closed).toBe(true);
    await within(closeOf(victim), 5000, 'the server dropping the dead client');
    expect(server.clients).toHaveLength(0);
    await using next = await UnixSocket.connect(path, { timeout: 5000 });
    await next.send('still serving');
    expect(await (await server.accept({ timeout: 5000 })).receive({ timeout: 5000 })).toBe('still serving');
  });

  it('closes a connection that sends garbage or an absurd length prefix, and leaves other clients alone', async () => {
    const path = names.path('garbage.sock');
    await using server = await UnixServer.listen(path, { maxMessageBytes: 1024 * 1024 });
    await using good = await UnixSocket.connect(path, { timeout: 5000 });
    const goodEnd = await server.accept({ timeout: 5000 });

    const cases: [string, Buffer, string][] = [
      // 0xc1 is the one byte msgpack never uses
      ['garbage payload', Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), 'IPCX_ERR_BAD_FRAME'],
      ['absurd length', Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), 'IPCX_ERR_TOO_LARGE'],
    ];
    for (const [what, bytes, code] of cases) {
      const raw = net.connect(path);
      const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
      raw.on('error', () => {});
      const bad = await server.accept({ timeout: 5000 });
      raw.write(bytes);
      expect(await codeOf(bad.receive({ timeout: 5000 })), what).toBe(code);
      await within(closed, 5000, `${what}: the server closing the connection`);
      expect(bad.closed).toBe(true);
    }

    await good.send({ still: 'fine' });
    expect(await goodEnd.receive({ timeout: 5000 })).toEqual({ still: 'fine' });
    await goodEnd.send('and back');
    expect(await good.receive({ timeout: 5000 })).toBe('and back');
  });

  // Spawning a process as another uid needs root.
  it('bounds a client-side authorize that never answers by the connect timeout', async () => {
    const path = names.path('slow-auth.sock');
    await using server = await UnixServer.listen(path);
    const connecting = UnixSocket.connect(path, { timeout: 100, authorize: () => new Promise<boolean>(() => {}) });
    await expect(connecting).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    expect(server.clients.length).toBeLessThanOrEqual(1);
  });

  it.skipIf(process.getuid!() !== 0)(
    'refuses a client running as another user before reading anything, and admits it when authorize says so',
    async () => {
      const path = names.path('uid.sock');
      const refused: IpcError[] = [];
      const server = await UnixServer.listen(path, { mode: 0o666, onRefuse: (e) => refused.push(e) });
      echo(server);
      try {
        const child = spawnNode([`${fixtures}client.mjs`, path, 'echo'], asNobody);
        const result = JSON.parse(await childLines(child).next());
        expect(['IPCX_ERR_CLOSED', 'IPCX_ERR_PEER_GONE']).toContain(result.error);
        expect(refused).toHaveLength(1);
        expect(refused[0]!.code).toBe('IPCX_ERR_PERMISSION');
        expect(refused[0]!.message).toContain('uid 65534');
        expect(server.clients).toHaveLength(0);
      } finally {
        await server.close();
      }

      const open = await UnixServer.listen(path, {
        mode: 0o666,
        authorize: (peer) => peer.uid === 65534 || peer.uid === 0,
      });
      echo(open);
      try {
        const child = spawnNode([`${fixtures}client.mjs`, path, 'echo'], asNobody);
        expect(JSON.parse(await childLines(child).next())).toEqual({ reply: { echo: { uid: 65534 } } });
      } finally {
        await open.close();
      }
    },
  );
});

describe('socket file cleanup when the owning process ends', () => {
  it('removes the file on process.exit()', async () => {
    const path = names.path('exit.sock');
    const child = spawnNode([`${fixtures}listen.mjs`, path, 'exit'], { stdio: ['pipe', 'pipe', 'pipe'] });
    expect(await childLines(child).next()).toBe('ready');
    expect(existsSync(path)).toBe(true);
    child.stdin!.write('go\n');
    expect(await exited(child)).toMatchObject({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`installs no ${signal} handler: the process dies of ${signal} at once, leaving the file, which the next listen replaces`, async () => {
      const path = names.path(`${signal}.sock`);
      const child = spawnNode([`${fixtures}listen.mjs`, path, 'hold']);
      expect(await childLines(child).next()).toBe('ready');
      child.kill(signal);
      expect(await exited(child)).toMatchObject({ code: null, signal });
      expect(existsSync(path)).toBe(true);
      await using again = await UnixServer.listen(path);
      const client = await UnixSocket.connect(path, { timeout: 2000 });
      await client.send('hello');
      expect(await (await again.accept({ timeout: 2000 })).receive({ timeout: 2000 })).toBe('hello');
      await client.close();
    });
  }

  it('registers its socket file in core registry: unlinkOwnedKernelObjects removes it', async () => {
    const path = names.path('registry.sock');
    const server = await UnixServer.listen(path);
    expect(ownedKernelObjects().some((o) => o.kind === 'socket' && o.name === path)).toBe(true);
    await unlinkOwnedKernelObjects();
    expect(existsSync(path)).toBe(false);
    await server.close();
    expect(ownedKernelObjects().some((o) => o.name === path)).toBe(false);
  });

  it('leaves SIGTERM to an application that handles it', async () => {
    const path = names.path('own.sock');
    const child = spawnNode([`${fixtures}listen.mjs`, path, 'own-sigterm']);
    expect(await childLines(child).next()).toBe('ready');
    child.kill('SIGTERM');
    expect(await childLines(child).next()).toBe('handled SIGTERM');
    expect(child.exitCode).toBe(null);
    expect(existsSync(path)).toBe(true); // still serving
    await killChild(child);
  });
});

/** Resolves when the channel's socket has closed. */
function closeOf(channel: UnixChannel): Promise<void> {
  if (channel.socket.closed) return Promise.resolve();
  return new Promise((resolve) => channel.socket.once('close', () => resolve()));
}
