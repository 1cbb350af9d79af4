// The loops of every ipcx row: any `Channel` (send/trySend/receive/tryReceive/close) is driven the way a
// user drives it, so that rows differ only in the transport underneath.

/** The error codes that mean "the other end is gone", which end an echo loop. */
const ENDED = new Set(['IPCX_ERR_CLOSED', 'IPCX_ERR_PEER_GONE']);

export function isEnded(error) {
  return ENDED.has(error?.code);
}

/**
 * One-way sender: `trySend` in a loop, awaiting `send` only when it returns false (the transport's own
 * bound: ring, queue depth, high-water mark, kernel buffer).
 */
export function channelSender(channel, payload) {
  return {
    channel,
    async sendN(n) {
      for (let i = 0; i < n; i++) if (!channel.trySend(payload)) await channel.send(payload);
    },
    close: () => channel.close(),
  };
}

/**
 * Round trips as a client writes them: `await send`, then `await receive` (the default wait policy).
 * `timeRoundTrips` is that loop with a clock read around each round trip, as the C programs time theirs;
 * calling `roundTrip()` once per round trip would add the promise of an async function to every one.
 */
export function channelClient(channel, payload) {
  return {
    channel,
    async roundTrip() {
      await channel.send(payload);
      await channel.receive();
    },
    async timeRoundTrips(latencies, count) {
      for (let i = 0; i < count; i++) {
        const t = process.hrtime.bigint();
        await channel.send(payload);
        await channel.receive();
        latencies[i] = Number(process.hrtime.bigint() - t);
      }
    },
    close: () => channel.close(),
  };
}

/**
 * One-way receiver: `tryReceive` while messages wait, `await receive` when none does. With `bytes`, the
 * channel's zero-copy `tryReceiveBytes` takes the place of `tryReceive` (ShmChannel, raw payloads).
 */
export function channelReceiver(channel, { bytes = false } = {}) {
  return {
    channel,
    async receiveN(n) {
      if (bytes) {
        for (let i = 0; i < n; i++) if (channel.tryReceiveBytes() === undefined) await channel.receive();
      } else {
        for (let i = 0; i < n; i++) if (channel.tryReceive() === undefined) await channel.receive();
      }
    },
    close: () => channel.close(),
  };
}

/** Echo: sends back every message received until the channel ends. */
export function channelEcho(channel) {
  return {
    channel,
    async run() {
      try {
        for (;;) await channel.send(await channel.receive());
      } catch (error) {
        if (!isEnded(error)) throw error;
      }
      // Close at once when the bench's end went away (a stream channel's close waits for this end's FIN).
      await channel.close();
    },
    stop: () => channel.close(),
  };
}
