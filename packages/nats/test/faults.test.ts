import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { isIpcError } from '@ipcx/core';
import { NatsChannel, NatsChannelServer, NatsPublisher, NatsSubscriber } from '@ipcx/nats';
import { startNatsServer, type NatsTestServer } from '@ipcx/nats/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { childLines, describeNats, fixtures, spawnNode, uniqueName, within } from './helpers.js';

type Price = { price: number };

/** Retries `fn` until it resolves (the server coming back, JetStream recovering), for at most `ms`. */
async function eventually<T>(fn: () => Promise<T>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > end) throw new Error(`${what}: still failing after ${ms} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100)); // a retry pause, not a wait for an event
    }
  }
}

describeNats('faults NATS users hit: restarts, slow consumers, reconnect storms', () => {
  const cleanup: { close(): Promise<void> }[] = [];
  const servers: NatsTestServer[] = [];
  afterEach(async () => {
    await Promise.all(cleanup.splice(0).map((o) => o.close()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const start = async (): Promise<NatsTestServer> => {
    const server = await startNatsServer();
    servers.push(server);
    return server;
  };
  /** A server of its own, a topic with one revision published, and a subscriber that has read it. */
  const watchedTopic = async (what: string, peerCheckInterval: number) => {
    const server = await start();
    const topic = uniqueName(what);
    const pub = track(await NatsPublisher.create<Price>(topic, { servers: server.url }));
    await pub.publish({ price: 1 });
    const sub = track(await NatsSubscriber.open<Price>(topic, { servers: server.url, peerCheckInterval }));
    expect((await sub.next({ timeout: 5000 })).revision).toBe(1);
    return { server, topic, pub, sub };
  };
  const track = <T extends { close(): Promise<void> }>(o: T): T => {
    cleanup.push(o);
    return o;
  };

  it('a subscriber watching through a server restart gets the revisions published after it, none twice', async () => {
    const { server, pub, sub } = await watchedTopic('restart', 500);
    await pub.publish({ price: 2 });
    expect((await sub.next({ timeout: 5000 })).revision).toBe(2);
    await server.restart();
    // Publishing succeeds once the publisher's connection and JetStream are back.
    const revision = await eventually(
      () => pub.publish({ price: 3 }, { timeout: 1000 }),
      15_000,
      'publish after the restart',
    );
    expect(revision).toBe(3);
    expect(await sub.next({ timeout: 10_000 })).toEqual({ revision: 3, value: { price: 3 } });
    await pub.publish({ price: 4 });
    expect(await sub.next({ timeout: 10_000 })).toEqual({ revision: 4, value: { price: 4 } });
    expect(sub.current()?.revision).toBe(4);
  });

  it('a watch whose consumer the server dropped (an outage past its inactive threshold) is noticed and made again', async () => {
    const { server, topic, pub, sub } = await watchedTopic('dropped', 200);
    // What the server does to an ephemeral consumer that had no interest for its inactive threshold: delete it.
    // The client's watch then stays open and delivers nothing, for ever (the silent death NATS users report).
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const info of jsm.consumers.list(`KV_ipcx-${topic}`)) names.push(info.name);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) await jsm.consumers.delete(`KV_ipcx-${topic}`, name);
    } finally {
      await nc.close();
    }
    await pub.publish({ price: 2 });
    await pub.publish({ price: 3 });
    expect(await sub.next({ timeout: 10_000 })).toEqual({ revision: 2, value: { price: 2 } });
    expect(await sub.next({ timeout: 10_000 })).toEqual({ revision: 3, value: { price: 3 } });
  });

  it('a subscriber in another process, reaching the topic only through NATS, follows it across a SIGKILLed server', async () => {
    const server = await start();
    const topic = uniqueName('remote');
    const pub = track(await NatsPublisher.create<Price>(topic, { servers: server.url }));
    await pub.publish({ price: 10 });
    const child = spawnNode([join(fixtures, 'watch-topic.mjs'), server.url, topic]);
    expect(await childLines(child).next()).toBe('1 10');
    await pub.publish({ price: 11 });
    expect(await childLines(child).next()).toBe('2 11');
    await server.restart({ kill: true });
    await eventually(() => pub.publish({ price: 12 }, { timeout: 1000 }), 15_000, 'publish after the restart');
    expect(await childLines(child).next(15_000)).toBe('3 12');
  });

  it('a channel across a server restart recovers or ends with a typed error, and a server gone for good ends it with PeerGoneError', async () => {
    const server = await start();
    const subject = uniqueName('chan-restart');
    const listener = track(await NatsChannelServer.listen(subject, { servers: server.url, peerCheckInterval: 200 }));
    const client = track(
      await NatsChannel.connect(subject, { servers: server.url, peerCheckInterval: 200, timeout: 5000 }),
    );
    const accepted = await listener.accept({ timeout: 5000 });
    await client.send('before');
    expect(await accepted.receive({ timeout: 5000 })).toBe('before');
    await server.restart();
    // Either the channel carries on (the client buffered, both reconnected) or it ended with a typed error:
    // never a hang (bounded) and never a silently lost message.
    const outcome = await client
      .send('after', { timeout: 5000 })
      .then(() => accepted.receive({ timeout: 8000 }))
      .catch((error: unknown) => error);
    if (isIpcError(outcome)) expect(['IPCX_ERR_PEER_GONE', 'IPCX_ERR_CLOSED']).toContain(outcome.code);
    else expect(outcome).toBe('after');
    // Now the server goes away for good: a waiting receive ends with PeerGoneError within 5 silent intervals.
    const fresh = track(
      await eventually(
        () => NatsChannel.connect(subject, { servers: server.url, peerCheckInterval: 200, timeout: 1000 }),
        15_000,
        'connect after the restart',
      ),
    );
    const freshAccepted = await listener.accept({ timeout: 5000 });
    const waiting = freshAccepted.receive({ timeout: 10_000 }).catch((error: unknown) => error);
    const clientWaiting = fresh.receive({ timeout: 10_000 }).catch((error: unknown) => error);
    await server.halt();
    expect(await waiting).toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
    expect(await clientWaiting).toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it('a slow subscriber skips to the newest revision (counted in skipped) instead of growing without bound', async () => {
    const server = await start();
    const topic = uniqueName('slow');
    const pub = track(await NatsPublisher.create<Price>(topic, { servers: server.url }));
    const sub = track(await NatsSubscriber.open<Price>(topic, { servers: server.url, from: 'new', capacity: 8 }));
    const n = 300;
    for (let i = 1; i <= n; i++) await pub.publish({ price: i });
    await within(
      (async () => {
        while (sub.current()?.revision !== n) await new Promise((resolve) => setImmediate(resolve));
      })(),
      10_000,
      'the subscriber seeing the last revision',
    );
    const got: number[] = [];
    for (let i = 0; i < 8; i++) got.push((await sub.next({ timeout: 5000 })).revision);
    expect(got).toEqual(Array.from({ length: 8 }, (_, i) => n - 7 + i));
    expect(sub.skipped).toBe(n - 8);
    await pub.publish({ price: n + 1 });
    expect((await sub.next({ timeout: 5000 })).revision).toBe(n + 1);
  });

  it('a slow reader of a channel holds the sender back (credit), it does not make NATS drop messages', async () => {
    const server = await start();
    const subject = uniqueName('slow-chan');
    const listener = track(await NatsChannelServer.listen<number>(subject, { servers: server.url, capacity: 4 }));
    const client = track(await NatsChannel.connect<number>(subject, { servers: server.url, timeout: 5000 }));
    const reader = await listener.accept({ timeout: 5000 });
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < 200; i++) {
        await client.send(i, { timeout: 10_000 });
        sent++;
      }
    })();
    await within(
      (async () => {
        while (sent < 4) await new Promise((resolve) => setImmediate(resolve));
      })(),
      5000,
      'the first sends',
    );
    expect(sent).toBe(4); // the fifth waits for credit
    for (let i = 0; i < 200; i++) expect(await reader.receive({ timeout: 5000 })).toBe(i);
    await sending;
  });

  it('a reconnect storm (the server restarted five times in a row) ends in recovery of topics and channels', async () => {
    const { server, pub, sub } = await watchedTopic('storm', 500);
    const subject = uniqueName('storm-chan');
    const listener = track(
      await NatsChannelServer.listen<string>(subject, { servers: server.url, peerCheckInterval: 2000 }),
    );
    const client = track(
      await NatsChannel.connect<string>(subject, { servers: server.url, peerCheckInterval: 2000, timeout: 5000 }),
    );
    const accepted = await listener.accept({ timeout: 5000 });
    for (let i = 0; i < 5; i++) await server.restart({ kill: i % 2 === 1 });
    const revision = await eventually(
      () => pub.publish({ price: 99 }, { timeout: 1000 }),
      20_000,
      'publish after the storm',
    );
    expect(await sub.next({ timeout: 15_000 })).toEqual({ revision, value: { price: 99 } });
    const outcome = await client
      .send('after the storm', { timeout: 5000 })
      .then(() => accepted.receive({ timeout: 10_000 }))
      .catch((error: unknown) => error);
    if (isIpcError(outcome)) expect(['IPCX_ERR_PEER_GONE', 'IPCX_ERR_CLOSED']).toContain(outcome.code);
    else expect(outcome).toBe('after the storm');
  });
});
