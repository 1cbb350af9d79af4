import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidNameError, isIpcError, rawCodec } from '@ipcx/core';
import { socketPair } from '@ipcx/native';
import { SeqPacketChannel, UnixDatagram, resolveUnixAddress } from '@ipcx/sockets';
import { uniqueNames } from './helpers.js';

const names = uniqueNames();

describe('fuzz: decoders and names of the socket transports', () => {
  it('random datagrams (1500 real ones): each receive is a value or a typed error, and the socket goes on', async () => {
    const address = names.abstract('fuzz-dgram');
    await using receiver = await UnixDatagram.bind(address, { maxMessageBytes: 128 });
    await using sender = await UnixDatagram.unbound({ codec: rawCodec });
    sender.connect(address);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 160 }), async (bytes) => {
        await sender.send(bytes, { timeout: 5000 });
        try {
          await receiver.receive({ timeout: 5000 });
        } catch (error) {
          expect(isIpcError(error), String(error)).toBe(true);
          expect(['IPCX_ERR_BAD_FRAME', 'IPCX_ERR_TOO_LARGE']).toContain((error as { code: string }).code);
        }
      }),
      { numRuns: 1500 },
    );
    // Still receiving after all that.
    const good = await UnixDatagram.unbound();
    good.connect(address);
    await good.send({ fine: true });
    expect((await receiver.receive({ timeout: 5000 })).data).toEqual({ fine: true });
    await good.close();
  });

  it('random seqpacket packets (500 real ones): a value, or a typed error that ends that connection', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 100 }), async (bytes) => {
        const [a, b] = socketPair('seqpacket');
        const raw = new SeqPacketChannel<Uint8Array>(a, { codec: rawCodec });
        const typed = new SeqPacketChannel(b);
        try {
          await raw.send(bytes);
          try {
            await typed.receive({ timeout: 5000 });
          } catch (error) {
            expect(isIpcError(error), String(error)).toBe(true);
            expect((error as { code: string }).code).toBe('IPCX_ERR_BAD_FRAME');
            expect(typed.closed).toBe(true);
          }
        } finally {
          await raw.close();
          await typed.close();
        }
      }),
      { numRuns: 500 },
    );
  });

  it('names: resolveUnixAddress returns an address or InvalidNameError for any input (10000 cases)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 120 }),
          fc.record({ abstract: fc.string({ maxLength: 120 }) }),
          fc.constantFrom('', '\0', '/', { abstract: '' }),
        ),
        (address) => {
          try {
            const resolved = resolveUnixAddress(address as never);
            expect(Buffer.byteLength(resolved.target)).toBeLessThanOrEqual(108);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidNameError);
          }
        },
      ),
      { numRuns: 10_000 },
    );
  });
});
