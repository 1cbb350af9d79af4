// The bounded, adaptive spin of a receive that finds nothing buffered (issue 15). Behaviour, not times: every
// message once and in order with the spin on or off (frames split anywhere, bytes read partly by the spin and
// partly by libuv), a spin never outlasts its bound, 0 never spins, an idle channel does not keep spinning,
// and the ends of a channel (close, a peer that dies) are what they are without the spin.
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClosedError, PeerGoneError, rawCodec } from '@ipcx/core';
import { SeqPacketChannel, SeqPacketServer, UnixDatagram, UnixServer, type UnixChannel } from '@ipcx/sockets';
import { spinCounters } from '@ipcx/core/transport';
import { childLines, exited, spawnNode, uniqueNames, within } from './helpers.js';

const names = uniqueNames();
const here = fileURLToPath(new URL('..', import.meta.url));

function frame(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** A Unix stream server with one raw node:net client writing bytes, and the accepted channel reading them. */
async function rawPair(
  spinMicroseconds: number,
): Promise<{ writer: net.Socket; channel: UnixChannel<Uint8Array>; close(): Promise<void> }> {
  const address = names.abstract('spin-stream');
  const server = await UnixServer.listen(address, { codec: rawCodec, spinMicroseconds });
  const writer = net.connect({ path: `\0${address.abstract}` });
  const channel = await server.accept({ timeout: 5000 });
  return {
    writer,
    channel,
    async close() {
      writer.destroy();
      await channel.close();
      await server.close();
    },
  };
}

const counters = (): typeof spinCounters => ({ ...spinCounters });

describe('the receive spin', () => {
  for (const spin of [0, 200]) {
    it(`stream, spinMicroseconds ${spin}: every message once and in order, frames split anywhere`, async () => {
      const { writer, channel, close } = await rawPair(spin);
      const before = counters();
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 20 }),
            fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 30 }),
            async (messages, cuts) => {
              const bytes = Buffer.concat(messages.map(frame));
              const received: Uint8Array[] = [];
              let pending: Promise<void> | undefined;
              let asked = 0;
              const ask = (): void => {
                if (pending !== undefined || asked === messages.length) return;
                asked++;
                pending = channel.receive({ timeout: 5000 }).then((message) => {
                  received.push(message);
                  pending = undefined;
                });
              };
              // Write in pieces. The write reaches the kernel at once, and a receive asked for right after it
              // finds the bytes there: its spin reads them (often a part of a frame), libuv reads what comes
              // later, and a frame is often completed by the other reader.
              let at = 0;
              for (let i = 0; at < bytes.length; i++) {
                const size = cuts[i % cuts.length]!;
                writer.write(bytes.subarray(at, at + size));
                at += size;
                ask();
                await new Promise((resolve) => setImmediate(resolve));
              }
              const reading = (async () => {
                while (received.length < messages.length) {
                  ask();
                  await pending;
                }
              })();
              await within(reading, 10_000, 'every message');
              expect(received.map((m) => Buffer.from(m).toString('hex'))).toEqual(
                messages.map((m) => Buffer.from(m).toString('hex')),
              );
            },
          ),
          { numRuns: 25 },
        );
        // With the spin on, some of the bytes were read by it (not only by libuv).
        if (spin > 0) expect(spinCounters.hits - before.hits).toBeGreaterThan(0);
        else expect(spinCounters.spins - before.spins).toBe(0);
      } finally {
        await close();
      }
    });

    it(`seqpacket, spinMicroseconds ${spin}: every message once and in order`, async () => {
      const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: spin });
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 20 }),
            async (messages) => {
              const received: Uint8Array[] = [];
              const reading = (async () => {
                for (let i = 0; i < messages.length; i++) received.push(await b.receive({ timeout: 5000 }));
              })();
              for (const message of messages) {
                await a.send(message);
                if (message.length % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
              }
              await within(reading, 10_000, 'every message');
              expect(received.map((m) => Buffer.from(m).toString('hex'))).toEqual(
                messages.map((m) => Buffer.from(m).toString('hex')),
              );
            },
          ),
          { numRuns: 25 },
        );
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('a spin that finds nothing ends within its bound (a generous one), and the receive then waits for libuv', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: 20_000 });
    const { writer, channel, close } = await rawPair(20_000);
    try {
      for (const receiver of [b, channel]) {
        const before = counters();
        const start = performance.now();
        const pending = receiver.receive({ timeout: 5000 });
        const spun = performance.now() - start;
        expect(spun).toBeLessThan(20 + 1000); // the bound plus a generous margin for a loaded machine
        expect(spinCounters.spins - before.spins).toBe(1);
        expect(spinCounters.misses - before.misses).toBe(1);
        if (receiver === b) await a.send(new Uint8Array([1]));
        else writer.write(frame(new Uint8Array([1])));
        expect([...(await pending)]).toEqual([1]);
      }
    } finally {
      await a.close();
      await b.close();
      await close();
    }
  });

  it('spinMicroseconds 0 never spins, on any socket transport', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: 0 });
    const { writer, channel, close } = await rawPair(0);
    const address = names.abstract('spin-dgram');
    const datagram = await UnixDatagram.bind(address, { codec: rawCodec, spinMicroseconds: 0 });
    const sender = await UnixDatagram.unbound({ codec: rawCodec });
    try {
      const before = counters();
      for (let i = 0; i < 20; i++) {
        const seq = b.receive({ timeout: 5000 });
        const stream = channel.receive({ timeout: 5000 });
        const dgram = datagram.receive({ timeout: 5000 });
        await a.send(new Uint8Array([i + 1]));
        writer.write(frame(new Uint8Array([i])));
        await sender.send(new Uint8Array([i]), { to: address });
        expect([...(await seq)]).toEqual([i + 1]);
        expect([...(await stream)]).toEqual([i]);
        expect([...(await dgram).data]).toEqual([i]);
      }
      expect(spinCounters.spins).toBe(before.spins);
    } finally {
      await a.close();
      await b.close();
      await close();
      await datagram.close();
      await sender.close();
    }
  });

  it('an idle channel stops spinning: receives that keep waiting skip the spin, and the process stays idle', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: 1000 });
    try {
      // A receiver paced slower than the spin: every spin misses, so more and more receives skip it.
      const before = counters();
      for (let i = 0; i < 40; i++) {
        const pending = b.receive({ timeout: 5000 });
        await new Promise((resolve) => setTimeout(resolve, 2));
        await a.send(new Uint8Array([1]));
        await pending;
      }
      const spins = spinCounters.spins - before.spins;
      expect(spins).toBeLessThan(12); // 1 + 1 + 1 + ... with back-off 1, 3, 7, 15, 31: 6 spins for 40 receives
      expect(spinCounters.skipped - before.skipped).toBeGreaterThan(25);
      // A receive waiting on an idle channel spins once at most, then costs nothing.
      const idleBefore = counters();
      const cpu = process.cpuUsage();
      const started = performance.now();
      const pending = b.receive({ timeout: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const used = process.cpuUsage(cpu);
      const share = (used.user + used.system) / 1000 / (performance.now() - started);
      expect(spinCounters.spins - idleBefore.spins).toBeLessThanOrEqual(1);
      expect(share).toBeLessThan(0.2);
      await a.send(new Uint8Array([2]));
      expect([...(await pending)]).toEqual([2]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a spin that keeps finding messages goes on spinning', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: 1000 });
    try {
      // Prime: a miss starts the back-off; one hit ends it.
      const before = counters();
      for (let i = 0; i < 20; i++) {
        await a.send(new Uint8Array([i]));
        expect([...(await b.receive({ timeout: 5000 }))]).toEqual([i]);
      }
      // Each message was already queued: the spin's first look finds it.
      expect(spinCounters.misses - before.misses).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('closing the channel fails the receive that waits after its spin with ClosedError', async () => {
    const [a, b] = SeqPacketChannel.pair({ codec: rawCodec, spinMicroseconds: 500 });
    const { channel, close } = await rawPair(500);
    try {
      for (const receiver of [b, channel]) {
        const pending = receiver.receive({ timeout: 5000 });
        await receiver.close();
        await expect(pending).rejects.toBeInstanceOf(ClosedError);
      }
    } finally {
      await a.close();
      await close();
    }
  });

  for (const kind of ['stream', 'seqpacket'] as const) {
    it(`${kind}: a peer that dies during a spin is PeerGoneError`, async () => {
      const address = names.abstract(`spin-dies-${kind}`);
      const options = { codec: rawCodec, spinMicroseconds: 1_000_000 };
      const server =
        kind === 'stream' ? await UnixServer.listen(address, options) : await SeqPacketServer.listen(address, options);
      // The child connects, says so, and kills itself a little later: while this process spins (up to 1 s).
      const code =
        kind === 'stream'
          ? `import net from 'node:net'; net.connect({ path: '\\0${address.abstract}' }, () => { process.stdout.write('ready\\n'); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100); });`
          : `import { SeqPacketSocket } from '@ipcx/sockets'; await SeqPacketSocket.connect({ abstract: '${address.abstract}' }); process.stdout.write('ready\\n'); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);`;
      const child = spawnNode(['--input-type=module', '-e', code], { cwd: here });
      try {
        const channel = await server.accept({ timeout: 10_000 });
        expect(await childLines(child).next()).toBe('ready');
        await expect(channel.receive({ timeout: 10_000 })).rejects.toBeInstanceOf(PeerGoneError);
        await channel.close();
        await exited(child);
      } finally {
        await server.close();
      }
    });
  }
});
