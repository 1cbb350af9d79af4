// A pool thread of the job process: the work is a hash iterated `rounds` times.
import { createHash } from 'node:crypto';
import { servePool } from '@ipcx/cluster';

servePool(({ input, rounds }) => {
  let digest = Buffer.from(input);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return { digest: digest.toString('hex').slice(0, 16) };
});
