import { lstatSync, existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Fifo } from '@ipcx/sockets';
import { exited, fixtures, spawnNode, uniqueNames } from './helpers.js';

const names = uniqueNames();

describe('FIFOs', () => {
  it('creates an owner-only FIFO and carries framed messages one way', async () => {
    await using fifo = await Fifo.create(names.path('one.fifo'));
    expect(lstatSync(fifo.path).isFIFO()).toBe(true);
    expect(lstatSync(fifo.path).mode & 0o777).toBe(0o600);
    await using reader = await Fifo.openReader(fifo.path);
    await using writer = await Fifo.openWriter(fifo.path, { timeout: 5000 });
    for (let i = 0; i < 1000; i++) await writer.send({ i });
    for (let i = 0; i < 1000; i++) expect(await reader.receive({ timeout: 5000 })).toEqual({ i });
    expect('send' in reader).toBe(false); // one way: a FIFO end is not a Channel
    expect('receive' in writer).toBe(false);
    await writer.send('last');
    await writer.close();
    expect(writer.closed).toBe(true);
    expect(await reader.receive({ timeout: 5000 })).toBe('last');
    await expect(reader.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(reader.closed).toBe(true);
  });

  it('receives from a writer in another process', async () => {
    await using fifo = await Fifo.create(names.path('proc.fifo'));
    await using reader = await Fifo.openReader(fifo.path);
    const child = spawnNode([`${fixtures}child.mjs`, 'fifo-writer', fifo.path, '500']);
    const seen: number[] = [];
    for await (const m of reader) seen.push((m as { i: number }).i);
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(await exited(child)).toMatchObject({ code: 0, signal: null });
  });

  it('times out opening a writer nobody reads, and fails a send once the reader is gone', async () => {
    await using fifo = await Fifo.create(names.path('lonely.fifo'));
    await expect(Fifo.openWriter(fifo.path, { timeout: 50 })).rejects.toMatchObject({ code: 'IPCX_ERR_TIMEOUT' });
    const reader = await Fifo.openReader(fifo.path);
    await using writer = await Fifo.openWriter(fifo.path, { timeout: 5000 });
    await reader.close();
    const big = 'x'.repeat(100_000);
    let error: unknown;
    for (let i = 0; i < 100 && error === undefined; i++) await writer.send(big).catch((e: unknown) => (error = e));
    expect(error).toMatchObject({ code: 'IPCX_ERR_PEER_GONE' });
  });

  it('refuses an existing path, and removes the file on close()', async () => {
    const path = names.path('dup.fifo');
    const fifo = await Fifo.create(path);
    await expect(Fifo.create(path)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' });
    expect(fifo.closed).toBe(false);
    await fifo.close();
    await fifo.close();
    expect(fifo.closed).toBe(true);
    expect(existsSync(path)).toBe(false);
    await expect(Fifo.openReader(path)).rejects.toMatchObject({ code: 'IPCX_ERR_NOT_FOUND' });
  });

  it('unlink removes a FIFO by name and says whether one was there', async () => {
    const path = names.path('unlink.fifo');
    const fifo = await Fifo.create(path);
    expect(await Fifo.unlink(path)).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(await Fifo.unlink(path)).toBe(false);
    await fifo.close(); // the file is gone: nothing to remove, no error
    await expect(Fifo.unlink(fixtures)).rejects.toMatchObject({ code: 'IPCX_ERR_INVALID_NAME' });
  });

  it('a reader sees closed only after the writer ended and everything it wrote was received', async () => {
    await using fifo = await Fifo.create(names.path('closed.fifo'));
    await using reader = await Fifo.openReader(fifo.path);
    const writer = await Fifo.openWriter(fifo.path, { timeout: 5000 });
    await writer.send(1);
    await writer.send(2);
    await writer.close();
    expect(await reader.receive({ timeout: 5000 })).toBe(1);
    expect(reader.closed).toBe(false);
    expect(await reader.receive({ timeout: 5000 })).toBe(2);
    await expect(reader.receive({ timeout: 5000 })).rejects.toMatchObject({ code: 'IPCX_ERR_CLOSED' });
    expect(reader.closed).toBe(true);
  });
});
