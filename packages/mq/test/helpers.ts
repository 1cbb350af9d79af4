import { MessageQueue } from '@ipcx/mq';
import { uniqueName } from '@ipcx/core/testing';

const made: string[] = [];

/** A unique queue name for one test, unlinked by `unlinkAll` (with its duplex '.0' and '.1'). */
export function queueName(what: string): string {
  const name = `/${uniqueName(what)}`;
  made.push(name, `${name}.0`, `${name}.1`);
  return name;
}

/** Unlinks every queue the test made; call from afterEach so that it runs when a test fails too. */
export async function unlinkAll(): Promise<void> {
  for (const name of made.splice(0)) await MessageQueue.unlink(name);
}
