import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOf, killTrackedChildren } from '@ipcx/core/testing';
import { Publisher } from '../src/index.js';
import { leftovers, uniqueName } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const topic = uniqueName('exit');
afterEach(async () => {
  await killTrackedChildren();
  await Publisher.unlink(topic).catch(() => undefined);
  expect(leftovers(topic)).toEqual([]);
});

// A wait with a timeout keeps its process alive until it settles (else exit code 13 with a pending await), and
// no longer: each wait below that ends early has a day of timeout left, which must not keep the child running.
describe('waits with a timeout in a process that has nothing else to do', () => {
  it('Subscriber.open and next: a timeout ends in TimeoutError, a wait that settled lets the process exit', async () => {
    const script = `
      import { Publisher, Subscriber } from '@ipcx/pubsub';
      const DAY = 86400000;
      const publisher = await Publisher.create(${JSON.stringify(topic)});
      await publisher.publish('first');
      const subscriber = await Subscriber.open(${JSON.stringify(topic)}, { timeout: DAY });
      const { value } = await subscriber.next({ timeout: DAY });
      const late = await subscriber.next({ timeout: 200 }).then(() => 'a revision', (error) => error.code);
      console.log(value, late);
      await subscriber.close();
      await publisher.close();
    `;
    expect(await exitOf(script, { cwd: packageDir })).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'first IPCX_ERR_TIMEOUT\n',
    });
  });
});
