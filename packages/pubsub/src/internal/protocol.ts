/**
 * The messages on a topic's socket (msgpack, framed by `@ipcx/sockets`). Values never travel here: they are in
 * shared memory. Publisher to subscriber:
 * - hello: sent once on connect: the current generation and the subscriber's parked-word slot;
 * - rev:   a new revision (sent only to a subscriber whose parked word was set: see `layout.ts`);
 * - gen:   the topic moved to a new generation (sent to every subscriber);
 * - bye:   the publisher closes gracefully (an end of stream without it means the publisher died).
 * A writer of a `writers: 'locked'` topic sends `wrote` to the publisher after each write, so that it notifies.
 */
export type PublisherMessage =
  | { t: 'hello'; generation: number; slot: number; revision: number }
  | { t: 'rev'; revision: number }
  | { t: 'gen'; generation: number }
  | { t: 'bye' };

export type SubscriberMessage = { t: 'wrote'; revision: number };
