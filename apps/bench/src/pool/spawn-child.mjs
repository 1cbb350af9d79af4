// Spawn-to-first-message: the child's side. MODE=ipcx sends its first message over connectToParent's
// channel; MODE=node through Node's own channel (parentPort.postMessage or process.send).
import { isMainThread, parentPort } from 'node:worker_threads';

if (process.env.MODE === 'ipcx' || (!isMainThread && (await import('node:worker_threads')).workerData === 'ipcx')) {
  const { connectToParent } = await import('@ipcx/cluster');
  const channel = await connectToParent();
  await channel.send('hello');
  await channel.receive().catch(() => {});
  await channel.close();
} else if (!isMainThread) {
  parentPort?.postMessage('hello');
} else {
  process.send?.('hello', () => process.disconnect());
}
