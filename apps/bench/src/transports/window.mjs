// Flow control for the built-ins that have none of their own (postMessage, BroadcastChannel, process.send):
// the sender keeps at most WINDOW messages unacknowledged, the receiver acknowledges every ACK_EVERY
// messages with its running count. Without it these rows would win by queueing without bound.

export const WINDOW = 256;
export const ACK_EVERY = WINDOW / 2;

/** `post(payload)` n times per `sendN`, never more than WINDOW ahead of the last acknowledged count. */
export function windowedSender(post, payload) {
  let sent = 0;
  let acked = 0;
  let wake;
  return {
    /** Call with each acknowledgement (the receiver's running count). */
    ack(count) {
      acked = count;
      if (wake !== undefined && sent - acked < WINDOW) {
        const resume = wake;
        wake = undefined;
        resume();
      }
    },
    async sendN(n) {
      const end = sent + n;
      while (sent < end) {
        if (sent - acked >= WINDOW) {
          await new Promise((resolve) => (wake = resolve));
          continue;
        }
        post(payload);
        sent++;
      }
    },
  };
}

/** Counts arrivals (`arrived()` from the message listener), acknowledges, and resolves `receiveN`. */
export function windowedReceiver(sendAck) {
  let count = 0;
  let target = 0;
  let done;
  return {
    arrived() {
      count++;
      if (count % ACK_EVERY === 0) sendAck(count);
      if (count === target && done !== undefined) {
        const finish = done;
        done = undefined;
        finish();
      }
    },
    // Counts are cumulative: messages that overtake the control message asking for them still count.
    receiveN(n) {
      target += n;
      return count >= target ? Promise.resolve() : new Promise((resolve) => (done = resolve));
    },
  };
}

/** The resolver of the reply a round trip waits for. */
export function replySlot() {
  let resolve;
  return {
    wait: () => new Promise((r) => (resolve = r)),
    arrived() {
      const r = resolve;
      resolve = undefined;
      r?.();
    },
  };
}
