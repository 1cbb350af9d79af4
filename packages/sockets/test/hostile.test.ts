import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ClosedError, PeerGoneError, PermissionError, isIpcError, type IpcError } from '@ipcx/core';
import { SeqPacketServer, SeqPacketSocket, TcpSocket, UnixServer, UnixSocket } from '@ipcx/sockets';
import { until } from '@ipcx/core/testing';
import { childLines, exited, killChild, spawnCode, uniqueNames } from './helpers.js';

const names = uniqueNames();
const root = process.getuid?.() === 0;

/** A child that listens on `path` with a server of `kind` and echoes, until it is killed. */
function serverChild(kind: 'UnixServer' | 'SeqPacketServer', path: string, dropTo?: number) {
  const child = spawnCode(
    `import { ${kind} } from '@ipcx/sockets';
    /*DROP*/
    const server = await ${kind}.listen(${JSON.stringify(path)}, { mode: 0o666, authorize: () => true });
    process.stdout.write('ready\\n');
    for await (const client of server) void (async () => { for await (const m of client) await client.send(m); })();`,
    dropTo === undefined ? {} : { dropTo },
  );
  return { child, lines: childLines(child) };
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('it did not fail');
}

describe('a killed server is PeerGoneError at its clients, a closing one ClosedError', () => {
  for (const kind of ['UnixServer', 'SeqPacketServer'] as const) {
    it(`${kind}: a client waiting to receive gets PeerGoneError when the server is SIGKILLed, and so do later sends`, async () => {
      const path = names.path(`killed-${kind}.sock`);
      const { child, lines } = serverChild(kind, path);
      expect(await lines.next()).toBe('ready');
      const client =
        kind === 'UnixServer' ? await UnixSocket.connect(path, { timeout: 5000 }) : await SeqPacketSocket.connect(path);
      await client.send('ping');
      expect(await client.receive({ timeout: 5000 })).toBe('ping');
      const waiting = errorOf(client.receive({ timeout: 10_000 }));
      const killedAt = performance.now();
      child.kill('SIGKILL');
      const error = await waiting;
      const noticedMs = performance.now() - killedAt;
      expect(error).toBeInstanceOf(PeerGoneError);
      expect(noticedMs).toBeLessThan(5000);
      console.info(`fault: ${kind} SIGKILLed; its client's waiting receive noticed in ${noticedMs.toFixed(1)} ms`);
      await expect(client.send('after')).rejects.toBeInstanceOf(PeerGoneError);
      await client.close();
      await exited(child);
    });
  }

  it('a server that closes its clients is still ClosedError at them, after what it sent', async () => {
    const path = names.path('closing.sock');
    const server = await UnixServer.listen(path);
    const client = await UnixSocket.connect(path, { timeout: 5000 });
    const accepted = await server.accept({ timeout: 5000 });
    await accepted.send('last words');
    await server.close();
    expect(await client.receive({ timeout: 5000 })).toBe('last words');
    await expect(client.receive({ timeout: 5000 })).rejects.toBeInstanceOf(ClosedError);
    await client.close();
  });

  it('a server sees a SIGKILLed client as PeerGoneError, told once to onClientError', async () => {
    const path = names.path('killed-client.sock');
    const events: IpcError[] = [];
    await using server = await UnixServer.listen(path, { onClientError: (error) => events.push(error) });
    const child = spawnCode(`import { UnixSocket } from '@ipcx/sockets';
      const c = await UnixSocket.connect(${JSON.stringify(path)}, { timeout: 5000 });
      await c.send('hi'); process.stdout.write('sent\\n'); setInterval(() => {}, 1e6);`);
    const lines = childLines(child);
    const accepted = await server.accept({ timeout: 5000 });
    expect(await lines.next()).toBe('sent');
    expect(await accepted.receive({ timeout: 5000 })).toBe('hi');
    const killedAt = performance.now();
    child.kill('SIGKILL');
    await expect(accepted.receive({ timeout: 10_000 })).rejects.toBeInstanceOf(PeerGoneError);
    console.info(`fault: Unix client SIGKILLed; the server noticed in ${(performance.now() - killedAt).toFixed(1)} ms`);
    expect(events.map((e) => e.code)).toEqual(['IPCX_ERR_PEER_GONE']);
  });
});

