/** Validates an integer option (piscina-style: every option is checked before the internals see it). */
export function checkInteger(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Validates a file mode (permission bits). */
export function checkMode(name: string, value: number | undefined, fallback: number): number {
  return checkInteger(name, value, fallback, 0, 0o7777);
}
