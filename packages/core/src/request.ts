import type { Channel, WaitOptions } from './channel.js';
import { AbortedError, ClosedError, RemoteError, isIpcError, type IpcError } from './errors.js';
import { WaitList } from './inbox.js';
import { waitFor, type Settle } from './wait.js';

/**
 * Request/response over any duplex channel. On the wire every message is a 3-element array, so a
 * peer in another language can take part:
 *
 * - request:  `[0, id, body]`
 * - response: `[1, id, body]`
 * - failure:  `[2, id, { name, message, code? }]`
 *
 * `id` is a positive integer chosen by the requester, unique among its requests in flight.
 * A channel used for requests carries only these messages in that direction.
 */
const REQUEST = 0;
const RESPONSE = 1;
const FAILURE = 2;

type Envelope = [number, number, unknown];

function isEnvelope(value: unknown): value is Envelope {
  return Array.isArray(value) && value.length === 3 && typeof value[0] === 'number' && typeof value[1] === 'number';
}

/** What a request handler is given besides the request. */
export interface RequestContext {
  /** Aborted when `serve` stops (channel closed or its signal aborted). */
  signal: AbortSignal;
}

/** Handles one request; may be async. What it throws reaches the requester as `RemoteError`. */
export type RequestHandler<Req = unknown, Res = unknown> = (
  request: Req,
  context: RequestContext,
) => Res | Promise<Res>;

/** Options of `serve`. */
export interface ServeOptions {
  /** Stops serving; requests being handled see their context signal abort. */
  signal?: AbortSignal;
  /** Requests handled at once; further requests wait in the channel. Default 64. */
  concurrency?: number;
  /**
   * Told, once each, about a message the channel could not read (skipped) and about the error that ended
   * serving when the peer went (it left, reset the connection, sent bytes that ended it). Serving a peer
   * that goes ends quietly: `serve` resolves, so `void serve(...)` never becomes an unhandled rejection.
   * An observer that throws is ignored.
   */
  onError?: (error: IpcError) => void;
}

/**
 * Answers requests arriving on `channel` with `handler`, many at once, until the channel closes, the peer
 * goes (it closed, died, reset the connection or sent bytes that ended it: told to `onError`) or `signal`
 * aborts. Resolves then. Rejects only for a failure of this end that is not the peer's doing (an OS error).
 *
 * @example
 * ```ts
 * void serve(channel, async ({ a, b }) => a + b);
 * ```
 */
