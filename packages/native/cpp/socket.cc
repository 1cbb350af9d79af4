// Unix domain sockets (datagram, seqpacket; stream for fd passing on socketpairs), addresses, peer
// credentials and SCM_RIGHTS. Every socket we create is non-blocking and close-on-exec; sends never raise
// SIGPIPE (MSG_NOSIGNAL).
#include <sys/socket.h>
#include <sched.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "common.h"
#include "exports.h"

namespace ipcx {

static constexpr int kMaxFds = 253;  // SCM_MAX_FD

/** Reads (path, abstract) at args i, i+1 into a sockaddr_un; false after throwing. */
static bool ArgAddress(const Napi::CallbackInfo& info, size_t i, sockaddr_un* addr, socklen_t* len) {
  std::string path;
  bool abstract;
  if (!ArgString(info, i, &path) || !ArgBool(info, i + 1, &abstract)) return false;
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t max = sizeof(addr->sun_path) - 1;  // abstract: the leading NUL; path: the trailing NUL
  if (path.size() > max || path.empty()) {
    ThrowRangeError(info.Env(), "socket address is empty or longer than 107 bytes");
    return false;
  }
  if (abstract) {
    std::memcpy(addr->sun_path + 1, path.data(), path.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + path.size());
  } else {
    std::memcpy(addr->sun_path, path.data(), path.size());
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  }
  return true;
}

/** The address as a JS value: a path string, "\0name" for an abstract name (TS splits it), or undefined. */
static napi_value AddressValue(napi_env env, const sockaddr_un& addr, socklen_t len) {
  napi_value v;
  size_t base = offsetof(sockaddr_un, sun_path);
  if (len <= base) {
    napi_get_undefined(env, &v);
    return v;
  }
  size_t n = len - base;
  if (addr.sun_path[0] != '\0') n = strnlen(addr.sun_path, n);
  if (n == 0) {
    napi_get_undefined(env, &v);
    return v;
  }
  napi_create_string_utf8(env, addr.sun_path, n, &v);
  return v;
}

// sockSocket(type) → fd
static Napi::Value SockSocket(const Napi::CallbackInfo& info) {
  int32_t type;
  if (!ArgInt32(info, 0, &type)) return Napi::Value();
  int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(info.Env(), errno, "socket");
  return Napi::Number::New(info.Env(), fd);
}

// sockPair(type) → [fd, fd]
static Napi::Value SockPair(const Napi::CallbackInfo& info) {
  int32_t type;
  if (!ArgInt32(info, 0, &type)) return Napi::Value();
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    return ThrowErrno(info.Env(), errno, "socketpair");
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sv[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sv[1]));
  return out;
}

// sockBind(fd, path, abstract)
static Napi::Value SockBind(const Napi::CallbackInfo& info) {
  int32_t fd;
  sockaddr_un addr;
  socklen_t len;
  if (!ArgInt32(info, 0, &fd) || !ArgAddress(info, 1, &addr, &len)) return Napi::Value();
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return ThrowErrno(info.Env(), errno, "bind");
  return info.Env().Undefined();
}

// sockConnect(fd, path, abstract). Unix sockets connect at once or fail (EAGAIN: backlog full).
static Napi::Value SockConnect(const Napi::CallbackInfo& info) {
  int32_t fd;
  sockaddr_un addr;
  socklen_t len;
  if (!ArgInt32(info, 0, &fd) || !ArgAddress(info, 1, &addr, &len)) return Napi::Value();
  while (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "connect");
  }
  return info.Env().Undefined();
}

// sockListen(fd, backlog)
static Napi::Value SockListen(const Napi::CallbackInfo& info) {
  int32_t fd, backlog;
  if (!ArgInt32(info, 0, &fd) || !ArgInt32(info, 1, &backlog)) return Napi::Value();
  if (listen(fd, backlog) != 0) return ThrowErrno(info.Env(), errno, "listen");
  return info.Env().Undefined();
}

// sockAccept(fd) → fd (EAGAIN when no connection is pending)
static Napi::Value SockAccept(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  int c;
  while ((c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
    if (errno != EINTR && errno != ECONNABORTED) return ThrowErrno(info.Env(), errno, "accept4");
  }
  return Napi::Number::New(info.Env(), c);
}

// sockSend(fd, bytes) → bytes sent;  sockSendTo(fd, bytes, path, abstract) → bytes sent
static Napi::Value SockSend(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len)) return Napi::Value();
  ssize_t n;
  while ((n = send(fd, data, len, MSG_NOSIGNAL)) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "send");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// sockTrySend(fd, bytes) → bytes sent, or -errno (EAGAIN: the buffer is full; EPIPE, ECONNRESET: the peer is