describe('seqpacket servers survive their clients too', () => {
  it('a SIGKILLed client and one sending garbage each cost one connection and one onClientError event', async () => {
    const path = names.path('seq-events.sock');
    const events: string[] = [];
    await using server = await SeqPacketServer.listen(path, { onClientError: (error) => events.push(error.code) });
    void (async () => {
      for await (const client of server)
        void (async () => {
          for await (const m of client) await client.send(m);
        })();
    })();
    const killed = spawnCode(`import { SeqPacketSocket } from '@ipcx/sockets';
      const c = await SeqPacketSocket.connect(${JSON.stringify(path)});
      await c.send('hi'); await c.receive({ timeout: 5000 }); process.stdout.write('echoed\\n'); setInterval(() => {}, 1e6);`);
    expect(await childLines(killed).next()).toBe('echoed');
    killed.kill('SIGKILL');
    await until(() => events.length >= 1, 5000, 'the killed client event');
    const { rawCodec } = await import('@ipcx/core');
    const garbage = await SeqPacketSocket.connect<Uint8Array>(path, { codec: rawCodec });
    await garbage.send(new Uint8Array([0xc1]));
    await until(() => events.length >= 2, 5000, 'the garbage client event');
    await garbage.close();
    const good = await SeqPacketSocket.connect(path);
    await good.send('ok');
    expect(await good.receive({ timeout: 5000 })).toBe('ok');
    await good.close();
    expect(events).toEqual(['IPCX_ERR_PEER_GONE', 'IPCX_ERR_BAD_FRAME']);
  });
});