// `Req = any`: requests arrive untyped off the wire, and a handler that destructures its argument without a
// type (`async ({ a, b }) => a + b`, as in the README) gives TypeScript nothing to infer from; with `unknown`
// strict TypeScript rejects it (TS2345). Annotate the handler's parameter to check the request's shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function serve<Req = any, Res = unknown>(
  channel: Channel<unknown>,
  handler: RequestHandler<Req, Res>,
  options: ServeOptions = {},
): Promise<void> {
  const concurrency = options.concurrency ?? 64;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer >= 1`);
  const onError = options.onError;
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function');
  const tell = (error: IpcError): void => {
    try {
      onError?.(error);
    } catch {
      // an observer must not stop serving
    }
  };
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const slots = new WaitList();
  let active = 0;

  const answer = async (id: number, body: unknown): Promise<void> => {
    let reply: Envelope;
    try {
      reply = [RESPONSE, id, await handler(body as Req, { signal })];
    } catch (error) {
      reply = failure(id, error);
    }
    try {
      try {
        await channel.send(reply, { signal });
      } catch (error) {
        // A reply the channel refuses (too large, not encodable) still owes the requester an answer.
        if (reply[0] === RESPONSE && !endsServing(error)) await channel.send(failure(id, error), { signal });
      }
    } catch {
      // The channel closed or serving stopped: the requester learns it from its own channel.
    } finally {
      active--;
      slots.wakeOne();
    }
  };

  try {
    for (;;) {
      if (active >= concurrency) await slots.wait('serve', { signal });
      let message: unknown;
      try {
        message = await channel.receive({ signal });
      } catch (error) {
        if (!isIpcError(error)) throw error;
        if (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_ABORTED') return;
        tell(error);
        // The peer went, or its bytes ended the connection: this connection is over, not the process.
        if (error.code === 'IPCX_ERR_PEER_GONE' || channel.closed) return;
        // One message the codec cannot read (a foreign peer's bytes) is skipped, not the end of serving.
        if (error.code === 'IPCX_ERR_BAD_FRAME') continue;
        throw error;
      }
      if (!isEnvelope(message) || message[0] !== REQUEST) continue;
      active++;
      void answer(message[1], message[2]);
    }
  } catch (error) {
    if (isIpcError(error) && error.code === 'IPCX_ERR_ABORTED') return;
    throw error;
  } finally {
    stop.abort();
  }
}

/** The failure envelope that carries `error` to the requester. */
function failure(id: number, error: unknown): Envelope {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return [FAILURE, id, { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) }];
}

/** Errors after which no reply can go out at all. */
function endsServing(error: unknown): boolean {
  return (
    isIpcError(error) &&
    (error.code === 'IPCX_ERR_CLOSED' || error.code === 'IPCX_ERR_ABORTED' || error.code === 'IPCX_ERR_PEER_GONE')
  );
}

class Requester {
  #nextId = 1;
  readonly #pending = new Map<number, Settle<unknown>>();
  #running = false;
  #receiving: AbortController | undefined;

  constructor(private readonly channel: Channel<unknown>) {}

  async request(body: unknown, options?: WaitOptions): Promise<unknown> {
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0x7fff_ffff ? 1 : this.#nextId + 1;
    const reply = waitFor<unknown>('request', options, (settle) => {
      this.#pending.set(id, settle);
      return () => {
        this.#pending.delete(id);
        // Nobody waits any more: stop the receive so that the channel is free again.
        if (this.#pending.size === 0) this.#receiving?.abort();
      };
    });
    try {
      await this.channel.send([REQUEST, id, body], options);
    } catch (error) {
      this.#pending.get(id)?.reject(error);
      this.#pending.delete(id);
      return reply;
    }
    if (!this.#running) void this.#run();
    return reply;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      // One controller for every receive until one is aborted: on Node 20 a new AbortSignal with a listener
      // costs about 12 µs, as much as the rest of a request over shared memory.
      let receiving = new AbortController();
      while (this.#pending.size > 0) {
        if (receiving.signal.aborted) receiving = new AbortController();
        this.#receiving = receiving;
        let message: unknown;
        try {
          message = await this.channel.receive({ signal: receiving.signal });
        } catch (error) {
          if (error instanceof AbortedError && receiving.signal.aborted) continue;
          for (const settle of this.#pending.values()) settle.reject(error);
          this.#pending.clear();
          return;
        }
        if (!isEnvelope(message) || (message[0] !== RESPONSE && message[0] !== FAILURE)) continue;
        const [kind, id, body] = message;
        const settle = this.#pending.get(id);
        if (settle === undefined) continue; // a late reply to a request that timed out
        this.#pending.delete(id);
        if (kind === RESPONSE) {
          settle.resolve(body);
        } else if (kind === FAILURE) {
          const { name, message: text, code } = (body ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
          settle.reject(
            new RemoteError(
              String(text ?? 'request failed'),
              String(name ?? 'Error'),
              typeof code === 'string' ? code : undefined,
            ),
          );
        }
      }
    } finally {
      this.#running = false;
      this.#receiving = undefined;
    }
  }
}

const requesters = new WeakMap<Channel<unknown>, Requester>();

/**
 * Sends `message` as a request over `channel` and resolves with the response. Many requests may be
 * in flight on one channel; responses are matched by id. A handler's error rejects with
 * `RemoteError`; `{ timeout, signal }` end the wait (a late response is then dropped).
 *
 * @example
 * ```ts
 * const sum = await request<number>(channel, { a: 1, b: 2 }, { timeout: 1000 });
 * ```
 */
export function request<Res = unknown>(
  channel: Channel<unknown>,
  message: unknown,
  options?: WaitOptions,
): Promise<Res> {
  if (channel.closed) return Promise.reject(new ClosedError());
  let requester = requesters.get(channel);
  if (requester === undefined) {
    requester = new Requester(channel);
    requesters.set(channel, requester);
  }
  return requester.request(message, options) as Promise<Res>;
}
