import { afterEach, describe, expect, it } from 'vitest';
import { BadFrameError, ClosedError, IncompatibleError, UnsupportedError, jsonCodec, type Codec } from '@ipcx/core';
import { CondVar, FanIn, Mutex, SharedState, ShmChannel } from '@ipcx/shm';
import { segmentExists, uniqueName } from './helpers.js';

// Bad input and broken peers: each must end in a typed error, never a hang, a crash or a wrong unlock.

const names: string[] = [];
afterEach(async () => {
  const { shm } = await import('@ipcx/native');
  for (const name of names.splice(0)) if (segmentExists(name)) shm.unlink(name);
});
function name(what: string): string {
  const n = uniqueName(what);
  names.push(n);
  return n;
}

/** A codec whose decode fails on the message 'bad', as a codec meeting a foreign peer's bytes does. */
const picky: Codec<string> = {
  ...jsonCodec,
  name: 'picky',
  decode(bytes, transient) {
    const value = jsonCodec.decode(bytes, transient) as string;
    if (value === 'bad') throw new BadFrameError('picky refuses it');
    return value;
  },
} as Codec<string>;

describe('a message that does not decode', () => {
  it('fails only the receive waiting for it, on a ShmChannel and a FanIn, and the next message arrives', async () => {
    const [a, b] = ShmChannel.pair<string>({ codec: picky });
    const inbox = new FanIn<string>({ codec: picky });
    const sender = FanIn.from<string>(inbox.handle(), { codec: picky });
    try {
      for (const [receive, send] of [
        [() => b.receive({ timeout: 5000 }), (m: string) => a.send(m)],
        [() => inbox.receive({ timeout: 5000 }), (m: string) => sender.send(m)],
      ] as const) {
        const first = receive(); // waiting before the bad message comes: the pump path
        await send('bad');
        await expect(first).rejects.toBeInstanceOf(BadFrameError);
        const second = receive();
        await send('good');
        expect(await second).toBe('good');
      }
    } finally {
      await Promise.all([a.close(), b.close(), sender.close(), inbox.close()]);
    }
  });
});

describe('for await', () => {
  /** A codec whose messages all decode to `undefined`: each is still a message, never "nothing waits". */
  const voidCodec: Codec<undefined> = {
    name: 'void',
    encode: () => new Uint8Array([0]),
    encodeInto: (_value, target) => {
      if (target.length < 1) return new Uint8Array([0]);
      target[0] = 0;
      return 1;
    },
    decode: () => undefined,
  };

  it('yields messages that decode to undefined, on a ShmChannel and a FanIn', async () => {
    const [a, b] = ShmChannel.pair<undefined>({ codec: voidCodec, bufferBytes: 1024 });
    const inbox = new FanIn<undefined>({ codec: voidCodec, bufferBytes: 1024 });
    const sender = FanIn.from<undefined>(inbox.handle(), { codec: voidCodec });
    try {
      for (let i = 0; i < 3; i++) {
        await a.send(undefined);
        await sender.send(undefined);
      }
      await a.close(); // b's loop ends once it has read all three
      let count = 0;
      for await (const message of b) {
        expect(message).toBeUndefined();
        count++;
      }
      expect(count).toBe(3);
      count = 0;
      for await (const message of inbox) {
        expect(message).toBeUndefined();
        if (++count === 3) break;
      }
      expect(count).toBe(3);
      expect(inbox.tryReceive()).toBeUndefined(); // nothing left behind
    } finally {
      await Promise.all([b.close(), sender.close(), inbox.close()]);
    }
  });
});

describe('handles and options', () => {
  it('refuses what would never wake, guess or check: a named ring by handle, an unknown codec, bad intervals', async () => {
    const ring = await FanIn.create(name('fanin'));
    try {
      expect(() => ring.handle()).toThrow(UnsupportedError);
    } finally {
      await ring.close();
    }
    const custom = new FanIn<string>({ codec: { ...jsonCodec, name: 'custom' } as Codec<string> });
    expect(() => FanIn.from(custom.handle())).toThrow(/pass it as options.codec/);
    const json = new FanIn<string>({ codec: jsonCodec as Codec<string> });
    const sender = FanIn.from<string>(json.handle());
    await sender.send('found by name');
    expect(await json.receive({ timeout: 5000 })).toBe('found by name');
    expect(() => sender.sendSync('x')).toThrow(UnsupportedError); // the main thread
    await Promise.all([custom.close(), json.close(), sender.close()]);
    for (const interval of [0, Number.NaN, -1]) {
      await expect(ShmChannel.create(name('interval'), { peerCheckInterval: interval })).rejects.toBeInstanceOf(
        RangeError,
      );
    }
    const stateName = name('state');
    const writer = await SharedState.create(stateName, { initial: 0 });
    await expect(SharedState.open(stateName, { peerCheckInterval: 0 })).rejects.toBeInstanceOf(RangeError);
    await writer.close();
  });

  it('calls memory whose size word does not fit it IncompatibleError', () => {
    const [a] = ShmChannel.pair({ bufferBytes: 1024 });
    const handle = a.transfer();
    new Int32Array(handle.buffer)[3] = 1 << 20; // capacity word, far beyond the buffer
    expect(() => ShmChannel.from(handle)).toThrow(IncompatibleError);
    new Int32Array(handle.buffer)[3] = 3000; // not a power of two
    expect(() => ShmChannel.from(handle)).toThrow(IncompatibleError);
  });
});

describe('closing', () => {
  it('ends a pending SharedState.changed and watch of the closed object', async () => {
    const state = new SharedState<number>({ initial: 1 });
    const reader = SharedState.from<number>(state.handle());
    const changed = reader.changed(reader.get().version);
    const watching = (async () => {
      const seen: number[] = [];
      for await (const { value } of reader.watch()) seen.push(value);
      return seen;
    })();
    await reader.close();
    await expect(changed).rejects.toBeInstanceOf(ClosedError);
    expect(await watching).toEqual([1]);
    await state.close();
  });

  it('a condvar wait whose mutex was closed meanwhile leaves the guard released without unlocking', async () => {
    const mutex = new Mutex();
    const cv = new CondVar();
    const guard = await mutex.lock();
    const waiting = cv.wait(guard, { timeout: 5000 });
    const other = Mutex.from(mutex.handle());
    const taken = other.tryLock(); // free while the condvar waits
    expect(taken).toBeDefined();
    await mutex.close();
    cv.signal();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    expect(guard.released).toBe(true);
    guard.release(); // must not unlock what `other` holds
    expect(other.tryLock()).toBeUndefined();
    taken!.release();
  });
});
