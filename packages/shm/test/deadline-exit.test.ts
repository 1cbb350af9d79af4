import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOf, killTrackedChildren } from '@ipcx/core/testing';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
afterEach(killTrackedChildren);

// A wait with a timeout keeps its process alive until it settles (else exit code 13 with a pending await), and
// no longer: the first wait below settles early with a day of timeout left, which must not keep the child running.
describe('SharedState.changed in a process that has nothing else to do', () => {
  it('a timeout ends in TimeoutError, and a wait that settled early lets the process exit', async () => {
    const script = `
      import { SharedState } from '@ipcx/shm';
      const DAY = 86400000;
      const state = new SharedState();
      const waiting = state.changed(state.get().version, { timeout: DAY });
      state.set('next');
      const version = await waiting;
      const late = await state.changed(version, { timeout: 200 }).then(() => 'a change', (error) => error.code);
      console.log(version, late);
      await state.close();
    `;
    expect(await exitOf(script, { cwd: packageDir, ms: 20_000 })).toMatchObject({
      code: 0,
      stderr: '',
      stdout: '1 IPCX_ERR_TIMEOUT\n',
    });
  });
});
