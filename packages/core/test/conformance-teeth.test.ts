import { describe, expect, it } from 'vitest';
import { MemoryChannel, msgpackCodec, rawCodec, type Channel, type ReceiveOptions, type SendOptions } from '@ipcx/core';
import { AbstractChannel } from '@ipcx/core/transport';
import { CaseSkipped, conformanceCases, type ChannelPairFactory } from '@ipcx/core/testing';

/** Wraps one end of a working channel and breaks it in one way. */
class Broken<T> extends AbstractChannel<T> {
  #held: T | undefined;
  #count = 0;
  constructor(
    private readonly inner: Channel<T>,
    private readonly fault: 'reorder' | 'drop' | 'no-timeout' | 'swallow-send-errors',
  ) {
    super();
  }
  get closed(): boolean {
    return this.inner.closed;
  }
  async send(message: T, options?: SendOptions): Promise<void> {
    this.#count++;
    if (this.fault === 'drop' && this.#count % 10 === 5) return;
    if (this.fault === 'reorder') {
      if (this.#held === undefined) {
        this.#held = message;
        return;
      }
      const held = this.#held;
      this.#held = undefined;
      await this.inner.send(message, options);
      return this.inner.send(held, options);
    }
    if (this.fault === 'swallow-send-errors') return this.inner.send(message, options).catch(() => {});
    return this.inner.send(message, options);
  }
  trySend(message: T): boolean {
    return this.inner.trySend(message);
  }
  receive(options?: ReceiveOptions): Promise<T> {
    return this.inner.receive(this.fault === 'no-timeout' ? {} : options);
  }
  tryReceive(): T | undefined {
    return this.inner.tryReceive();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function brokenPair(fault: 'reorder' | 'drop' | 'no-timeout' | 'swallow-send-errors'): ChannelPairFactory {
  return () => {
    const [a, b] = MemoryChannel.pair({ capacity: 8 });
    return [new Broken(a, fault), new Broken(b, fault)];
  };
}

/** Runs one case; resolves to the failure, or undefined when the case passed. A hang counts as failing. */
async function failureOf(caseName: string, factory: ChannelPairFactory): Promise<unknown> {
  const c = conformanceCases.find((x) => x.name.startsWith(caseName));
  if (!c) throw new Error(`no case ${caseName}`);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise((resolve) => (timer = setTimeout(() => resolve(new Error('hung')), 1000)));
  try {
    return await Promise.race([
      c.run(factory, { capacity: 8 }).then(
        () => undefined,
        (e: unknown) => e,
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the conformance suite has teeth', () => {
  it('passes every case on the working memory channel', async () => {
    const limits = { capacity: 8, maxMessageBytes: 4096 };
    for (const c of conformanceCases) {
      if (c.applies?.(limits) === false) continue;
      await c.run(() => MemoryChannel.pair(limits), limits);
    }
  });

  it('fails a channel that takes a send after the peer closed and drops it', async () => {
    expect(await failureOf('a send after the peer closed', brokenPair('swallow-send-errors'))).toBeInstanceOf(Error);
  });

  it('reports a case that does not apply as skipped, never as passed', async () => {
    // Broken has no destroy(): the destroy case must skip, not pass.
    expect(await failureOf('destroy() rejects', brokenPair('reorder'))).toBeInstanceOf(CaseSkipped);
  });

  it('fails a channel that reorders messages', async () => {
    expect(await failureOf('keeps the order', brokenPair('reorder'))).toBeInstanceOf(Error);
  });

  it('fails a channel that drops messages', async () => {
    expect(await failureOf('keeps the order', brokenPair('drop'))).toBeInstanceOf(Error);
  });

  it('fails a channel that never times out', async () => {
    expect(await failureOf('receive times out', brokenPair('no-timeout'))).toBeInstanceOf(Error);
  });

  it('fails a channel that waits on for a killed peer, and one that takes sends after it noticed', async () => {
    const c = conformanceCases.find((x) => x.name.startsWith('a receive waiting on a peer whose process is killed'))!;
    /** A memory pair whose far end echoes; `kill` either silences it (nobody is told) or closes it. */
    const peer = (kill: 'silence' | 'close', fault?: 'swallow-send-errors') => async () => {
      const [a, b] = MemoryChannel.pair({ capacity: 8 });
      let echoing = true;
      void (async () => {
        for await (const m of b) if (echoing) await b.send(m);
      })();
      return {
        channel: fault ? new Broken(a, fault) : a,
        kill: async () => {
          if (kill === 'silence') echoing = false;
          else await b.close();
        },
      };
    };
    const run = (factory: ReturnType<typeof peer>) =>
      c
        .run(() => MemoryChannel.pair(), { killablePeer: factory })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    expect(await run(peer('close'))).toBeUndefined(); // a peer that is noticed: passes
    expect(String(await run(peer('silence')))).toMatch(
      /should fail with PeerGoneError or ClosedError, got TimeoutError/,
    );
    expect(String(await run(peer('close', 'swallow-send-errors')))).toMatch(
      /a send after that should fail .* got accepted/,
    );
  }, 15_000);

  it('fails a channel that hands out bytes its codec cannot decode', async () => {
    const c = conformanceCases.find((x) => x.name.startsWith('bytes the codec cannot decode'))!;
    /** A memory pair carrying bytes; the receiving end decodes msgpack strictly, or passes garbage on. */
    const garbagePeer = (strict: boolean) => async (): Promise<[Channel<unknown>, Channel<Uint8Array>]> => {
      const [rx, tx] = MemoryChannel.pair<Uint8Array>({ capacity: 8, codec: rawCodec });
      const receiver = new Decoding(rx, strict);
      return [receiver, tx];
    };
    const run = (strict: boolean) =>
      c
        .run(() => MemoryChannel.pair(), { garbagePeer: garbagePeer(strict) })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    expect(await run(true)).toBeUndefined();
    expect(String(await run(false))).toMatch(/expected a rejection with IPCX_ERR_BAD_FRAME/);
  });

  it("fails a channel whose decoder hands out msgpack's reserved byte 0xc1 as msgpackr does", async () => {
    const c = conformanceCases.find((x) => x.name.startsWith("msgpack's reserved byte 0xc1"))!;
    const { Unpackr } = await import('msgpackr');
    const lax = new Unpackr({ useRecords: true, moreTypes: true, mapsAsObjects: false });
    const garbagePeer = (strict: boolean) => async (): Promise<[Channel<unknown>, Channel<Uint8Array>]> => {
      const [rx, tx] = MemoryChannel.pair<Uint8Array>({ capacity: 8, codec: rawCodec });
      return [strict ? new Decoding(rx, true) : new Decoding(rx, false, (bytes) => lax.unpack(bytes)), tx];
    };
    const run = (strict: boolean) =>
      c
        .run(() => MemoryChannel.pair(), { garbagePeer: garbagePeer(strict) })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    expect(await run(true)).toBeUndefined();
    expect(String(await run(false))).toMatch(/expected a rejection with IPCX_ERR_BAD_FRAME/);
  });
});

/** Receives bytes and decodes them as msgpack: strictly (BadFrameError), or handing undecodable bytes out. */
class Decoding extends AbstractChannel<unknown> {
  constructor(
    private readonly inner: Channel<Uint8Array>,
    private readonly strict: boolean,
    private readonly decode: (bytes: Uint8Array) => unknown = (bytes) => msgpackCodec.decode(bytes),
  ) {
    super();
  }
  get closed(): boolean {
    return this.inner.closed;
  }
  send(): Promise<void> {
    return Promise.reject(new Error('receive-only'));
  }
  trySend(): boolean {
    return false;
  }
  async receive(options?: ReceiveOptions): Promise<unknown> {
    const bytes = await this.inner.receive(options);
    try {
      return this.decode(bytes);
    } catch (error) {
      if (this.strict) throw error;
      return bytes;
    }
  }
  tryReceive(): unknown {
    return undefined;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
