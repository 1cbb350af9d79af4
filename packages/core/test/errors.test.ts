import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ClosedError,
  FrameTooLargeError,
  IpcError,
  NotFoundError,
  PeerGoneError,
  PermissionError,
  SystemError,
  TimeoutError,
  TooLargeError,
  isIpcError,
} from '@ipcx/core';
import { fromSystemError } from '@ipcx/core/transport';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

describe('errors', () => {
  it('carry a stable code, a name and the cause', () => {
    const cause = errno('EPIPE');
    const e = new PeerGoneError('socket', { cause });
    expect(e).toBeInstanceOf(IpcError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('IPCX_ERR_PEER_GONE');
    expect(e.name).toBe('PeerGoneError');
    expect(e.cause).toBe(cause);
    expect(new TimeoutError('receive', 50).message).toBe('receive timed out after 50 ms');
  });

  it('a frame too large is a TooLargeError with its sizes', () => {
    const e = new FrameTooLargeError(100, 10);
    expect(e).toBeInstanceOf(TooLargeError);
    expect(e.code).toBe('IPCX_ERR_TOO_LARGE');
    expect([e.size, e.limit]).toEqual([100, 10]);
  });

  it('are recognised across copies of the package by their brand', () => {
    const foreign = new ClosedError();
    const copy = Object.create(Object.getPrototypeOf(foreign)) as object;
    expect(isIpcError(foreign)).toBe(true);
    expect(isIpcError(new Error('x'))).toBe(false);
    expect(isIpcError(copy)).toBe(false);
    const branded = Object.defineProperty(new Error('other copy'), Symbol.for('ipcx.IpcError'), { value: true });
    expect(isIpcError(branded)).toBe(true);
    expect(branded instanceof IpcError).toBe(true);
    expect(branded instanceof ClosedError).toBe(false);
  });

  it('map OS errors to typed errors keeping the errno as cause', () => {
    expect(fromSystemError('open', errno('EACCES'))).toBeInstanceOf(PermissionError);
    expect(fromSystemError('open', errno('EEXIST'))).toBeInstanceOf(AlreadyExistsError);
    expect(fromSystemError('open', errno('ENOENT'))).toBeInstanceOf(NotFoundError);
    const other = fromSystemError('open', errno('EIO'));
    expect(other).toBeInstanceOf(SystemError);
    expect(other.message).toBe('open failed: EIO');
    const closed = new ClosedError();
    expect(fromSystemError('x', closed)).toBe(closed);
  });
});
