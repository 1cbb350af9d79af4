/**
 * Unix domain datagram and seqpacket sockets (the kinds node:net and node:dgram do not offer), peer
 * credentials and descriptor passing. Sockets are plain descriptors: non-blocking, close-on-exec; poll
 * them with {@link FdWatcher}. Sends never raise SIGPIPE (EPIPE instead).
 *
 * `socket` is callable — `socket('dgram')` — and carries the operations: `socket.bind(fd, addr)`, …
 */
import { constants, native } from './binding.js';
import {
  rangeError,
  validateBytes,
  validateFd,
  validateInt,
  validateOutgoing,
  validateString,
} from './internal/validate.js';

export type SocketType = 'dgram' | 'seqpacket';
/** A filesystem path, or a name in Linux's abstract namespace (no file; gone when the socket closes). */
export type SocketAddress = string | { abstract: string };

export interface SocketReceived {
  /** Bytes written to target. */
  length: number;
  /** Sender of a datagram, when it is bound; undefined for unbound senders and connected seqpacket peers. */
  from?: SocketAddress;
  /** The message was longer than target; the rest is lost (MSG_TRUNC). */
  truncated: boolean;
}

export interface FdsReceived {
  length: number;
  /** Received descriptors, already close-on-exec. The caller owns them and must close them. */
  fds: number[];
  truncated: boolean;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

// Scratch for lengths and flags, so a receive allocates nothing in C++ but the sender's address.
const out = new Int32Array(2);
const SUN_PATH_MAX = 107;

function typeCode(type: unknown, allowStream = false): number {
  if (type === 'dgram') return constants.SOCK_DGRAM;
  if (type === 'seqpacket') return constants.SOCK_SEQPACKET;
  if (allowStream && type === 'stream') return constants.SOCK_STREAM;
  throw Object.assign(
    new TypeError(`type must be 'dgram' or 'seqpacket'${allowStream ? " or 'stream'" : ''}, got ${String(type)}`),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
}

function address(addr: unknown): [string, boolean] {
  const abstract = typeof addr === 'object' && addr !== null;
  const s = validateString(
    abstract ? (addr as { abstract: unknown }).abstract : addr,
    abstract ? 'address.abstract' : 'address',
  );
  const bytes = Buffer.byteLength(s);
  if (bytes === 0 || bytes > SUN_PATH_MAX) {
    throw Object.assign(new RangeError(`socket address must be 1 to ${SUN_PATH_MAX} bytes, got ${bytes}`), {
      code: 'ERR_OUT_OF_RANGE',
    });
  }
  return [s, abstract];
}

function fromNative(s: string | undefined): SocketAddress | undefined {
  if (s === undefined) return undefined;
  return s.charCodeAt(0) === 0 ? { abstract: s.slice(1) } : s;
}

function create(type: SocketType): number {
  return native.sockSocket(typeCode(type));
}

const operations = {
  /** Binds to a path (creates the socket file; unlink it when done) or an abstract name. */
  bind(fd: number, addr: SocketAddress): void {
    const [a, abstract] = address(addr);
    native.sockBind(validateFd(fd), a, abstract);
  },

  /** seqpacket: accept connections. */
  listen(fd: number, backlog = 128): void {
    native.sockListen(validateFd(fd), validateInt(backlog, 'backlog', 0, 0x7fffffff));
  },

  /** seqpacket: a connected descriptor (non-blocking, close-on-exec); EAGAIN when none is pending. */
  accept(fd: number): number {
    return native.sockAccept(validateFd(fd));
  },

  /** Connects (seqpacket) or sets the default destination (dgram). Immediate for Unix sockets; ECONNREFUSED, ENOENT, EAGAIN (backlog full). */
  connect(fd: number, addr: SocketAddress): void {
    const [a, abstract] = address(addr);
    native.sockConnect(validateFd(fd), a, abstract);
  },

  /** Sends one message; returns the bytes sent. EAGAIN when the receiver's queue is full. */
  send(fd: number, data: Uint8Array, addr?: SocketAddress): number {
    validateFd(fd);
    const bytes = validateOutgoing(data, 'data');
    if (addr === undefined) return native.sockSend(fd, bytes);
    const [a, abstract] = address(addr);
    return native.sockSendTo(fd, bytes, a, abstract);
  },

  /**
   * Sends without waiting and without building an Error: the bytes sent (possibly fewer than `data` on a
   * stream socket), or a negative errno (`-os.constants.errno.EAGAIN` when the buffer is full, `-EPIPE` or
   * `-ECONNRESET` when the peer is gone, `-ENOTSOCK`). MSG_DONTWAIT | MSG_NOSIGNAL, so it also works on a
   * descriptor libuv polls, such as a `node:net` socket's, while nothing written through node:net is pending.
   */
  trySend(fd: number, data: Uint8Array): number {
    return native.sockTrySend(fd, data);
  },

  /** Receives one message into target. EAGAIN when none. On seqpacket, length 0 with no sender means the peer closed. */
  receive(fd: number, target: Uint8Array): SocketReceived {
    const from = native.sockReceive(validateFd(fd), validateBytes(target, 'target'), out);
    const result: SocketReceived = { length: out[0]!, truncated: out[1] === 1 };
    if (from !== undefined) result.from = fromNative(from);
    return result;
  },

  /**
   * Waits for bytes by spinning, for at most `spinMicroseconds` (at most one second): recv(2) with MSG_DONTWAIT
   * retried in C until something comes. Returns the bytes written to `target` (0: the peer closed the stream,
   * or an empty packet), or -1 when nothing came in time. Never blocks in the kernel and works on any socket
   * descriptor, including one libuv polls (`net.Socket`'s `_handle.fd`): read it only while nothing that libuv
   * read is still undelivered. With `peek`, nothing is consumed (MSG_PEEK): it only says that something is
   * there. 0 tries once. Errors other than EAGAIN throw (ECONNRESET is reported once: do not drop it).
   */
  spinReceive(fd: number, target: Uint8Array, spinMicroseconds: number, peek = false): number {
    return native.sockSpinReceive(fd, target, spinMicroseconds * 1000, peek);
  },

  /**
   * As `receive`, but undefined when no message is queued (EAGAIN) rather than an Error. With
   * `spinMicroseconds` (at most one second), an empty queue is polled that long first (recv retried with
   * sched_yield between attempts, as `spinReceive`), and what comes is read by the same call.
   */
  tryReceive(fd: number, target: Uint8Array, spinMicroseconds = 0): SocketReceived | undefined {
    const from = native.sockReceive(
      validateFd(fd),
      validateBytes(target, 'target'),
      out,
      true,
      spinMicroseconds * 1000,
    );
    if (out[0] === -1) return undefined;
    const result: SocketReceived = { length: out[0]!, truncated: out[1] === 1 };
    if (from !== undefined) result.from = fromNative(from);
    return result;
  },

  tryReceiveFds,

  /**
   * A second descriptor of the same socket (`fcntl(F_DUPFD_CLOEXEC)`): closing one leaves the connection open
   * through the other. Works on any descriptor.
   */
  duplicate(fd: number): number {
    return native.dupFd(validateFd(fd));
  },

  /** A second close does not throw (but close once: descriptor numbers are reused). Unlink a bound path yourself. */
  close(fd: number): void {
    native.closeFd(validateFd(fd));
  },

  peerCredentials,
  sendFds,
  receiveFds,
  socketPair,
};

/**
 * Creates a Unix socket of the given type, plus its operations as properties.
 * @example
 * const fd = socket('dgram');
 * socket.bind(fd, { abstract: `app-${process.pid}` });
 * const w = new FdWatcher(fd, () => { const { length, from } = socket.receive(fd, buf); … });
 * w.start({ readable: true });
 */
export const socket: typeof create & typeof operations = Object.assign(create, operations);

/**
 * The pid, uid and gid of the process at the other end (SO_PEERCRED, as of connect time). Works on any
 * connected Unix socket descriptor, including one accepted by node:net (`socket._handle.fd`).
 */
export function peerCredentials(fd: number): PeerCredentials {
  const [pid, uid, gid] = native.sockPeerCred(validateFd(fd));
  return { pid, uid, gid };
}

/** Sends data with up to 253 descriptors attached (SCM_RIGHTS). The sender keeps its copies open. */
export function sendFds(fd: number, data: Uint8Array, fds: readonly number[]): number {
  validateFd(fd);
  validateBytes(data, 'data');
  if (!Array.isArray(fds) || fds.length > 253) throw rangeError('fds must be an array of at most 253 descriptors');
  // On a stream socket the kernel drops descriptors sent with no data (unix(7)); on the others an empty
  // message reads as the peer closing. Descriptors ride on at least one byte.
  if (fds.length > 0 && data.byteLength === 0)
    throw rangeError('descriptors need at least one byte of data to travel with');
  const list = Int32Array.from(fds, (f, i) => validateFd(f, `fds[${i}]`));
  return native.sockSendFds(fd, data, list);
}

/** Receives data and any descriptors attached. `truncated`: data or descriptors did not fit. */
export function receiveFds(fd: number, target: Uint8Array): FdsReceived {
  const fds = native.sockReceiveFds(validateFd(fd), validateBytes(target, 'target'), out)!;
  return { length: out[0]!, fds, truncated: out[1] !== 0 };
}

/**
 * As `receiveFds`, but undefined when no message is queued (EAGAIN) rather than an Error. `spinMicroseconds`
 * as `socket.tryReceive`.
 */
export function tryReceiveFds(fd: number, target: Uint8Array, spinMicroseconds = 0): FdsReceived | undefined {
  const fds = native.sockReceiveFds(
    validateFd(fd),
    validateBytes(target, 'target'),
    out,
    true,
    spinMicroseconds * 1000,
  );
  if (fds === undefined) return undefined;
  return { length: out[0]!, fds, truncated: out[1] !== 0 };
}

/** A connected pair (socketpair(2)), both ends non-blocking and close-on-exec. 'stream' is allowed here. */
export function socketPair(type: SocketType | 'stream'): [number, number] {
  return native.sockPair(typeCode(type, true));
}