// gone; ENOTSOCK: not a socket). send(2) with MSG_DONTWAIT | MSG_NOSIGNAL, building no Error: a caller that
// writes a node:net socket's descriptor directly hands anything but a whole write back to node:net, which
// reports errors its own way. Plain Node-API like sockSpinReceive: it is on every stream channel's flush.
static napi_value SockTrySend(napi_env env, napi_callback_info cbinfo) {
  FastCall call;
  if (!ReadFastCall(env, cbinfo, 2, 2, "sockTrySend(fd, bytes)", &call)) return nullptr;
  ssize_t n;
  while ((n = send(call.fd, call.data, call.len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  napi_value result;
  napi_create_double(env, n >= 0 ? static_cast<double>(n) : -static_cast<double>(errno), &result);
  return result;
}

static Napi::Value SockSendTo(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len;
  sockaddr_un addr;
  socklen_t alen;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) || !ArgAddress(info, 2, &addr, &alen))
    return Napi::Value();
  ssize_t n;
  while ((n = sendto(fd, data, len, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), alen)) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "sendto");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

/** True when argument i is `true` (an optional flag). */
static bool EmptyOk(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value();
}

static inline int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The bounded spin of a receive that found the socket empty (sockSpinReceive, and the optional spinNs argument
// of sockReceive and sockReceiveFds): Again() is true while the caller should retry; the first call starts the
// clock. At most one second, whatever the caller asks: a spin blocks the thread. Yields rather than only
// pausing between attempts: on an oversubscribed machine (more runnable tasks than vCPUs) a spin that keeps
// its CPU starves the very peer it waits for (measured: 80% of spins missed, round trips 3.5x slower); with
// nothing else runnable, sched_yield returns at once.
class Spin {
 public:
  explicit Spin(double ns) : budget_(ns != ns || ns <= 0 ? 0 : ns > 1e9 ? 1000000000 : static_cast<int64_t>(ns)) {}
  Spin(const Napi::CallbackInfo& info, size_t i)
      : Spin(info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0) {}
  bool Again() {
    if (budget_ <= 0) return false;
    int64_t now = MonotonicNs();
    if (deadline_ == 0) deadline_ = now + budget_;
    else if (now >= deadline_) return false;
    sched_yield();
    return true;
  }

 private:
  int64_t budget_ = 0;
  int64_t deadline_ = 0;
};

// sockReceive(fd, target, out: Int32Array(2), emptyOk?, spinNs?) → sender address | undefined.
// out[0] = bytes received, out[1] = 1 if the datagram was longer than target (MSG_TRUNC). With emptyOk, EAGAIN
// is out[0] = -1 rather than an Error (a reader that drains the socket would otherwise build one per drain);
// with spinNs too, an empty queue is retried for that long first (a spinning receive that reads what it finds
// in the same call, rather than peeking and then reading: one syscall fewer per message).
static Napi::Value SockReceive(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len, outlen;
  void* out;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) ||
      !ArgTypedArray(info, 2, napi_int32_array, &out, &outlen))
    return Napi::Value();
  if (outlen < 2) return ThrowRangeError(info.Env(), "out must have 2 elements");
  sockaddr_un addr;
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = sizeof addr;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  Spin spin(info, 4);
  while ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno == EAGAIN && EmptyOk(info, 3)) {
      if (spin.Again()) continue;
      static_cast<int32_t*>(out)[0] = -1;
      return info.Env().Undefined();
    }
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "recvmsg");
  }
  auto* o = static_cast<int32_t*>(out);
  o[0] = static_cast<int32_t>(n);
  o[1] = (msg.msg_flags & MSG_TRUNC) ? 1 : 0;
  return Napi::Value(info.Env(), AddressValue(info.Env(), addr, msg.msg_namelen));
}

// sockPeerCred(fd) → [pid, uid, gid]
static Napi::Value SockPeerCred(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return ThrowErrno(info.Env(), errno, "getsockopt");
  Napi::Array out = Napi::Array::New(info.Env(), 3);
  out.Set(0u, Napi::Number::New(info.Env(), cred.pid));
  out.Set(1u, Napi::Number::New(info.Env(), cred.uid));
  out.Set(2u, Napi::Number::New(info.Env(), cred.gid));
  return out;
}

