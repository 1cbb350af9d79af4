import { readFileSync } from 'node:fs';
import { InvalidNameError, LimitError, checkIpcName, type IpcError } from '@ipcx/core';
import { errnoError } from '@ipcx/core/transport';

/** Checks a queue name as mq_overview(7) wants it: '/', then 1 to 250 bytes without '/' or NUL. */
export function checkQueueName(name: string): string {
  return checkIpcName(name, 'queue', 'required');
}

function readLimit(file: string): string {
  try {
    return readFileSync(`/proc/sys/fs/mqueue/${file}`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Maps an errno from mq_open to a typed error that names the kernel limit and how to raise it. */
export function openError(name: string, error: unknown, capacity?: number, maxMessageBytes?: number): IpcError {
  const code = (error as NodeJS.ErrnoException).code;
  const what = `message queue "${name}"`;
  switch (code) {
    case 'EINVAL':
      if (capacity !== undefined || maxMessageBytes !== undefined) {
        return new LimitError(
          'mqueue msg_max/msgsize_max',
          `${what}: the kernel refused capacity ${capacity ?? 'default'} / maxMessageBytes ${maxMessageBytes ?? 'default'}. ` +
            `This system allows at most ${readLimit('msg_max')} messages (/proc/sys/fs/mqueue/msg_max) of ` +
            `${readLimit('msgsize_max')} bytes (/proc/sys/fs/mqueue/msgsize_max) per queue; an administrator raises them ` +
            `with sysctl fs.mqueue.msg_max=N fs.mqueue.msgsize_max=N`,
          { cause: error },
        );
      }
      return new InvalidNameError(name, 'the kernel refused it', { cause: error });
    default:
      // The one errno mapping of core, told what each limit is for a POSIX queue and how to raise it.
      return errnoError(error, `${what} open`, {
        limits: {
          EMFILE: {
            limit: 'RLIMIT_MSGQUEUE',
            hint:
              'too many queue bytes for this user or too many open descriptors. Each queue reserves about capacity x ' +
              'maxMessageBytes bytes against the per-user limit RLIMIT_MSGQUEUE (819200 bytes by default); close or ' +
              'unlink queues, make them smaller, or raise the limit (ulimit -q, or LimitMSGQUEUE= in systemd)',
          },
          ENOSPC: {
            limit: 'mqueue queues_max',
            hint: `the system holds its maximum of ${readLimit('queues_max')} queues (/proc/sys/fs/mqueue/queues_max); unlink unused queues or raise it with sysctl fs.mqueue.queues_max=N`,
          },
        },
      });
  }
}
