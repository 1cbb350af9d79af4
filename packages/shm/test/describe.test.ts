import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedState, ShmChannel, describeSegment } from '../src/index.js';
import { uniqueName } from '@ipcx/core/testing';

const unique = () => `/${uniqueName('describe')}`;

describe('describeSegment', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('reads the fill of both rings of a named channel from its file in /dev/shm', async () => {
    const name = unique();
    const a = await ShmChannel.create<Uint8Array>(name, { bufferBytes: 4096 });
    closers.push(() => a.close());
    const b = await ShmChannel.open<Uint8Array>(name);
    closers.push(() => b.close());
    await a.send(new Uint8Array(10));
    await a.send(new Uint8Array(30));
    const file = readFileSync(`/dev/shm${name}`);
    const description = describeSegment((offset, length) => file.subarray(offset, offset + length));
    expect(description).toMatchObject({ ipcx: true, compatible: true, kind: 'channel' });
    expect(description.rings?.[0]?.used).toBeGreaterThan(40);
    expect(description.rings?.[1]?.used).toBe(0);
    // The consumer publishes its read index lazily (every quarter ring): after reading 20 frames of 112 bytes,
    // what the file shows as used is less than a quarter of the ring.
    for (let i = 0; i < 18; i++) await a.send(new Uint8Array(100));
    for (let i = 0; i < 20; i++) await b.receive();
    const after = describeSegment(readFileSync(`/dev/shm${name}`));
    expect(after.rings?.[0]?.written).toBeGreaterThan(2000);
    expect(after.rings?.[0]?.used).toBeLessThan(1024);
  });

  it('reads the revision of shared state', async () => {
    const name = unique();
    const state = await SharedState.create(name, { maxValueBytes: 1024 });
    closers.push(() => state.close());
    state.set({ a: 1 });
    state.set({ a: 2 });
    expect(describeSegment(readFileSync(`/dev/shm${name}`)).state).toMatchObject({ revision: 2, writing: false });
  });

  it('says not ipcx for foreign or short bytes', () => {
    expect(describeSegment(new Uint8Array(16))).toEqual({ ipcx: false });
    expect(describeSegment(new Uint8Array(4096).fill(7))).toEqual({ ipcx: false });
  });
});
