// Receive-path rows (issues 13 and 15): the same transport driven the ways users write their loops, so that
// a slow door shows beside the fast one. Each wraps a transport of the main rows (same channels, same
// options) and replaces only the loops on both ends:
//
// - `fast`:        trySend (await send when it returns false); tryReceive, await receive() when nothing waits
// - `receive`:     await send(); await receive()
// - `try-receive`: await send(); tryReceive(), then await receive() when nothing waits
// - `for-await`:   await send(); for await (const m of channel)
//
// Throughput: the sender and the receiver both use the row's path. Round trip: the client and the echo both do.
import { isEnded } from './channel.mjs';

export const PATHS = ['fast', 'receive', 'try-receive', 'for-await'];

export const PATH_NAMES = {
  fast: 'trySend / tryReceive (fast path)',
  receive: 'await receive()',
  'try-receive': 'tryReceive, then await receive()',
  'for-await': 'for await (const m of ch)',
};

/** The sender's step: trySend on the fast path, else `await send`. */
function sendStep(channel, path) {
  if (path === 'fast') return (m) => (channel.trySend(m) ? undefined : channel.send(m));
  return (m) => channel.send(m);
}

/**
 * The receiver's step: a function resolving to (or returning) the next message. `for-await` keeps one
 * iterator for the life of the channel, as a `for await` loop around the whole conversation does; each
 * step is the `next()` that loop calls, and resolves to its `IteratorResult` (see `received`), so that no
 * async function of the bench's own stands between the iterator and the loop.
 */
function receiveStep(channel, path) {
  if (path === 'receive') return () => channel.receive();
  if (path === 'for-await') {
    const iterator = channel[Symbol.asyncIterator]();
    return () => iterator.next();
  }
  return () => {
    const m = channel.tryReceive();
    return m === undefined ? channel.receive() : m;
  };
}

export function pathSender(channel, payload, path) {
  const send = sendStep(channel, path);
  return {
    async sendN(n) {
      for (let i = 0; i < n; i++) {
        const pending = send(payload);
        if (pending !== undefined) await pending;
      }
    },
  };
}

export function pathReceiver(channel, path) {
  if (path === 'for-await') {
    // The loop a user writes, literally: one `for await` over the whole run, counting to each target.
    let target = 0;
    /** @type {(() => void) | undefined} */
    let done;
    let count = 0;
    /** @type {unknown} */
    let failed;
    const loop = (async () => {
      for await (const _ of channel) {
        if (++count === target && done) {
          const finish = done;
          done = undefined;
          finish();
        }
      }
    })().catch((error) => {
      failed = error;
      done?.();
    });
    return {
      loop,
      receiveN(n) {
        target += n;
        if (failed) return Promise.reject(failed);
        return count >= target
          ? Promise.resolve()
          : new Promise((resolve) => (done = () => resolve(undefined))).then(() => {
              if (failed) throw failed;
            });
      },
    };
  }
  const receive = receiveStep(channel, path);
  return {
    async receiveN(n) {
      for (let i = 0; i < n; i++) {
        const m = receive();
        if (m instanceof Promise) await m;
      }
    },
  };
}

/** What a step resolved to: on `for-await`, the iterator's result, which must not be the end. */
function received(result, path) {
  if (path === 'for-await' && result.done) throw Object.assign(new Error('channel ended'), { code: 'IPCX_ERR_CLOSED' });
}

export function pathClient(channel, payload, path) {
  const send = sendStep(channel, path);
  const receive = receiveStep(channel, path);
  const roundTrip = async () => {
    const pending = send(payload);
    if (pending !== undefined) await pending;
    const m = receive();
    received(m instanceof Promise ? await m : m, path);
  };
  return {
    roundTrip,
    async timeRoundTrips(latencies, count) {
      for (let i = 0; i < count; i++) {
        const t = process.hrtime.bigint();
        const pending = send(payload);
        if (pending !== undefined) await pending;
        const m = receive();
        received(m instanceof Promise ? await m : m, path);
        latencies[i] = Number(process.hrtime.bigint() - t);
      }
    },
  };
}

export function pathEcho(channel, path) {
  return {
    async run() {
      try {
        if (path === 'for-await') {
          for await (const m of channel) await channel.send(m);
        } else {
          const send = sendStep(channel, path);
          const receive = receiveStep(channel, path);
          for (;;) {
            let m = receive();
            if (m instanceof Promise) m = await m;
            const pending = send(m);
            if (pending !== undefined) await pending;
          }
        }
      } catch (error) {
        if (!isEnded(error)) throw error;
      }
      await channel.close();
    },
  };
}

/**
 * `base` driven on `path`: its set-up and close (which expose the channel as `channel`), with these loops.
 * The ends of the for-await receiver end their loop when the channel closes.
 */
export function withPath(base, path) {
  return {
    async sender(ctx) {
      const b = await base.sender(ctx);
      return { ...pathSender(b.channel, ctx.payload, path), close: b.close };
    },
    async client(ctx) {
      const b = await base.client(ctx);
      return { ...pathClient(b.channel, ctx.payload, path), close: b.close };
    },
    async receiver(ctx) {
      const b = await base.receiver(ctx);
      const r = pathReceiver(b.channel, path);
      return {
        receiveN: r.receiveN,
        ready: b.ready,
        async close() {
          await b.close();
          await r.loop;
        },
      };
    },
    async echo(ctx) {
      const b = await base.echo(ctx);
      return { ...pathEcho(b.channel, path), ready: b.ready, stop: b.stop };
    },
  };
}
