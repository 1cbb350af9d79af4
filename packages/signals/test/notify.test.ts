import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FdWatcher, socket, type SocketAddress } from '@ipcx/native';

import { notify, notifySocket, sdNotify, startWatchdog, watchdogInterval } from '../src/index.js';
import { defer, fixture, uniqueName, within } from './helpers.js';

/** A datagram socket standing in for systemd: collects every datagram sent to it. */
function fakeSystemd(address: SocketAddress) {
  const fd = socket('dgram');
  socket.bind(fd, address);
  const got: string[] = [];
  const waiters: { match: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  const buf = new Uint8Array(4096);
  const watcher = new FdWatcher(fd, () => {
    for (;;) {
      let length: number;
      try {
        ({ length } = socket.receive(fd, buf));
      } catch (error) {
        if ((error as { code?: string }).code === 'EAGAIN') return;
        throw error;
      }
      const message = Buffer.from(buf.subarray(0, length)).toString();
      got.push(message);
      for (const w of [...waiters]) if (w.match(message)) waiters.splice(waiters.indexOf(w), 1), w.resolve(message);
    }
  });
  watcher.start({ readable: true });
  defer(() => {
    watcher.close();
    socket.close(fd);
    if (typeof address === 'string') rmSync(address, { force: true });
  });
  return {
    got,
    next: (match: (m: string) => boolean) =>
      within(
        new Promise<string>((resolve) => {
          const seen = got.find(match);
          if (seen !== undefined) resolve(seen);
          else waiters.push({ match, resolve });
        }),
        10_000,
        'notification',
      ),
  };
}

describe('systemd notify protocol', () => {
  it('sends READY, STATUS, RELOADING, STOPPING and WATCHDOG to a socket path', async () => {
    const path = join(tmpdir(), uniqueName('notify'));
    const systemd = fakeSystemd(path);
    const env = { NOTIFY_SOCKET: path };
    expect(notify({ ready: true, status: 'serving' }, { env })).toBe(true);
    expect(notify({ reloading: true }, { env })).toBe(true);
    expect(sdNotify('STOPPING=1', { env })).toBe(true);
    expect(notify({ watchdog: true, mainPid: 1234, extra: ['X_CUSTOM=1'] }, { env })).toBe(true);
    await systemd.next((m) => m.startsWith('WATCHDOG'));
    expect(systemd.got[0]).toBe('STATUS=serving\nREADY=1');
    expect(systemd.got[1]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    expect(systemd.got[2]).toBe('STOPPING=1');
    expect(systemd.got[3]).toBe('WATCHDOG=1\nMAINPID=1234\nX_CUSTOM=1');
  });

  it('reaches an abstract socket named @name', async () => {
    const name = uniqueName('notify');
    const systemd = fakeSystemd({ abstract: name });
    expect(notifySocket({ env: { NOTIFY_SOCKET: `@${name}` } })).toEqual({ abstract: name });
    notify({ ready: true }, { env: { NOTIFY_SOCKET: `@${name}` } });
    expect(await systemd.next(() => true)).toBe('READY=1');
  });

  it('is a no-op without NOTIFY_SOCKET and refuses what it cannot send', () => {
    expect(notify({ ready: true }, { env: {} })).toBe(false);
    expect(startWatchdog({ env: { WATCHDOG_USEC: '1000000' } }).heartbeatInterval).toBe(0);
    expect(() => notify({ status: 'two\nlines' }, { env: {} })).toThrow(TypeError);
    expect(() => notify({}, { env: {} })).toThrow(TypeError);
    expect(() => notifySocket({ env: { NOTIFY_SOCKET: 'vsock:2:1234' } })).toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_UNSUPPORTED' }),
    );
    expect(() => notify({ ready: true }, { env: { NOTIFY_SOCKET: join(tmpdir(), uniqueName('nobody')) } })).toThrow(
      expect.objectContaining({ code: 'IPCX_ERR_NOT_FOUND' }),
    );
    expect(watchdogInterval({ env: { WATCHDOG_USEC: '2000000' } })).toBe(2000);
    expect(watchdogInterval({ env: { WATCHDOG_USEC: '2000000', WATCHDOG_PID: '1' } })).toBeUndefined();
    expect(watchdogInterval({ env: {} })).toBeUndefined();
  });

  it('a service started as systemd would: READY, watchdog pings at half WATCHDOG_USEC, STOPPING on SIGTERM', async () => {
    const path = join(tmpdir(), uniqueName('notify'));
    const systemd = fakeSystemd(path);
    const service = fixture('notify.mjs', [], {
      env: { ...process.env, NOTIFY_SOCKET: path, WATCHDOG_USEC: '200000' },
    });
    expect(await service.line('watchdog')).toBe('watchdog 100');
    expect(await systemd.next((m) => m.includes('READY=1'))).toBe('STATUS=serving\nREADY=1');
    await systemd.next((m) => m === 'WATCHDOG=1');
    const pings = () => systemd.got.filter((m) => m === 'WATCHDOG=1').length;
    const before = pings();
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => pings() > before && (clearInterval(t), resolve()), 20);
      }),
      10_000,
      'another ping',
    );
    service.child.kill('SIGTERM');
    expect(await systemd.next((m) => m.includes('STOPPING=1'))).toBe('STATUS=shutting down (SIGTERM)\nSTOPPING=1');
    expect((await within(service.exited, 10_000, 'exit')).code).toBe(0);
  });
});
