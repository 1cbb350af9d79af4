import { describe, expect, it } from 'vitest';
import { isIpcError, type IpcError } from '@ipcx/core';
import { errnoError } from '@ipcx/core/transport';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

describe('errnoError', () => {
  it('maps each errno to its typed error and keeps the OS error as cause', () => {
    const cases: [string, string, Parameters<typeof errnoError>[2]?][] = [
      ['EAGAIN', 'IPCX_ERR_FULL'],
      ['EWOULDBLOCK', 'IPCX_ERR_FULL'],
      ['EMSGSIZE', 'IPCX_ERR_TOO_LARGE'],
      ['ENOSPC', 'IPCX_ERR_LIMIT'],
      ['EMFILE', 'IPCX_ERR_LIMIT'],
      ['ENFILE', 'IPCX_ERR_LIMIT'],
      ['ENOBUFS', 'IPCX_ERR_LIMIT'],
      ['ENOBUFS', 'IPCX_ERR_TOO_LARGE', { size: 70000 }],
      ['ECONNREFUSED', 'IPCX_ERR_NOT_FOUND'],
      ['ENOENT', 'IPCX_ERR_NOT_FOUND'],
      ['ECONNREFUSED', 'IPCX_ERR_PEER_GONE', { stage: 'connected' }],
      ['ENOENT', 'IPCX_ERR_PEER_GONE', { stage: 'connected' }],
      ['EPIPE', 'IPCX_ERR_PEER_GONE'],
      ['ECONNRESET', 'IPCX_ERR_PEER_GONE'],
      ['EACCES', 'IPCX_ERR_PERMISSION'],
      ['EPERM', 'IPCX_ERR_PERMISSION'],
      ['EEXIST', 'IPCX_ERR_ALREADY_EXISTS'],
      ['EADDRINUSE', 'IPCX_ERR_ALREADY_EXISTS'],
      ['ENAMETOOLONG', 'IPCX_ERR_INVALID_NAME'],
      ['EIO', 'IPCX_ERR_SYSTEM'],
    ];
    for (const [code, expected, context] of cases) {
      const cause = errno(code);
      const error = errnoError(cause, 'queue "/x" send', context);
      expect(isIpcError(error), code).toBe(true);
      expect(error.code, code).toBe(expected);
      expect(error.cause, code).toBe(cause);
    }
  });

  it('names the limit: the generic one, or the one the caller knows better', () => {
    const generic = errnoError(errno('EMFILE'), 'socket open') as IpcError & { limit: string };
    expect(generic.limit).toBe('RLIMIT_NOFILE');
    expect(generic.message).toMatch(/ulimit -n/);
    const precise = errnoError(errno('ENOSPC'), 'message queue "/jobs" open', {
      limits: { ENOSPC: { limit: 'mqueue queues_max', hint: 'raise it with sysctl fs.mqueue.queues_max=N' } },
    }) as IpcError & { limit: string };
    expect(precise.limit).toBe('mqueue queues_max');
    expect(precise.message).toMatch(/message queue "\/jobs" open.*queues_max.*sysctl/);
  });

  it('gives the size and the limit to TooLargeError, and returns an ipcx error as it is', () => {
    const error = errnoError(errno('EMSGSIZE'), 'datagram', { size: 9000, maxBytes: 8192 });
    expect(error).toMatchObject({ code: 'IPCX_ERR_TOO_LARGE', size: 9000, limit: 8192 });
    expect(errnoError(error, 'again')).toBe(error);
    expect(errnoError(new Error('no errno'), 'read').code).toBe('IPCX_ERR_SYSTEM');
    expect(errnoError(undefined, 'read').code).toBe('IPCX_ERR_SYSTEM');
  });
});
