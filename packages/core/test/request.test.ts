import { describe, expect, it } from 'vitest';
import { BadFrameError, ClosedError, RemoteError, TimeoutError, MemoryChannel, request, serve } from '@ipcx/core';

describe('request/response', () => {
  it('answers many requests in flight on one channel, each with its own response', async () => {
    const [client, server] = MemoryChannel.pair({ capacity: 4 });
    const serving = serve<{ n: number }, number>(server, async ({ n }) => {
      // Answer out of order: larger n waits for more turns of the loop.
      for (let i = 0; i < n % 7; i++) await new Promise((r) => setImmediate(r));
      return n * 2;
    });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, n) => request<number>(client, { n })));
    expect(answers).toEqual(Array.from({ length: 100 }, (_, n) => n * 2));
    await client.close();
    await serving;
  });

  it('delivers a handler error to the caller as RemoteError with name and code', async () => {
    const [client, server] = MemoryChannel.pair();
    void serve(server, () => {
      throw Object.assign(new RangeError('no such job'), { code: 'E_JOB' });
    });
    const error = await request(client, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({
      code: 'IPCX_ERR_REMOTE',
      remoteName: 'RangeError',
      remoteCode: 'E_JOB',
      message: 'no such job',
    });
    await client.close();
  });

  it('answers with a failure when the channel refuses the reply (too large)', async () => {
    const [client, server] = MemoryChannel.pair({ maxMessageBytes: 200 });
    const serving = serve(server, () => 'x'.repeat(500));
    const error = await request(client, 'big').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ remoteName: 'TooLargeError', remoteCode: 'IPCX_ERR_TOO_LARGE' });
    await client.close();
    await serving;
  });

  it('skips a message it cannot decode and goes on serving', async () => {
    const [client, server] = MemoryChannel.pair();
    let first = true;
    // The server end's first receive fails as a codec does on a foreign peer's garbage.
    const receive = server.receive.bind(server);
    server.receive = async (options) => {
      const message = await receive(options);
      if (first) {
        first = false;
        throw new BadFrameError('garbage');
      }
      return message;
    };
    const serving = serve<number, number>(server, (n) => n + 1);
    await client.send('garbage');
    expect(await request(client, 41, { timeout: 5000 })).toBe(42);
    await client.close();
    await serving;
  });

  it('ignores a message with its id that is not a response (another request) and still gets the answer', async () => {
    const [client, server] = MemoryChannel.pair();
    const answered = request(client, 'q', { timeout: 5000 });
    const [kind, id] = (await server.receive()) as [number, number, unknown];
    expect(kind).toBe(0);
    await server.send([0, id, 'a request of its own']);
    await server.send([1, id, 'the answer']);
    expect(await answered).toBe('the answer');
    await client.close();
  });

  it('times out a request nobody answers and drops its late response', async () => {
    const [client, server] = MemoryChannel.pair();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    void serve(server, async (n: number) => {
      if (n === 1) await gate;
      return n;
    });
    await expect(request(client, 1, { timeout: 20 })).rejects.toBeInstanceOf(TimeoutError);
    release();
    expect(await request(client, 2, { timeout: 1000 })).toBe(2);
    await client.close();
  });

  it('rejects requests in flight when the channel closes', async () => {
    const [client, server] = MemoryChannel.pair();
    void serve(server, () => new Promise(() => {}));
    const pending = request(client, 1);
    await server.close();
    await expect(pending).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    await client.close();
    await expect(request(client, 2)).rejects.toBeInstanceOf(ClosedError);
  });

  it('stops serving when its signal aborts', async () => {
    const [, server] = MemoryChannel.pair();
    const controller = new AbortController();
    const serving = serve(server, (x) => x, { signal: controller.signal });
    controller.abort();
    await expect(serving).resolves.toBeUndefined();
    expect(server.closed).toBe(false);
  });
});
