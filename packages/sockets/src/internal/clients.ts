import {
  ClosedError,
  PermissionError,
  TooLargeError,
  copyBytes,
  type Codec,
  type IpcError,
  type WaitOptions,
} from '@ipcx/core';
import { Inbox, fromSystemError, iterate } from '@ipcx/core/transport';
import { checkInteger } from '@ipcx/core/transport';
import { observeEnd } from './observe-end.js';

interface Client {
  readonly closed: boolean;
  close(): Promise<void>;
  destroy(error?: IpcError): void;
  sendEncoded(payload: Uint8Array, options?: WaitOptions): Promise<void>;
  [observeEnd](observer: (error: IpcError) => void): void;
}

/** The admission options every server takes (`UnixServer`, `TcpServer`, `SeqPacketServer`). */
export interface AdmissionOptions<C> {
  /** Connections held at once (accepted or waiting for `accept`); more are closed at once. Default 1024. */
  maxClients?: number | undefined;
  /** The kernel's queue of connections not yet accepted (listen(2) backlog). Default 511. */
  backlog?: number | undefined;
  /** Told about every connection the server refused (not authorized, over `maxClients`, failed handshake). */
  onRefuse?: ((error: IpcError) => void) | undefined;
  /**
   * Told once for each client whose connection ended with an error rather than a clean close: it went away
   * (`PeerGoneError`: reset, killed), sent bytes that are not messages (`BadFrameError`), announced too large
   * a message (`TooLargeError`) or overran the server's budget (`LimitError`). Such a client costs its own
   * connection and this one event; `for await` over it ends quietly. An observer that throws is ignored.
   */
  onClientError?: ((error: IpcError, client: C) => void) | undefined;
}

/** Checks `maxClients` and `backlog`. */
export function serverLimits(options: AdmissionOptions<never>): { maxClients: number; backlog: number } {
  return {
    maxClients: checkInteger('maxClients', options.maxClients, { default: 1024, min: 1 }),
    backlog: checkInteger('backlog', options.backlog, { default: 511, min: 0, max: 0x7fffffff }),
  };
}

/** Calls an observer; an observer that throws must not take the server down. */
function tell<A extends unknown[]>(observer: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    observer?.(...args);
  } catch {
    // ignored on purpose
  }
}

/** How a server vets one connection: who the peer is (throws to refuse), what to drop, what to make of it. */
export interface Admission<P, C> {
  /** What is known about the peer (credentials, address) once `authorize` allowed it; throws to refuse. */
  vet(): P | Promise<P>;
  /** Closes a refused connection. */
  drop(): void;
  /** The channel of an admitted connection. */
  make(peer: P): C;
}

/**
 * The client bookkeeping and admission every server shares: the live clients (for `clients`, `broadcast`,
 * `close`), the accepted ones not yet handed out by `accept`, the `maxClients` bound (counting those being
 * vetted), `onRefuse` and `onClientError`.
 */
export class Clients<C extends Client> {
  readonly #all = new Set<C>();
  readonly #accepted = new Inbox<C>();
  readonly max: number;
  readonly #onRefuse: ((error: IpcError) => void) | undefined;
  // `any`: a parameter of type C would make a server invariant in its peer type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly #onClientError: ((error: IpcError, client: any) => void) | undefined;
  #admitting = 0;
  #closed = false;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(options: AdmissionOptions<any>) {
    if (options.onRefuse !== undefined && typeof options.onRefuse !== 'function')
      throw new TypeError('onRefuse must be a function');
    if (options.onClientError !== undefined && typeof options.onClientError !== 'function')
      throw new TypeError('onClientError must be a function');
    this.max = serverLimits(options).maxClients;
    this.#onRefuse = options.onRefuse;
    this.#onClientError = options.onClientError;
  }

  /** The live clients, oldest first. */
  get list(): C[] {
    return [...this.#all];
  }

  /**
   * Encodes `message` once and sends it to every live client; resolves to how many accepted it (a client that
   * is gone, closed or timed out is skipped). Over `max`: `TooLargeError`; after close: `ClosedError`.
   */
  async broadcast<T>(codec: Codec<T>, max: number, message: T, options?: WaitOptions): Promise<number> {
    if (this.#closed) throw new ClosedError('server');
    const payload = copyBytes(codec.encode(message));
    if (payload.length > max) throw new TooLargeError('message', payload.length, max);
    const results = await Promise.allSettled(this.list.map((client) => client.sendEncoded(payload, options)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /** Tells `onRefuse` about a connection the server could not take (e.g. accept(2) failed). */
  refused(error: IpcError): void {
    if (!this.#closed) tell(this.#onRefuse, error);
  }

  /**
   * Admits one connection: refused at once over `maxClients` (counting those being vetted) or after close;
   * otherwise vetted, then made a client that `accept` hands out.
   */
  async admit<P>(connection: Admission<P, C>): Promise<void> {
    if (this.#closed) return connection.drop();
    if (this.#all.size + this.#admitting >= this.max) {
      connection.drop();
      return this.refused(
        new PermissionError(`connection refused: the server holds its maximum of ${this.max} clients`),
      );
    }
    this.#admitting++;
    let peer: P;
    try {
      peer = await connection.vet();
      if (this.#closed) throw new ClosedError('server');
    } catch (error) {
      this.#admitting--;
      connection.drop();
      return this.refused(fromSystemError('admitting a connection', error));
    }
    this.#admitting--;
    const client = connection.make(peer);
    const onClientError = this.#onClientError;
    if (onClientError !== undefined) client[observeEnd]((error) => tell(onClientError, error, client));
    this.#all.add(client);
    this.#accepted.push(client);
  }

  /** A client's connection is gone. */
  remove(client: C): void {
    this.#all.delete(client);
  }

  /** The next accepted client. */
  accept(options?: WaitOptions): Promise<C> {
    if (this.#closed) return Promise.reject(new ClosedError('server'));
    return this.#accepted.receive('accept', options);
  }

  /** Yields clients as `accept` does, until the server closes. */
  iterate(): AsyncIterator<C> {
    return iterate(() => this.accept());
  }

  /** Fails pending accepts and closes every client gracefully. */
  async closeAll(): Promise<void> {
    await Promise.all(this.#stop().map((client) => client.close()));
  }

  /** Fails pending accepts and destroys every client (`error`, default `ClosedError`, for their waits). */
  destroyAll(error?: IpcError): void {
    for (const client of this.#stop()) client.destroy(error);
  }

  #stop(): C[] {
    this.#closed = true;
    this.#accepted.fail(new ClosedError('server'));
    const all = [...this.#all];
    this.#all.clear();
    return all;
  }
}
