import { isMainThread } from 'node:worker_threads';
import { connectToParent, spawnWorker } from '@ipcx/cluster';

if (isMainThread) {
  // This file again, as a worker thread with a channel already connected to it.
  const { channel } = await spawnWorker(new URL(import.meta.url));
  await channel.send({ n: 21 });
  console.log(await channel.receive({ timeout: 5000 })); // { doubled: 42 }
  await channel.close(); // the worker's loop ends, and so does the worker
} else {
  const parent = await connectToParent();
  for await (const { n } of parent) await parent.send({ doubled: n * 2 });
}
