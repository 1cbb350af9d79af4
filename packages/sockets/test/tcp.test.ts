import { describe, expect, it } from 'vitest';
import { TcpServer, TcpSocket } from '@ipcx/sockets';

describe('TCP', () => {
  it('listens on loopback by default, picks a port, and knows the remote address of each client', async () => {
    await using server = await TcpServer.listen();
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
    await using client = await TcpSocket.connect({ port: server.port }, { timeout: 5000 });
    const accepted = await server.accept({ timeout: 5000 });
    expect(accepted.peer.address).toBe('127.0.0.1');
    expect(accepted.peer.port).toBe(client.socket.localPort);
    expect(client.peer.port).toBe(server.port);
    await client.send({ over: 'tcp', big: 2n ** 80n });
    expect(await accepted.receive({ timeout: 5000 })).toEqual({ over: 'tcp', big: 2n ** 80n });
  });

  it('serves 64 clients and broadcasts to them', async () => {
    await using server = await TcpServer.listen();
    const clients = await Promise.all(
      Array.from({ length: 64 }, () => TcpSocket.connect({ port: server.port }, { timeout: 5000 })),
    );
    try {
      for (let i = 0; i < 64; i++) await server.accept({ timeout: 5000 });
      expect(await server.broadcast('all')).toBe(64);
      for (const client of clients) expect(await client.receive({ timeout: 5000 })).toBe('all');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('refuses clients that authorize rejects', async () => {
    const refused: string[] = [];
    await using server = await TcpServer.listen({}, { authorize: () => false, onRefuse: (e) => refused.push(e.code) });
    await using client = await TcpSocket.connect({ port: server.port }, { timeout: 5000 });
    await expect(client.receive({ timeout: 5000 })).rejects.toMatchObject({
      code: expect.stringMatching(/IPCX_ERR_(CLOSED|PEER_GONE)/),
    });
    expect(refused).toEqual(['IPCX_ERR_PERMISSION']);
  });

  it('turns a closed port and bad options into typed errors', async () => {
    const server = await TcpServer.listen();
    const port = server.port;
    await server.close();
    await expect(TcpSocket.connect({ port }, { timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
    await expect(TcpServer.listen({ port: 70000 })).rejects.toBeInstanceOf(RangeError);
    await using taken = await TcpServer.listen();
    await expect(TcpServer.listen({ port: taken.port })).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
  });
});
