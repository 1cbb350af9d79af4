import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

// Idle waiter threads wait on a condition variable; if it were destroyed at exit(), glibc would wait
// for them (30 s, their idle timeout) and the process would hang after its last line.
it('lets a process exit right after its futex waits are done', async () => {
  const script = `
    const { futex } = await import('@ipcx/native');
    const i32 = new Int32Array(new SharedArrayBuffer(8));
    i32[0] = 1;
    const waiting = futex.waitAsync(i32, 0, 1, 5000);
    // Notify once the waiter thread sleeps in the kernel (notify says it woke one), not after a guess.
    let woken = 0;
    while (woken === 0) { await new Promise((r) => setImmediate(r)); woken = futex.notify(i32, 0); }
    console.log(await waiting);
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url).pathname,
    timeout: 10_000,
  });
  expect(stdout.trim()).toBe('ok');
});
