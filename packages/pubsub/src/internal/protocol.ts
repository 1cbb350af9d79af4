/**
 * The messages on a topic's socket (msgpack, framed by `@ipcx/sockets`). Values never travel here: they are in
 * shared memory. Publisher to subscriber:
 * - hello: sent once on connect: the current generation and the subscriber's parked-word slot;
 * - gen:   the topic moved to a new generation (sent to every subscriber);
 * - bye:   the publisher closes gracefully (an end of stream without it means the publisher died).
 * New revisions are not announced here: sleeping subscribers are woken through a futex in the segment (see
 * `layout.ts`), which measured about twice as fast as a socket message. The other writers of a
 * `writers: 'locked'` topic send `wrote` after each write (the publisher then clears parked words it knows).
 */
export type PublisherMessage =
  | { t: 'hello'; generation: number; slot: number; revision: number }
  | { t: 'gen'; generation: number }
  | { t: 'bye' };

export type SubscriberMessage = { t: 'wrote'; revision: number };
