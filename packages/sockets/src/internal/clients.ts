import { ClosedError, Inbox, iterate, type WaitOptions } from '@ipcx/core';

interface Client {
  readonly closed: boolean;
  close(): Promise<void>;
  sendEncoded(payload: Uint8Array, options?: WaitOptions): Promise<void>;
}

/**
 * The client bookkeeping every server shares: the live clients (for `clients`, `broadcast`, `close`), the
 * accepted ones not yet handed out by `accept`, and the `maxClients` bound (counting those being admitted).
 */
export class Clients<C extends Client> {
  readonly #all = new Set<C>();
  readonly #accepted = new Inbox<C>();
  #admitting = 0;
  #closed = false;

  constructor(readonly max: number) {}

  /** The live clients, oldest first. */
  get list(): C[] {
    return [...this.#all];
  }

  /** Sends an encoded message to every live client; resolves to how many accepted it (the others are skipped). */
  async broadcast(payload: Uint8Array, options?: WaitOptions): Promise<number> {
    const results = await Promise.allSettled(this.list.map((client) => client.sendEncoded(payload, options)));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  /** True when one more connection would exceed `max`. */
  get full(): boolean {
    return this.#all.size + this.#admitting >= this.max;
  }

  /** Counts a connection being vetted (credentials, authorize) against `max` until `admitted` or `dropped`. */
  admitting(): void {
    this.#admitting++;
  }

  /** The connection being vetted was dropped. */
  dropped(): void {
    this.#admitting--;
  }

  /** The connection being vetted is now a client; `accept` hands it out. */
  admitted(client: C): void {
    this.#admitting--;
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

  /** Fails pending accepts and closes every client. */
  async closeAll(): Promise<void> {
    this.#closed = true;
    this.#accepted.fail(new ClosedError('server'));
    const all = [...this.#all];
    this.#all.clear();
    await Promise.all(all.map((client) => client.close()));
  }
}
