/**
 * A resource with nothing to flush: `close()` and `destroy()` both release it at once, the first call only. The
 * signals package's listeners (a doorbell, a child-exit stream, a shutdown coordinator) are all of this kind.
 */
export abstract class ImmediateResource implements AsyncDisposable {
  #closed = false;

  /** True once `close` or `destroy` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Releases it; pending waits and later calls fail with `ClosedError`. Idempotent. */
  async close(): Promise<void> {
    this.destroy();
  }

  /** The same as `close` (there is nothing to flush). Idempotent. */
  destroy(_error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Lets go of what the resource holds; called once. */
  protected abstract release(): void;
}
