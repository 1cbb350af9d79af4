import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { exitOf, killTrackedChildren } from '@ipcx/core/testing';
import { describeNats, natsServer, uniqueName } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// A wait with a timeout keeps its process alive until it settles (else exit code 13 with a pending await), and
// no longer: each wait below that ends early has a day of timeout left, which must not keep the child running.
describeNats('waits with a timeout in a process that has nothing else to do', () => {
  const server = natsServer();
  afterEach(killTrackedChildren);

  it('NatsChannel.connect and NatsPublisher.publish: a timeout ends in TimeoutError, a wait that settled lets the process exit', async () => {
    const script = `
      import { NatsChannel, NatsChannelServer, NatsPublisher } from '@ipcx/nats';
      const DAY = 86400000;
      const servers = ${JSON.stringify(server().url)};
      const subject = ${JSON.stringify(uniqueName('exit'))};
      const listener = await NatsChannelServer.listen(subject, { servers });
      const client = await NatsChannel.connect(subject, { servers, timeout: DAY });
      const end = await listener.accept({ timeout: DAY });
      await client.send('ping', { timeout: DAY });
      const got = await end.receive({ timeout: DAY });
      const late = await client.receive({ timeout: 200 }).then(() => 'a message', (error) => error.code);
      const publisher = await NatsPublisher.create(${JSON.stringify(uniqueName('exit'))}, { servers, timeout: DAY });
      const revision = await publisher.publish('v', { timeout: DAY });
      console.log(got, late, revision);
      await publisher.close();
      await client.close();
      await end.close();
      await listener.close();
    `;
    expect(await exitOf(script, { cwd: packageDir })).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'ping IPCX_ERR_TIMEOUT 1\n',
    });
  });
});