describe('servers written as the README shows survive clients that leave, reset or send garbage', () => {
  /**
   * Each hostile client, as raw node:net, against a server at `where` (a path, or a TCP port on 127.0.0.1).
   * Over TCP a reset is a real RST (resetAndDestroy); a Unix socket has none, and is destroyed with an echo unread.
   */
  const hostile: Record<string, (where: string | number) => Promise<void>> = {
    leaves: (where) =>
      new Promise((resolve) => {
        const s = dial(where, () => s.end(resolve));
      }),
    'resets mid-frame': (where) =>
      new Promise((resolve) => {
        const s = dial(where, () => s.write(Buffer.from([0, 0, 1, 0, 1, 2, 3]), () => (reset(s), resolve())));
      }),
    'announces a huge frame': (where) =>
      new Promise((resolve) => {
        const s = dial(where, () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 9]), () => resolve()));
      }),
    'sends 0xc1': (where) =>
      new Promise((resolve) => {
        const s = dial(where, () => s.write(Buffer.from([0, 0, 0, 1, 0xc1]), () => resolve()));
      }),
    'sends a request then resets': (where) =>
      new Promise((resolve) => {
        // [0, 1, 42]: a request envelope for serve, a plain message for the echo loop.
        const s = dial(where, () => s.write(Buffer.from([0, 0, 0, 4, 0x93, 0, 1, 42]), () => (reset(s), resolve())));
      }),
  };

  function dial(where: string | number, onConnect: () => void): net.Socket {
    const s =
      typeof where === 'number'
        ? net.connect({ port: where, host: '127.0.0.1' }, onConnect)
        : net.connect(where, onConnect);
    s.on('error', () => {});
    return s;
  }

  function reset(s: net.Socket): void {
    if (s.remoteFamily !== undefined) s.resetAndDestroy();
    else s.destroy();
  }

  for (const [pattern, transport] of [
    ['echo loop', 'UnixServer'],
    ['serve', 'UnixServer'],
    ['echo loop', 'TcpServer'],
    ['serve', 'TcpServer'],
  ] as const) {
    it(`${transport}: the ${pattern} pattern, as written, keeps serving (no unhandled rejection, no crash)`, async () => {
      const path = names.path(`readme-${pattern.replace(' ', '-')}.sock`);
      const body =
        pattern === 'echo loop'
          ? `for await (const client of server) {
               void (async () => {
                 for await (const message of client) await client.send({ echo: message });
               })();
             }`
          : `for await (const client of server) void serve(client, (request) => ({ echo: request }));`;
      const listen =
        transport === 'UnixServer' ? `UnixServer.listen(${JSON.stringify(path)})` : 'TcpServer.listen({ port: 0 })';
      const child = spawnCode(`import { TcpServer, UnixServer } from '@ipcx/sockets';
        import { serve } from '@ipcx/core';
        const server = await ${listen};
        process.stdout.write(String(server.port ?? 'ready') + '\\n');
        ${body}`);
      const lines = childLines(child);
      const first = await lines.next();
      const where = transport === 'UnixServer' ? path : Number(first);
      for (const [, attack] of Object.entries(hostile)) for (let i = 0; i < 3; i++) await attack(where);
      // The process still serves a well-behaved client.
      const good =
        transport === 'UnixServer'
          ? await UnixSocket.connect(path, { timeout: 5000 })
          : await TcpSocket.connect({ port: where as number }, { timeout: 5000 });
      if (pattern === 'echo loop') {
        await good.send('still there?');
        expect(await good.receive({ timeout: 5000 })).toEqual({ echo: 'still there?' });
      } else {
        const { request } = await import('@ipcx/core');
        expect(await request(good, 'still there?', { timeout: 5000 })).toEqual({ echo: 'still there?' });
      }
      await good.close();
      expect(child.exitCode).toBe(null);
    });
  }

  it('each hostile client costs one connection and one typed onClientError event', async () => {
    const path = names.path('events.sock');
    const events: string[] = [];
    await using server = await UnixServer.listen(path, { onClientError: (error) => events.push(error.code) });
    void (async () => {
      for await (const client of server)
        void (async () => {
          for await (const m of client) await client.send(m);
        })();
    })();
    for (const [what, attack] of Object.entries(hostile)) {
      const before = events.length;
      await attack(path);
      if (what === 'leaves') continue; // a clean close is not an error
      await until(() => events.length !== before, 5000, `the event for a client that ${what}`);
    }
    await until(() => server.clients.length === 0, 5000, 'all hostile clients gone');
    expect(events).toHaveLength(4);
    expect(
      events.every((code) => ['IPCX_ERR_PEER_GONE', 'IPCX_ERR_TOO_LARGE', 'IPCX_ERR_BAD_FRAME'].includes(code)),
    ).toBe(true);
  });
});

describe('hostile peers cannot pin memory', () => {
  it('100 TCP peers each sending all but the last byte of a maximal frame: server RSS bounded, the peers over budget cut off with LimitError', async () => {
    const child = spawnCode(
      `import { TcpServer } from '@ipcx/sockets';
      const errors = {};
      const server = await TcpServer.listen({ port: 0 }, { onClientError: (e) => (errors[e.code] = (errors[e.code] ?? 0) + 1) });
      void (async () => { for await (const client of server) void (async () => { for await (const m of client) {} })(); })();
      const base = process.memoryUsage().rss;
      process.stdout.write(JSON.stringify({ port: server.port }) + '\\n');
      process.stdin.setEncoding('utf8');
      process.stdin.on('data', () => process.stdout.write(JSON.stringify({ grown: process.memoryUsage().rss - base, clients: server.clients.length, errors }) + '\\n'));`,
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const lines = childLines(child);
    const { port } = JSON.parse(await lines.next()) as { port: number };
    const frame = 1024 * 1024; // the default maxMessageBytes
    const header = Buffer.alloc(4);
    header.writeUInt32BE(frame);
    const body = Buffer.alloc(frame - 1, 7);
    const sockets: net.Socket[] = [];
    await Promise.all(
      Array.from(
        { length: 100 },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect({ port, host: '127.0.0.1' }, () => {
              s.write(header);
              s.write(body, () => resolve());
            });
            s.on('error', () => resolve());
            s.on('close', () => resolve());
            sockets.push(s);
          }),
      ),
    );
    // Stable: two reports in a row agree on the connections and errors (the server has read what was sent).
    let report: { grown: number; clients: number; errors: Record<string, number> } | undefined;
    let previous = '';
    for (let i = 0; i < 100; i++) {
      child.stdin!.write('report\n');
      report = JSON.parse(await lines.next());
      const key = JSON.stringify([report!.clients, report!.errors]);
      if (key === previous && report!.clients + (report!.errors.IPCX_ERR_LIMIT ?? 0) === 100) break;
      previous = key;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const s of sockets) s.destroy();
    console.info(
      `hostile: 100 peers x (1 MiB - 1 byte) of frames in progress: server RSS grew ${(report!.grown / 2 ** 20).toFixed(1)} MiB, ${report!.errors.IPCX_ERR_LIMIT ?? 0} peers cut off with LimitError, ${report!.clients} held`,
    );
    // 100 MiB announced and nearly all sent; the default budget is 64 MiB: at least 30 peers are cut off.
    expect(report!.errors.IPCX_ERR_LIMIT ?? 0).toBeGreaterThanOrEqual(30);
    expect(report!.grown).toBeLessThan(200 * 1024 * 1024);
  });
});

