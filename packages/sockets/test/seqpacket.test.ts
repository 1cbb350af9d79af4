import { closeSync, existsSync, lstatSync, readSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { rawCodec } from '@ipcx/core';
import { mq } from '@ipcx/native';
import { SeqPacketServer, SeqPacketSocket, UnixServer, SeqPacketChannel, type SeqPacketClient } from '@ipcx/sockets';
import { uniqueName } from '@ipcx/core/testing';
import { childLines, exited, fixtures, spawnNode, uniqueNames, within } from './helpers.js';

const names = uniqueNames();

describe('SeqPacketServer', () => {
  it('keeps message boundaries without framing, serves many clients with credentials, and broadcasts', async () => {
    const path = names.path('seq.sock');
    await using server = await SeqPacketServer.listen(path, { codec: rawCodec });
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    const clients = await Promise.all(
      Array.from({ length: 16 }, () => SeqPacketSocket.connect(path, { codec: rawCodec })),
    );
    try {
      const accepted: SeqPacketClient<Uint8Array>[] = [];
      for (let i = 0; i < 16; i++) accepted.push(await server.accept({ timeout: 5000 }));
      expect(accepted.every((a) => a.peer.pid === process.pid)).toBe(true);
      expect(clients[0]!.peer.pid).toBe(process.pid);
      // Three sends are three packets: the receiver sees each as one message, whatever their sizes.
      for (const size of [1, 3000, 2]) await clients[0]!.send(new Uint8Array(size).fill(size & 0xff));
      const first = server.clients.find((c) => c === accepted[0])!;
      for (const size of [1, 3000, 2]) expect((await first.receive({ timeout: 5000 })).length).toBe(size);
      expect(await server.broadcast(new Uint8Array([9]))).toBe(16);
      for (const client of clients) expect([...(await client.receive({ timeout: 5000 }))]).toEqual([9]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale socket file, refuses a live one, and cannot be reached by a stream client', async () => {
    const path = names.path('seq-stale.sock');
    const first = await SeqPacketServer.listen(path);
    await expect(SeqPacketServer.listen(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    await expect(UnixServer.listen(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    await first.close();
    // A dead server's file: bind a socket there and close it without unlinking, as a killed process would.
    const { socket } = await import('@ipcx/native');
    const fd = socket('seqpacket');
    socket.bind(fd, path);
    socket.close(fd);
    expect(lstatSync(path).isSocket()).toBe(true);
    await using second = await SeqPacketServer.listen(path);
    await using client = await SeqPacketSocket.connect(path);
    await client.send('recovered');
    expect(await (await second.accept({ timeout: 5000 })).receive({ timeout: 5000 })).toBe('recovered');
  });

  it('refuses peers authorize rejects, and reports a missing server as NotFoundError', async () => {
    const address = names.abstract('seq-auth');
    const refused: string[] = [];
    await using _server = await SeqPacketServer.listen(address, {
      authorize: () => false,
      onRefuse: (e) => refused.push(e.code),
    });
    await using client = await SeqPacketSocket.connect(address);
    await expect(client.receive({ timeout: 5000 })).rejects.toMatchObject({
      code: expect.stringMatching(/IPCX_ERR_(CLOSED|PEER_GONE)/),
    });
    expect(refused).toEqual(['IPCX_ERR_PERMISSION']);
    await expect(SeqPacketSocket.connect(names.abstract('nobody'))).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
    await expect(SeqPacketSocket.connect(names.path('nobody.sock'))).rejects.toMatchObject({
      code: 'IPCX_ERR_NOT_FOUND',
    });
  });

  it('refuses an empty message (a zero-length packet reads as the peer closing)', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec });
    await expect(a.send(new Uint8Array(0))).rejects.toMatchObject({ code: 'IPCX_ERR_UNSUPPORTED' });
    await a.send(new Uint8Array([1]));
    expect([...(await b.receive({ timeout: 5000 }))]).toEqual([1]);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('passing file descriptors', () => {
  it('receives an open file and a connected socket from another process, and uses both', async () => {
    const file = names.path('passed.txt');
    writeFileSync(file, 'contents of the passed file');
    const address = names.abstract('fds');
    await using server = await SeqPacketServer.listen(address);
    const child = spawnNode([`${fixtures}fd-child.mjs`, `@${address.abstract}`, file]);
    const client = await server.accept({ timeout: 10_000 });
    const { message, fds } = await client.receiveWithFds({ timeout: 10_000 });
    expect(message).toEqual({ kind: 'file and socket', pid: child.pid });
    expect(fds).toHaveLength(2);
    const [fileFd, socketFd] = fds as [number, number];
    const buffer = Buffer.alloc(100);
    const n = readSync(fileFd, buffer, 0, 100, 0);
    expect(buffer.subarray(0, n).toString()).toBe('contents of the passed file');
    closeSync(fileFd);
    const socket = new net.Socket({ fd: socketFd, readable: true, writable: true });
    socket.setEncoding('utf8');
    const line = await within(
      new Promise<string>((resolve) => socket.once('data', resolve)),
      10_000,
      'a line over the passed socket',
    );
    expect(line).toBe('hello through a passed socket\n');
    socket.write('hello back\n');
    expect(await childLines(child).next()).toBe('parent said: hello back');
    expect(await exited(child)).toMatchObject({ code: 0, signal: null });
    socket.destroy();
  });

  it('passes a POSIX message queue descriptor that works on the other side', async () => {
    const name = `/${uniqueName('fd-mq')}`;
    const queue = mq.open(name, { create: true, exclusive: true, maxMessages: 4, messageSize: 64 });
    const [a, b] = SeqPacketChannel.pair();
    try {
      await a.sendWithFds('a queue', [queue]);
      const { message, fds } = await b.receiveWithFds({ timeout: 5000 });
      expect(message).toBe('a queue');
      mq.send(fds[0]!, Buffer.from('through the passed descriptor'));
      const target = Buffer.alloc(64);
      const { length } = mq.receive(queue, target);
      expect(target.subarray(0, length).toString()).toBe('through the passed descriptor');
      closeSync(fds[0]!);
    } finally {
      mq.close(queue);
      mq.unlink(name);
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('closes descriptors that arrive with a message taken by plain receive', async () => {
    const [a, b] = SeqPacketChannel.pair();
    const [x, y] = (await import('@ipcx/native')).socketPair('stream');
    await a.sendWithFds('with fds', [x]);
    expect(await b.receive({ timeout: 5000 })).toBe('with fds');
    closeSync(x);
    // Every copy of x is closed (ours above, the received one by receive): y reads end of stream.
    const peer = new net.Socket({ fd: y, readable: true, writable: false });
    await within(
      new Promise<void>((resolve) => peer.once('end', () => resolve()).resume()),
      5000,
      'EOF on the other end',
    );
    peer.destroy();
    await expect(a.sendWithFds('x', [])).rejects.toBeInstanceOf(TypeError);
    await Promise.all([a.close(), b.close()]);
  });

  it('closes descriptors that arrive with a message taken by a receive or a for await that was waiting', async () => {
    const { socketPair } = await import('@ipcx/native');
    const [a, b] = SeqPacketChannel.pair();
    /** Sends a message carrying one end of a fresh pair; resolves once every copy of that end is closed. */
    const sendAndAwaitClose = async (message: string): Promise<void> => {
      const [x, y] = socketPair('stream');
      await a.sendWithFds(message, [x]);
      closeSync(x);
      const peer = new net.Socket({ fd: y, readable: true, writable: false });
      await within(
        new Promise<void>((resolve) => peer.once('end', () => resolve()).resume()),
        5000,
        `EOF after "${message}"`,
      );
      peer.destroy();
    };
    const waiting = b.receive({ timeout: 5000 }); // nothing sent yet: it waits in the inbox
    await sendAndAwaitClose('to a waiting receive');
    expect(await waiting).toBe('to a waiting receive');
    const iterated = (async () => {
      for await (const m of b) return m;
    })();
    await sendAndAwaitClose('to a waiting for await');
    expect(await iterated).toBe('to a waiting for await');
    await Promise.all([a.close(), b.close()]);
  });
});
