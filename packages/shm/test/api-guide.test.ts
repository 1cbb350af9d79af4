// The API guide's semantics (docs/API.md) on shm objects: closing, `closed` after the peer ended, sends after
// the peer closed, handles as methods, unlink by name, codecs taken from the writer.
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  IncompatibleError,
  PeerGoneError,
  jsonCodec,
  rawCodec,
  stringCodec,
  type Codec,
} from '@ipcx/core';
import { FanIn, Mutex, Semaphore, SharedMap, SharedState, ShmChannel } from '@ipcx/shm';
import { segmentExists, uniqueName } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

describe('ShmChannel closing', () => {
  it('is closed once the peer closed and its messages were received, and a send to it is PeerGoneError', async () => {
    const [a, b] = ShmChannel.pair<number>({ bufferBytes: 1024 });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await a.send(1);
    await a.close();
    expect(b.closed).toBe(false); // a message is still waiting
    expect(await b.receive({ timeout: 5000 })).toBe(1);
    expect(b.closed).toBe(true);
    await expect(b.receive({ timeout: 5000 })).rejects.toBeInstanceOf(ClosedError);
    expect(() => b.trySend(2)).toThrow(PeerGoneError);
    await expect(b.send(2)).rejects.toBeInstanceOf(PeerGoneError);
  });

  it('close writes the sends waiting for room first; destroy rejects them with its error', async () => {
    const [a, b] = ShmChannel.pair<Uint8Array>({ bufferBytes: 1024, codec: rawCodec });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const big = new Uint8Array(400);
    while (a.trySend(big));
    const waiting = a.send(new Uint8Array([7]));
    const closing = a.close();
    expect(a.closed).toBe(true);
    expect(() => a.trySend(big)).toThrow(ClosedError);
    const received: Uint8Array[] = [];
    for await (const message of b) received.push(message);
    await waiting;
    await closing;
    expect(received.at(-1)).toEqual(new Uint8Array([7]));

    const [c, d] = ShmChannel.pair<Uint8Array>({ bufferBytes: 1024, codec: rawCodec });
    cleanups.push(
      () => c.close(),
      () => d.close(),
    );
    while (c.trySend(big));
    const dropped = c.send(big);
    const reason = new Error('shutting down');
    c.destroy(reason);
    await expect(dropped).rejects.toBe(reason);
    expect(c.closed).toBe(true);
    await c.close(); // idempotent after destroy
  });

  it('a trySend is visible to the peer as soon as this end looks for a reply (issue 15)', () => {
    const [a, b] = ShmChannel.pair<number>({ bufferBytes: 1024 });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    expect(a.trySend(1)).toBe(true);
    expect(a.tryReceive()).toBeUndefined(); // looking for the reply publishes the message, synchronously
    expect(b.tryReceive()).toBe(1);
  });

  it('transfer() hands the end over (it is closed here) and from() refuses another codec', async () => {
    const [a, b] = ShmChannel.pair<string>({ codec: stringCodec as Codec<string> });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const handle = b.transfer();
    expect(b.closed).toBe(true);
    expect(() => ShmChannel.from(handle, { codec: jsonCodec as Codec<string> })).toThrow(IncompatibleError);
    const there = ShmChannel.from<string>(handle);
    cleanups.push(() => there.close());
    await a.send('found by name');
    expect(await there.receive({ timeout: 5000 })).toBe('found by name');
  });

  it('unlink resolves true when the name was there and false when not; the creator unlinks on close, an opener never', async () => {
    const name = uniqueName('guide');
    const server = await ShmChannel.create(name, { bufferBytes: 1024 });
    cleanups.push(
      () => server.close(),
      () => ShmChannel.unlink(name),
    );
    const client = await ShmChannel.open(name);
    await client.close();
    expect(segmentExists(name)).toBe(true);
    await server.close();
    expect(segmentExists(name)).toBe(false);
    expect(await ShmChannel.unlink(name)).toBe(false);
    const again = await ShmChannel.create(name, { bufferBytes: 1024 });
    again.destroy();
    expect(await Mutex.unlink(uniqueName('none'))).toBe(false);
  });
});

describe('SharedState codecs', () => {
  it('readers take the writer codec from the state, and a reader codec of another name is IncompatibleError', async () => {
    const state = new SharedState<string>({ codec: stringCodec as Codec<string>, initial: 'hello' });
    cleanups.push(() => state.close());
    expect(SharedState.from<string>(state.handle()).get().value).toBe('hello');
    expect(() => SharedState.from(state.handle(), { codec: jsonCodec as Codec<string> })).toThrow(IncompatibleError);

    const name = uniqueName('guide-state');
    const named = await SharedState.create<string>(name, { codec: stringCodec as Codec<string>, initial: 'named' });
    cleanups.push(() => named.close());
    const reader = await SharedState.open<string>(name);
    cleanups.push(() => reader.close());
    expect(reader.get().value).toBe('named');
    await expect(SharedState.open(name, { codec: jsonCodec as Codec<string> })).rejects.toBeInstanceOf(
      IncompatibleError,
    );
  });
});

describe('handles are methods without side effects', () => {
  it('on primitives, FanIn and SharedMap both sides keep working', async () => {
    const sem = new Semaphore(1);
    const other = Semaphore.from(sem.handle());
    expect(other.tryAcquire()).toBeDefined();
    expect(sem.tryAcquire()).toBeUndefined();
    const inbox = new FanIn<number>();
    cleanups.push(() => inbox.close());
    const sender = FanIn.from<number>(inbox.handle());
    await sender.send(5);
    expect(await inbox.receive({ timeout: 5000 })).toBe(5);
    await inbox.close();
    expect(sender.closed).toBe(true);
    await expect(sender.send(6)).rejects.toBeInstanceOf(PeerGoneError);
    const map = new SharedMap([['a', 1]]);
    expect(SharedMap.from<number>(map.handle()).get('a')).toBe(1);
    expect(map.get('a')).toBe(1);
    await map.close();
    expect(() => map.get('a')).toThrow(ClosedError);
  });

  it('destroy(error) rejects a pending wait on a primitive with that error', async () => {
    const mutex = new Mutex();
    const held = mutex.tryLock()!;
    const waiting = mutex.lock({ timeout: 5000 });
    const reason = new Error('gone');
    mutex.destroy(reason);
    await expect(waiting).rejects.toBe(reason);
    held.release();
  });
});