// sockSendFds(fd, bytes, fds: Int32Array) → bytes sent
static Napi::Value SockSendFds(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len, nfds;
  void* fds;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) ||
      !ArgTypedArray(info, 2, napi_int32_array, &fds, &nfds))
    return Napi::Value();
  if (nfds > static_cast<size_t>(kMaxFds)) return ThrowRangeError(info.Env(), "at most 253 descriptors per message");
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  if (nfds > 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL)) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "sendmsg");
  }
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// sockReceiveFds(fd, target, out: Int32Array(2), emptyOk?, spinNs?) → number[] of received descriptors
// (close-on-exec). out[0] = bytes, out[1] = bit 0: data truncated, bit 1: descriptors dropped (MSG_CTRUNC).
// emptyOk and spinNs as sockReceive.
static Napi::Value SockReceiveFds(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len, outlen;
  void* out;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) ||
      !ArgTypedArray(info, 2, napi_int32_array, &out, &outlen))
    return Napi::Value();
  if (outlen < 2) return ThrowRangeError(info.Env(), "out must have 2 elements");
  iovec iov{data, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // One buffer per thread rather than one allocation per receive (this is on every seqpacket receive).
  alignas(cmsghdr) static thread_local char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  Spin spin(info, 4);
  while ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) < 0) {
    if (errno == EAGAIN && EmptyOk(info, 3)) {
      if (spin.Again()) continue;
      static_cast<int32_t*>(out)[0] = -1;
      return info.Env().Undefined();
    }
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "recvmsg");
  }
  Napi::Env env = info.Env();
  Napi::Array fds = Napi::Array::New(env);
  uint32_t k = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* p = CMSG_DATA(c);
    for (size_t j = 0; j < count; j++) {
      int v;
      std::memcpy(&v, p + j * sizeof(int), sizeof v);
      fds.Set(k++, Napi::Number::New(env, v));
    }
  }
  auto* o = static_cast<int32_t*>(out);
  o[0] = static_cast<int32_t>(n);
  o[1] = ((msg.msg_flags & MSG_TRUNC) ? 1 : 0) | ((msg.msg_flags & MSG_CTRUNC) ? 2 : 0);
  return fds;
}

// sockSpinReceive(fd, target, spinNs, peek) → bytes received (0: end of stream, or an empty packet), or -1
// when nothing came within spinNs nanoseconds. recv(2) with MSG_DONTWAIT (so it never blocks, whatever the
// descriptor's O_NONBLOCK, e.g. a node:net socket's fd that libuv also reads), retried in C until the
// deadline: a bounded spin without a trip through JavaScript per attempt. With `peek` (MSG_PEEK) nothing is
// consumed: it only says that something is there.
// spinNs <= 0 tries once. Errors other than EAGAIN throw (a reset is reported once by the kernel, so the caller
// must not drop it). Plain Node-API like mqReceive: it is on the hot path of every spinning receive.
static napi_value SockSpinReceive(napi_env env, napi_callback_info cbinfo) {
  FastCall call;
  if (!ReadFastCall(env, cbinfo, 3, 4, "sockSpinReceive(fd, target, spinNs, peek?)", &call)) return nullptr;
  const int32_t fd = call.fd;
  uint8_t* const data = call.data;
  const size_t len = call.len;
  double spinNs;
  bool peek = false;
  if (napi_get_value_double(env, call.argv[2], &spinNs) != napi_ok || spinNs != spinNs ||
      (call.argc >= 4 && napi_get_value_bool(env, call.argv[3], &peek) != napi_ok)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "spinNs must be a number, peek a boolean");
    return nullptr;
  }
  int flags = MSG_DONTWAIT | (peek ? MSG_PEEK : 0);
  Spin spin(spinNs);
  ssize_t n;
  for (;;) {
    n = recv(fd, data, len, flags);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      napi_throw(env, MakeErrnoError(env, errno, "recv"));
      return nullptr;
    }
    if (!spin.Again()) break;
  }
  napi_value result;
  napi_create_double(env, n >= 0 ? static_cast<double>(n) : -1.0, &result);
  return result;
}

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("sockSocket", Napi::Function::New(env, SockSocket, "sockSocket"));
  exports.Set("sockPair", Napi::Function::New(env, SockPair, "sockPair"));
  exports.Set("sockBind", Napi::Function::New(env, SockBind, "sockBind"));
  exports.Set("sockConnect", Napi::Function::New(env, SockConnect, "sockConnect"));
  exports.Set("sockListen", Napi::Function::New(env, SockListen, "sockListen"));
  exports.Set("sockAccept", Napi::Function::New(env, SockAccept, "sockAccept"));
  exports.Set("sockSend", Napi::Function::New(env, SockSend, "sockSend"));
  {
    napi_value fn;
    napi_create_function(env, "sockTrySend", NAPI_AUTO_LENGTH, SockTrySend, nullptr, &fn);
    exports.Set("sockTrySend", Napi::Value(env, fn));
  }
  exports.Set("sockSendTo", Napi::Function::New(env, SockSendTo, "sockSendTo"));
  exports.Set("sockReceive", Napi::Function::New(env, SockReceive, "sockReceive"));
  exports.Set("sockPeerCred", Napi::Function::New(env, SockPeerCred, "sockPeerCred"));
  exports.Set("sockSendFds", Napi::Function::New(env, SockSendFds, "sockSendFds"));
  exports.Set("sockReceiveFds", Napi::Function::New(env, SockReceiveFds, "sockReceiveFds"));
  napi_value spin;
  napi_create_function(env, "sockSpinReceive", NAPI_AUTO_LENGTH, SockSpinReceive, nullptr, &spin);
  exports.Set("sockSpinReceive", Napi::Value(env, spin));
}

}  // namespace ipcx
