import { fchmodSync, fchownSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidNameError,
  PeerGoneError,
  PermissionError,
  ownedKernelObjects,
  unlinkOwnedKernelObjects,
} from '@ipcx/core';
import { mq } from '@ipcx/native';
import { MessageQueue, MqChannel, TypedMessageQueue } from '@ipcx/mq';
import { childLines, exited, killChild, killTrackedChildren, spawnCode } from '@ipcx/core/testing';
import { queueName, unlinkAll } from './helpers.js';

const root = process.getuid?.() === 0;
const small = { capacity: 4, maxMessageBytes: 64 };
/** The same shape in @ipcx/native's words, for queues made behind the package's back. */
const kernelShape = { maxMessages: 4, messageSize: 64 };

afterEach(async () => {
  await killTrackedChildren();
  await unlinkAll();
});

function exists(name: string): boolean {
  try {
    mq.close(mq.open(name, { create: false }));
    return true;
  } catch {
    return false;
  }
}

describe('a duplex MqChannel never sends into a queue nobody reads', () => {
  it('rejects a send (and trySend) after the other end closed with PeerGoneError', async () => {
    const name = queueName('closed-peer');
    await using a = await MqChannel.create(name, small);
    const b = await MqChannel.open(name);
    await a.send('one');
    expect(await b.receive({ timeout: 1000 })).toBe('one');
    await b.close();
    await expect(a.send('into the void')).rejects.toBeInstanceOf(PeerGoneError);
    expect(() => a.trySend('nor this')).toThrow(PeerGoneError);
  });

  it('rejects a send after an opener that never spoke was SIGKILLed, at once', async () => {
    const name = queueName('killed-opener');
    await using a = await MqChannel.create(name, small);
    const child = spawnCode(`import { MqChannel } from '@ipcx/mq';
      await MqChannel.open(${JSON.stringify(name)}); process.stdout.write('ready\\n'); setInterval(() => {}, 1e6);`);
    expect(await childLines(child).next()).toBe('ready');
    await killChild(child);
    const start = performance.now();
    await expect(a.send('after the kill')).rejects.toBeInstanceOf(PeerGoneError);
    expect(performance.now() - start).toBeLessThan(1000);
    console.info(
      `fault: mq opener SIGKILLed; the creator's next send failed after ${(performance.now() - start).toFixed(2)} ms`,
    );
  });

  it('rejects a send of the opening end once the creator was SIGKILLed', async () => {
    const name = queueName('killed-creator');
    const child = spawnCode(`import { MqChannel } from '@ipcx/mq';
      await MqChannel.create(${JSON.stringify(name)}, { capacity: 4, maxMessageBytes: 64 }); process.stdout.write('ready\\n'); setInterval(() => {}, 1e6);`);
    expect(await childLines(child).next()).toBe('ready');
    await using b = await MqChannel.open(name);
    await b.send('heard');
    await killChild(child);
    await expect(b.send('not heard')).rejects.toBeInstanceOf(PeerGoneError);
  });

  it('delivery promise: what a killed sender sent before it died arrives once, in order, then PeerGoneError', async () => {
    const name = queueName('prefix');
    await using a = await MqChannel.create(name, { capacity: 10, maxMessageBytes: 64, peerCheckInterval: 50 });
    const child = spawnCode(`import { MqChannel } from '@ipcx/mq';
      const b = await MqChannel.open(${JSON.stringify(name)});
      process.stdout.write('ready\\n');
      for (let n = 0; ; n++) await b.send(n);`);
    expect(await childLines(child).next()).toBe('ready');
    const got: number[] = [];
    while (got.length < 200) got.push((await a.receive({ timeout: 5000 })) as number);
    const killedAt = performance.now();
    await killChild(child);
    const error = await (async () => {
      for (;;) got.push((await a.receive({ timeout: 5000 })) as number);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeerGoneError);
    console.info(
      `fault: mq sender SIGKILLed mid-stream; ${got.length} messages in order, receiver noticed in ${(performance.now() - killedAt).toFixed(1)} ms (peerCheckInterval 50)`,
    );
    expect(got).toEqual(got.map((_, i) => i)); // no gap, no duplicate, in order
  });
});

describe('queues of another user, or wider than asked, are never adopted', () => {
  it('refuses a queue of ours that another process left with mode 0666 (MessageQueue.create and MqChannel.create, not exclusive)', async () => {
    const name = queueName('wide');
    const fd = mq.open(name, { create: true, mode: 0o600, ...kernelShape });
    fchmodSync(fd, 0o666);
    mq.close(fd);
    const error = (await MessageQueue.create(name, { exclusive: false, mode: 0o600 }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(error).toBeInstanceOf(PermissionError);
    expect(error!.message).toContain('0666');
    const fd0 = mq.open(`${name}.0`, { create: true, mode: 0o600, ...kernelShape });
    fchmodSync(fd0, 0o622);
    mq.close(fd0);
    await expect(MqChannel.create(name, { ...small, exclusive: false })).rejects.toThrow(PermissionError);
    expect(exists(`${name}.1`)).toBe(false); // nothing of ours made on the way to the refusal
    // Asking for 0666 takes it: what was found is no wider than asked.
    await await (await MessageQueue.create(name, { exclusive: false, mode: 0o666 })).close();
  });

  it.skipIf(!root)(
    'refuses queues another uid pre-created with mode 0666, saying what it found and what to do',
    async () => {
      const name = queueName('squat');
      for (const q of [name, `${name}.0`, `${name}.1`]) {
        const fd = mq.open(q, { create: true, mode: 0o666, ...kernelShape });
        fchownSync(fd, 65534, 65534);
        fchmodSync(fd, 0o666);
        mq.close(fd);
      }
      const error = (await MessageQueue.create(name, { exclusive: false, mode: 0o600 }).catch(
        (e: unknown) => e,
      )) as Error;
      expect(error).toBeInstanceOf(PermissionError);
      expect(error!.message).toMatch(/uid 65534.*0666/);
      expect(error!.message).toContain('unlink');
      await expect(MqChannel.create(name, { ...small, exclusive: false })).rejects.toThrow(PermissionError);
      await expect(MqChannel.open(name)).rejects.toThrow(PermissionError);
    },
  );

  it.skipIf(!root)(
    'a child dropped to uid 65534 that squats the names first gets nothing of ours, and cannot open, unlink or squat our queues',
    async () => {
      const squatted = queueName('squatter');
      const squatter = spawnCode(
        `import { mq } from '@ipcx/native';
      /*DROP*/
      for (const q of [${JSON.stringify(squatted)}, ${JSON.stringify(`${squatted}.0`)}, ${JSON.stringify(`${squatted}.1`)}]) mq.close(mq.open(q, { create: true, mode: 0o666, maxMessages: 4, messageSize: 64 }));
      process.stdout.write('squatted\\n');`,
        { dropTo: 65534 },
      );
      const squat = await exited(squatter);
      expect(squat.stdout, squat.stderr).toBe('squatted\n');
      await expect(MqChannel.create(squatted, { ...small, exclusive: false })).rejects.toThrow(PermissionError);
      await expect(MessageQueue.create(squatted, { exclusive: false })).rejects.toThrow(PermissionError);

      const ours = queueName('ours');
      await using channel = await MqChannel.create(ours, small);
      await using _queue = await MessageQueue.create(ours, { ...small });
      const attacker = spawnCode(
        `import { mq } from '@ipcx/native';
      import { MessageQueue, MqChannel, TypedMessageQueue } from '@ipcx/mq';
      /*DROP*/
      const tries = {
        open: () => MessageQueue.open(${JSON.stringify(ours)}),
        openEnd: () => MqChannel.open(${JSON.stringify(ours)}),
        createSame: () => MessageQueue.create(${JSON.stringify(ours)}, { exclusive: false, mode: 0o666 }),
        unlink: () => mq.unlink(${JSON.stringify(ours)}),
        unlinkEnd: () => mq.unlink(${JSON.stringify(`${ours}.0`)}),
      };
      const out = {};
      for (const [what, attempt] of Object.entries(tries)) {
        try { await attempt(); out[what] = 'done'; } catch (e) { out[what] = e.code; }
      }
      process.stdout.write(JSON.stringify(out) + '\\n');`,
        { dropTo: 65534 },
      );
      const { stdout: out, stderr: err } = await exited(attacker);
      expect(out, err).not.toBe('');
      const result = JSON.parse(out) as Record<string, string>;
      expect(result).toEqual({
        open: 'IPCX_ERR_PERMISSION',
        openEnd: 'IPCX_ERR_PERMISSION',
        createSame: 'IPCX_ERR_PERMISSION',
        unlink: 'EACCES',
        unlinkEnd: 'EACCES',
      });
      expect(exists(ours) && exists(`${ours}.0`)).toBe(true);
      await channel.send('still ours');
    },
  );
});

describe('names and options are checked before any queue exists', () => {
  it("refuses the base names '/', '/.' and '/..' with InvalidNameError", async () => {
    // Those names are shared by every run on the machine: only what was not there before must stay absent.
    const queues = ['/.0', '/.1', '/..0', '/..1', '/...0', '/...1'].filter((q) => !exists(q));
    for (const name of ['/', '/.', '/..']) {
      await expect(MqChannel.create(name, small), name).rejects.toThrow(InvalidNameError);
      await expect(MqChannel.open(name), name).rejects.toThrow(InvalidNameError);
    }
    for (const q of queues) expect(exists(q), q).toBe(false);
  });

  it('leaves no queue behind for any invalid option', async () => {
    const bad: Record<string, unknown>[] = [
      { priority: -1 },
      { priority: 40000 },
      { codec: {} },
      { capacity: 0 },
      { maxMessageBytes: 1.5 },
      { mode: 0o1777 },
      { spinMicroseconds: -1 },
      { peerCheckInterval: 0 },
      { exclusive: 'yes' },
    ];
    for (const options of bad) {
      const name = queueName('bad-option');
      await expect(MqChannel.create(name, { ...small, ...options }), JSON.stringify(options)).rejects.toThrow();
      expect(exists(`${name}.0`) || exists(`${name}.1`), JSON.stringify(options)).toBe(false);
      if ('peerCheckInterval' in options) continue; // a channel's option: a queue has no peer
      await expect(TypedMessageQueue.create(name, { ...small, ...options }), JSON.stringify(options)).rejects.toThrow();
      expect(exists(name), JSON.stringify(options)).toBe(false);
    }
  });
});

describe('queues this process owns are in core registry', () => {
  it('registers on create and unregisters on close; unlinkOwnedKernelObjects removes what was not closed', async () => {
    const name = queueName('registry');
    const mine = (): string[] =>
      ownedKernelObjects()
        .filter((o) => o.kind === 'mq' && o.name.startsWith(name))
        .map((o) => o.name)
        .sort();
    const channel = await MqChannel.create(name, small);
    expect(mine()).toEqual([`${name}.0`, `${name}.1`]);
    await channel.close();
    expect(mine()).toEqual([]);
    const q = await MessageQueue.create(name, { ...small });
    expect(mine()).toEqual([name]);
    await q.close();
    const left = await MqChannel.create(`${name}x`, small);
    await unlinkOwnedKernelObjects();
    expect(exists(name) || exists(`${name}x.0`) || exists(`${name}x.1`)).toBe(false);
    await left.close();
  });

  it('a creator killed by SIGTERM leaves its queues; the next create takes them over', async () => {
    const name = queueName('sigterm');
    const child = spawnCode(`import { MqChannel } from '@ipcx/mq';
      await MqChannel.create(${JSON.stringify(name)}, { capacity: 4, maxMessageBytes: 64 }); process.stdout.write('ready\\n'); setInterval(() => {}, 1e6);`);
    expect(await childLines(child).next()).toBe('ready');
    await killChild(child, 'SIGTERM');
    expect(exists(`${name}.0`) && exists(`${name}.1`)).toBe(true);
    await expect(MqChannel.create(name, small)).rejects.toMatchObject({ code: 'IPCX_ERR_ALREADY_EXISTS' }); // exclusive by default
    const again = await MqChannel.create(name, { ...small, exclusive: false });
    const other = await MqChannel.open(name);
    await again.send('fresh');
    expect(await other.receive({ timeout: 1000 })).toBe('fresh');
    await other.close();
    await again.close();
    expect(exists(`${name}.0`) || exists(`${name}.1`)).toBe(false);
  });
});