describe('other users: a child dropped to uid 65534', () => {
  it.skipIf(!root)(
    'cannot connect to our socket file (0600), and is refused on an abstract name we listen on',
    async () => {
      const path = names.path('private.sock');
      const refused: IpcError[] = [];
      await using server = await UnixServer.listen(path, { onRefuse: (e) => refused.push(e) });
      const abstract = names.abstract('private');
      await using abstractServer = await UnixServer.listen(abstract, { onRefuse: (e) => refused.push(e) });
      void server;
      void abstractServer;
      const child = spawnCode(
        `import { UnixSocket } from '@ipcx/sockets';
      /*DROP*/
      const out = {};
      try { await UnixSocket.connect(${JSON.stringify(path)}, { timeout: 2000 }); out.path = 'connected'; } catch (e) { out.path = e.code; }
      try { const c = await UnixSocket.connect(${JSON.stringify(abstract)}, { timeout: 2000, authorize: () => true }); await c.send('x'); out.abstract = await c.receive({ timeout: 2000 }).then(() => 'answered', (e) => e.code); } catch (e) { out.abstract = e.code; }
      process.stdout.write(JSON.stringify(out) + '\\n');`,
        { dropTo: 65534 },
      );
      const result = JSON.parse(await childLines(child).next()) as Record<string, string>;
      expect(result.path).toBe('IPCX_ERR_PERMISSION');
      expect(['IPCX_ERR_CLOSED', 'IPCX_ERR_PEER_GONE']).toContain(result.abstract);
      expect(refused.map((e) => e.code)).toEqual(['IPCX_ERR_PERMISSION']);
    },
  );

  it.skipIf(!root)('that squats our path first is neither adopted by listen nor talked to by our clients', async () => {
    const path = names.path('squatted.sock');
    const { child, lines } = serverChild('UnixServer', path, 65534);
    expect(await lines.next()).toBe('ready');
    await expect(UnixServer.listen(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    const error = await errorOf(UnixSocket.connect(path, { timeout: 2000 }));
    expect(error).toBeInstanceOf(PermissionError);
    expect(String((error as Error).message)).toContain('uid 65534');
    await expect(SeqPacketSocket.connect(path)).rejects.toSatisfy(isIpcError);
    await killChild(child);
    expect(existsSync(path)).toBe(true); // its file stays behind: stale now
  });

  it.skipIf(!root)('a squatting seqpacket server of another user is refused by our clients', async () => {
    const path = names.path('squatted.seqpacket');
    const { lines } = serverChild('SeqPacketServer', path, 65534);
    expect(await lines.next()).toBe('ready');
    await expect(SeqPacketServer.listen(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    await expect(SeqPacketSocket.connect(path)).rejects.toBeInstanceOf(PermissionError);
  });
});
