/**
 * What this machine allows ipcx, and how to raise it: `/dev/shm` size and use, POSIX and System V queue limits,
 * open files, pending signals, and whether `/dev/shm` is shared with a container host.
 */
import { readFileSync, readlinkSync, statfsSync } from 'node:fs';

/** One check `ipcx doctor` makes. */
export interface DoctorCheck {
  /** Short id, stable for scripts: `shm-space`, `mq-msg-max`, ... */
  readonly id: string;
  /** What was checked. */
  readonly title: string;
  /** What was found. */
  readonly value: string;
  /** `ok`, `warn` (works, but small) or `fail` (ipcx will hit it). */
  readonly status: 'ok' | 'warn' | 'fail';
  /** How to raise or fix it, when it is not ok. */
  readonly fix?: string;
}

function readNumber(path: string): number | undefined {
  try {
    const value = Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A soft limit from /proc/self/limits ("Max open files  1024  4096  files"). */
function processLimit(label: string): number | 'unlimited' | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(label));
    const soft = line?.slice(label.length).trim().split(/\s+/)[0];
    if (soft === undefined) return undefined;
    return soft === 'unlimited' ? 'unlimited' : Number(soft);
  } catch {
    return undefined;
  }
}

function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** The id of the mount that holds `path`, from a mountinfo file ("36 25 0:32 / /dev/shm rw ..."). */
function mountOf(mountinfo: string, path: string): string | undefined {
  let best: { point: string; source: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const point = fields[4];
    const source = `${fields[2]} ${fields[3]}`;
    if (!point) continue;
    if (
      (path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`)) &&
      (!best || point.length >= best.point.length)
    ) {
      best = { point, source };
    }
  }
  return best?.source;
}

/** A check that warns below `minimum` (a kernel parameter, or a resource limit that may be 'unlimited'). */
function minimumCheck(
  id: string,
  title: string,
  value: number | 'unlimited' | undefined,
  minimum: number,
  fix: string,
  show: (n: number) => string = String,
): DoctorCheck {
  return {
    id,
    title,
    value: value === 'unlimited' ? 'unlimited' : value === undefined ? 'unknown' : show(value),
    status: value === 'unlimited' || (value ?? 0) >= minimum ? 'ok' : 'warn',
    fix,
  };
}

/** Runs every check. None changes anything. */
export function runDoctor(): DoctorCheck[] {
  const checks: DoctorCheck[] = [];

  try {
    const fs = statfsSync('/dev/shm');
    const total = fs.blocks * fs.bsize;
    const free = fs.bavail * fs.bsize;
    const used = total - free;
    const share = total > 0 ? used / total : 1;
    checks.push({
      id: 'shm-space',
      title: '/dev/shm size and use (POSIX shared memory)',
      value: `${bytes(used)} used of ${bytes(total)} (${(share * 100).toFixed(0)}%)`,
      status: total < 64 << 20 || share > 0.9 ? 'fail' : share > 0.75 ? 'warn' : 'ok',
      fix: 'remount larger: `mount -o remount,size=1G /dev/shm` (Docker: `--shm-size=1g`; Kubernetes: an emptyDir with medium: Memory); `ipcx clean` removes what dead processes left',
    });
  } catch {
    checks.push({
      id: 'shm-space',
      title: '/dev/shm',
      value: 'not mounted',
      status: 'fail',
      fix: 'mount a tmpfs on /dev/shm: `mount -t tmpfs tmpfs /dev/shm`',
    });
  }

  const mqDir = '/proc/sys/fs/mqueue';
  const msgMax = readNumber(`${mqDir}/msg_max`);
  const msgsizeMax = readNumber(`${mqDir}/msgsize_max`);
  const queuesMax = readNumber(`${mqDir}/queues_max`);
  if (msgMax === undefined) {
    checks.push({
      id: 'mq',
      title: 'POSIX message queues',
      value: 'not available in this kernel',
      status: 'fail',
      fix: 'a kernel with CONFIG_POSIX_MQUEUE',
    });
  } else {
    checks.push(
      minimumCheck(
        'mq-msg-max',
        'POSIX queue: most messages per queue (fs.mqueue.msg_max)',
        msgMax,
        64,
        '`sysctl -w fs.mqueue.msg_max=256` (persist in /etc/sysctl.d/); in a container it is per IPC namespace',
      ),
      minimumCheck(
        'mq-msgsize-max',
        'POSIX queue: largest message (fs.mqueue.msgsize_max)',
        msgsizeMax,
        65536,
        '`sysctl -w fs.mqueue.msgsize_max=1048576`',
        bytes,
      ),
      minimumCheck(
        'mq-queues-max',
        'POSIX queue: queues on the system (fs.mqueue.queues_max)',
        queuesMax,
        64,
        '`sysctl -w fs.mqueue.queues_max=1024`',
      ),
    );
  }
  checks.push(
    minimumCheck(
      'mq-rlimit',
      'POSIX queue bytes per user (RLIMIT_MSGQUEUE)',
      processLimit('Max msgqueue size'),
      8 << 20,
      '`ulimit -q 67108864` in the shell that starts the service, `LimitMSGQUEUE=64M` in its systemd unit, or `msgqueue` in /etc/security/limits.conf',
      bytes,
    ),
    minimumCheck(
      'open-files',
      'open files per process (RLIMIT_NOFILE): one per socket, queue and lock',
      processLimit('Max open files'),
      4096,
      '`ulimit -n 65536`, `LimitNOFILE=65536` in a systemd unit, or `--ulimit nofile=65536` for Docker',
    ),
    minimumCheck(
      'sigpending',
      'queued realtime signals per user (RLIMIT_SIGPENDING)',
      processLimit('Max pending signals'),
      1024,
      '`ulimit -i 65536` or `LimitSIGPENDING=65536` in a systemd unit',
    ),
  );

  const msgmnb = readNumber('/proc/sys/kernel/msgmnb');
  if (msgmnb !== undefined) {
    checks.push(
      minimumCheck(
        'sysv-msgmnb',
        'System V queue: bytes per queue (kernel.msgmnb)',
        msgmnb,
        16384,
        '`sysctl -w kernel.msgmnb=1048576`',
        bytes,
      ),
    );
  }
  const shmmax = readNumber('/proc/sys/kernel/shmmax');
  if (shmmax !== undefined) {
    checks.push(
      minimumCheck(
        'sysv-shmmax',
        'System V shared memory: largest segment (kernel.shmmax)',
        shmmax,
        64 << 20,
        '`sysctl -w kernel.shmmax=1073741824`',
        (n) => (n > 2 ** 50 ? 'unlimited' : bytes(n)),
      ),
    );
  }

  try {
    const mine = mountOf(readFileSync('/proc/self/mountinfo', 'utf8'), '/dev/shm');
    let host: string | undefined;
    try {
      host = mountOf(readFileSync('/proc/1/mountinfo', 'utf8'), '/dev/shm');
    } catch {
      host = undefined;
    }
    const pidNamespace = safeLink('/proc/self/ns/pid');
    const initNamespace = safeLink('/proc/1/ns/pid');
    const inContainer = pidNamespace !== undefined && initNamespace !== undefined && pidNamespace !== initNamespace;
    checks.push({
      id: 'shm-shared',
      title: '/dev/shm shared with other PID namespaces (containers)',
      value:
        host === undefined
          ? 'cannot tell (no access to /proc/1)'
          : mine === host
            ? inContainer
              ? 'yes: this process is in another PID namespace than init and shares its /dev/shm'
              : 'same mount as init'
            : 'no: a private /dev/shm',
      status: 'ok',
      fix: "ipcx judges liveness by kernel locks, which hold across PID namespaces that share /dev/shm; pids in `ipcx ls` are labels from the owner's own namespace",
    });
  } catch {
    // no mountinfo: nothing to say
  }
  return checks;
}

function safeLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
