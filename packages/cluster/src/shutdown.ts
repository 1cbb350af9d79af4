/**
 * What a Supervisor or Pool needs of a shutdown coordinator: `@ipcx/signals`' `ShutdownCoordinator`
 * fits, and so does anything with the same `register`. Closes registered later run earlier (the
 * coordinator's order), so register a pool after the server that feeds it.
 */
export interface ShutdownHost {
  register(entry: { name: string; close: (reason?: unknown) => void | Promise<void>; priority?: number }): unknown;
}

/** Registers `close` with a coordinator, after checking its shape. */
export function registerShutdown(host: ShutdownHost, name: string, close: () => Promise<void>): void {
  if (host === null || typeof host !== 'object' || typeof host.register !== 'function') {
    throw new TypeError('shutdown must have register({ name, close })');
  }
  host.register({ name, close });
}
