import { describe, expect, it } from 'vitest';
import { MAX_TIMEOUT_MS, checkWaitOptions, intervalOption, memoryChannelPair } from '@ipcx/core';

describe('checkWaitOptions', () => {
  it('takes 0 to 2^31 - 1 ms and refuses the rest, which a Node timer would turn into 1 ms', async () => {
    for (const timeout of [undefined, 0, 1.5, MAX_TIMEOUT_MS]) expect(() => checkWaitOptions({ timeout })).not.toThrow();
    for (const timeout of [-1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMEOUT_MS + 1, '5' as unknown as number]) {
      expect(() => checkWaitOptions({ timeout })).toThrow(TypeError);
    }
    const [a, b] = memoryChannelPair();
    await expect(a.receive({ timeout: 30 * 24 * 3600 * 1000 })).rejects.toBeInstanceOf(TypeError);
    // A fraction of a millisecond is a timeout like any other (AbortSignal.timeout takes whole ms).
    await expect(a.receive({ timeout: 1.5 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    await a.close();
    await b.close();
  });
});

describe('intervalOption', () => {
  it('takes a number of ms above 0 up to a timer\'s limit, the fallback when undefined, and refuses the rest', () => {
    expect(intervalOption('peerCheckInterval', undefined, 500)).toBe(500);
    for (const ms of [0.5, 1, 250, MAX_TIMEOUT_MS]) expect(intervalOption('peerCheckInterval', ms, 500)).toBe(ms);
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMEOUT_MS + 1, '5' as unknown as number]) {
      expect(() => intervalOption('peerCheckInterval', ms, 500)).toThrow(/peerCheckInterval/);
    }
  });
});
