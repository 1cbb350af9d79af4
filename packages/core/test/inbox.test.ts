import { describe, expect, it } from 'vitest';
import { BadFrameError, ClosedError, MemoryChannel, type Codec } from '@ipcx/core';
import { Inbox } from '@ipcx/core/transport';

describe('Inbox', () => {
  it('hands messages to waiting receivers oldest first, also when the oldest gave up', async () => {
    const inbox = new Inbox<number>();
    const first = new AbortController();
    const a = inbox.receive('receive', { signal: first.signal });
    const b = inbox.receive('receive');
    const c = inbox.receive('receive', { timeout: 60_000 });
    expect(inbox.waiting).toBe(3);
    first.abort();
    await expect(a).rejects.toMatchObject({ code: 'IPCX_ERR_ABORTED' });
    expect(inbox.waiting).toBe(2);
    const d = inbox.receive('receive'); // waits behind b and c
    expect([inbox.push(1), inbox.push(2), inbox.push(3), inbox.push(4)]).toEqual([true, true, true, false]);
    expect(await Promise.all([b, c, d])).toEqual([1, 2, 3]);
    expect(inbox.waiting).toBe(0);
    expect(inbox.shift()).toBe(4);
  });

  it('passes each message through map, buffered or waited for, and a throwing map rejects that receive only', async () => {
    const inbox = new Inbox<number>();
    const map = (n: number): string => {
      if (n < 0) throw new RangeError(`negative ${n}`);
      return `#${n}`;
    };
    inbox.push(1);
    await expect(inbox.receive('receive', undefined, map)).resolves.toBe('#1');
    const waited = inbox.receive('receive', undefined, map);
    const bad = inbox.receive('receive', undefined, map);
    const after = inbox.receive('receive', undefined, map);
    inbox.push(2);
    inbox.push(-1);
    inbox.push(3);
    await expect(waited).resolves.toBe('#2');
    await expect(bad).rejects.toThrow('negative -1');
    await expect(after).resolves.toBe('#3');
  });

  it('settles through mapError: the end error, and what map throws; it rejects only when mapError throws', async () => {
    const inbox = new Inbox<number>();
    const map = (n: number): string => {
      if (n < 0) throw new RangeError('bad');
      return `#${n}`;
    };
    const mapError = (error: unknown): string => {
      if (error instanceof ClosedError) return 'ended';
      throw error;
    };
    const bad = inbox.receive('receive', undefined, map, (error) => `mapped ${(error as Error).message}`);
    inbox.push(-1);
    await expect(bad).resolves.toBe('mapped bad');
    const pending = inbox.receive('receive', undefined, map, mapError);
    const pendingRethrow = inbox.receive('receive', undefined, map, (error) => {
      throw new TypeError(`rethrown ${(error as Error).name}`);
    });
    inbox.end(new ClosedError());
    await expect(pending).resolves.toBe('ended');
    await expect(pendingRethrow).rejects.toThrow('rethrown ClosedError');
    // After the end, a new receive settles at once through mapError, and rejects without one.
    await expect(inbox.receive('receive', undefined, map, mapError)).resolves.toBe('ended');
    await expect(inbox.receive('receive', undefined, map)).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('for await over a channel whose async iterator waits in waitForNext', () => {
  /** A codec that refuses to decode the message "poison" and passes every other string through. */
  const picky: Codec<string> = {
    name: 'picky',
    encode: (value) => new TextEncoder().encode(value),
    encodeInto: (value) => new TextEncoder().encode(value),
    decode: (bytes) => {
      const text = new TextDecoder().decode(bytes);
      if (text === 'poison') throw new BadFrameError('poison message');
      return text;
    },
  };

  it('throws what decode throws for a message that arrives while it waits, after the ones before it', async () => {
    const [a, b] = MemoryChannel.pair({ codec: picky });
    const seen: string[] = [];
    const loop = (async () => {
      for await (const m of b) seen.push(m);
    })();
    await a.send('one');
    await a.send('poison');
    await expect(loop).rejects.toThrow('poison message');
    expect(seen).toEqual(['one']);
    await a.close();
    await b.close();
  });

  it('ends quietly when the channel closes, or the peer closes, while it waits', async () => {
    const [a, b] = MemoryChannel.pair<string>();
    const count = async (ch: MemoryChannel<string>): Promise<number> => {
      let n = 0;
      for await (const _ of ch) n++;
      return n;
    };
    const onB = count(b);
    await a.send('x');
    await a.close(); // the peer leaves: b's loop has the message, then ends
    expect(await onB).toBe(1);
    const [c, d] = MemoryChannel.pair<string>();
    const onC = count(c);
    await Promise.resolve();
    await c.close(); // this end closes while its loop waits
    expect(await onC).toBe(0);
    await d.close();
  });
});
