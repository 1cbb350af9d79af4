// System V rows beside their POSIX counterparts: SysvChannel (one private queue, a pair of types) beside
// MqChannel, and semaphore ping-pongs, SysvSemaphoreSet beside @ipcx/native's POSIX semaphore. A semaphore
// carries no payload: "messages" are units, with the eventfd row's window for throughput (at most 256
// unacknowledged, acknowledged every 128). Objects are private (IPC_PRIVATE) or uniquely named, made by the
// bench's end and handed to the peer by id or name.
import { msgpackCodec, rawCodec } from '@ipcx/core';
import { SysvChannel, sysvMaxMessageBytes } from '@ipcx/mq';
import { sem } from '@ipcx/native';
import { SysvSemaphoreSet } from '@ipcx/shm';
import { channelClient, channelEcho, channelReceiver, channelSender } from './channel.mjs';
import { issueSysv, uniqueName } from './names.mjs';

const codecOf = (kind) => (kind === 'raw' ? rawCodec : msgpackCodec);
const WINDOW = 256;

/** A message above the kernel's msgmax is a limit of the mechanism, reported as "not measured". */
function checkFits(bytes) {
  const max = sysvMaxMessageBytes();
  if (bytes > max)
    throw Object.assign(new Error(`a ${bytes}-byte message is above msgmax (${max} bytes, /proc/sys/kernel/msgmax)`), {
      code: 'IPCX_ERR_LIMIT',
    });
}

export const sysvMq = {
  async sender({ kind, payload, bytes, peer }) {
    checkFits(bytes);
    const channel = await SysvChannel.create({ codec: codecOf(kind) });
    issueSysv('msg', channel.queue.id);
    try {
      await peer.setup('throughput', { id: channel.queue.id });
    } catch (error) {
      await channel.close();
      throw error;
    }
    return channelSender(channel, payload);
  },
  async client({ kind, payload, bytes, peer }) {
    checkFits(bytes);
    const channel = await SysvChannel.create({ codec: codecOf(kind) });
    issueSysv('msg', channel.queue.id);
    try {
      await peer.setup('rtt', { id: channel.queue.id });
    } catch (error) {
      await channel.close();
      throw error;
    }
    return channelClient(channel, payload);
  },
  async receiver({ kind, params }) {
    return channelReceiver(await SysvChannel.open({ id: params.id, codec: codecOf(kind) }));
  },
  async echo({ kind, params }) {
    return channelEcho(await SysvChannel.open({ id: params.id, codec: codecOf(kind) }));
  },
};

/** The two ends of a semaphore row over four counters: 0 there, 1 back, 2 data, 3 credit. */
function semaphoreRow(make, attach) {
  return {
    async sender({ peer }) {
      const s = await make();
      await peer.setup('throughput', s.params);
      let sent = 0;
      let acked = 0;
      return {
        async sendN(n) {
          for (let i = 0; i < n; i++) {
            if (sent - acked >= WINDOW) {
              await s.take(3, WINDOW / 2);
              acked += WINDOW / 2;
            }
            s.give(2, 1);
            sent++;
          }
        },
        close: () => s.close(),
      };
    },
    async client({ peer }) {
      const s = await make();
      await peer.setup('rtt', s.params);
      return {
        async roundTrip() {
          s.give(0, 1);
          await s.take(1, 1);
        },
        async timeRoundTrips(latencies, count) {
          for (let i = 0; i < count; i++) {
            const t = process.hrtime.bigint();
            s.give(0, 1);
            await s.take(1, 1);
            latencies[i] = Number(process.hrtime.bigint() - t);
          }
        },
        close: () => s.close(),
      };
    },
    async receiver({ params }) {
      const s = await attach(params);
      let received = 0;
      return {
        async receiveN(n) {
          for (let i = 0; i < n; i++) {
            await s.take(2, 1);
            if (++received % (WINDOW / 2) === 0) s.give(3, WINDOW / 2);
          }
        },
        close: () => s.close(),
      };
    },
    async echo({ params }) {
      const s = await attach(params);
      const stop = new AbortController();
      return {
        async run() {
          try {
            for (;;) {
              await s.take(0, 1, stop.signal);
              s.give(1, 1);
            }
          } catch (error) {
            if (!stop.signal.aborted && error?.code !== 'IPCX_ERR_CLOSED' && error?.code !== 'IPCX_ERR_ABORTED')
              throw error;
          }
        },
        stop: async () => {
          stop.abort();
          await s.close();
        },
      };
    },
  };
}

/** A System V set of 4: `take` is op(-n), awaited (a waiter thread only when it must wait); `give` is tryOp(+n). */
function sysvSemEnds(set) {
  return {
    params: { id: set.id },
    give: (index, n) => set.tryOp([{ index, delta: n }]),
    take: (index, n, signal) =>
      set.tryOp([{ index, delta: -n }]) ? undefined : set.op([{ index, delta: -n }], signal ? { signal } : undefined),
    close: () => set.close(),
  };
}

export const sysvSem = semaphoreRow(
  async () => {
    const set = await SysvSemaphoreSet.create({ count: 4 });
    issueSysv('sem', set.id);
    return sysvSemEnds(set);
  },
  async ({ id }) => sysvSemEnds(await SysvSemaphoreSet.open({ id })),
);

/** Four named POSIX semaphores: `take` is tryWait or waitAsync per unit, `give` is post per unit. */
function posixSemEnds(names, owner) {
  const sems = names.map((name) => sem.open(name, { create: owner, value: 0 }));
  return {
    params: { names },
    give: (index, n) => {
      for (let k = 0; k < n; k++) sems[index].post();
    },
    async take(index, n, signal) {
      for (let k = 0; k < n; k++)
        if (!sems[index].tryWait()) await sems[index].waitAsync(undefined, signal ? { signal } : {});
    },
    close: async () => {
      for (const s of sems) s.close();
      if (owner)
        for (const name of names)
          try {
            sem.unlink(name);
          } catch {}
    },
  };
}

export const posixSem = semaphoreRow(
  async () =>
    posixSemEnds(
      [0, 1, 2, 3].map((i) => uniqueName(`sem${i}`)),
      true,
    ),
  async ({ names }) => posixSemEnds(names, false),
);
