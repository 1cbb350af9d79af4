// POSIX message queues. On Linux an mqd_t is a file descriptor (always close-on-exec), so it can be polled
// by FdWatcher and closed with close(2).
#include <fcntl.h>
#include <mqueue.h>
#include <unistd.h>

#include "common.h"
#include "exports.h"

namespace ipcx {

// mqOpen(name, oflag, mode, maxMessages, messageSize) → fd. maxMessages <= 0: kernel defaults.
static Napi::Value MqOpen(const Napi::CallbackInfo& info) {
  std::string name;
  int32_t oflag, maxmsg, msgsize;
  uint32_t mode;
  if (!ArgString(info, 0, &name) || !ArgInt32(info, 1, &oflag) || !ArgUint32(info, 2, &mode) ||
      !ArgInt32(info, 3, &maxmsg) || !ArgInt32(info, 4, &msgsize))
    return Napi::Value();
  struct mq_attr attr {};
  attr.mq_maxmsg = maxmsg;
  attr.mq_msgsize = msgsize;
  mqd_t q = mq_open(name.c_str(), oflag | O_CLOEXEC, static_cast<mode_t>(mode),
                    (oflag & O_CREAT) && maxmsg > 0 ? &attr : nullptr);
  if (q == static_cast<mqd_t>(-1)) return ThrowErrno(info.Env(), errno, "mq_open");
  return Napi::Number::New(info.Env(), q);
}

// The two hot calls are plain Node-API callbacks: no node-addon-api wrapper, no scratch array, no result
// object — measured ~10% of a send+receive round trip on this machine (bench/cost.mjs).

// mqSend(fd, bytes, priority) → true, or false when a non-blocking queue is full (EAGAIN is returned,
// not thrown: a caller that retries, such as a bounded spin, would otherwise build an Error per attempt).
static napi_value MqSend(napi_env env, napi_callback_info cbinfo) {
  FastCall call;
  if (!ReadFastCall(env, cbinfo, 3, 3, "mqSend(fd, data, priority)", &call)) return nullptr;
  const int32_t fd = call.fd;
  uint8_t* const data = call.data;
  const size_t len = call.len;
  uint32_t prio;
  if (napi_get_value_uint32(env, call.argv[2], &prio) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "priority must be a number");
    return nullptr;
  }
  bool sent = true;
  while (mq_send(fd, reinterpret_cast<const char*>(data), len, prio) != 0) {
    if (errno == EAGAIN) {
      sent = false;
      break;
    }
    if (errno != EINTR) {
      napi_throw(env, MakeErrnoError(env, errno, "mq_send"));
      return nullptr;
    }
  }
  napi_value result;
  napi_get_boolean(env, sent, &result);
  return result;
}

// mqReceive(fd, target) → length * 32768 + priority (priority < MQ_PRIO_MAX = 32768; exact below 2^53),
// or -1 when a non-blocking queue is empty (EAGAIN, returned rather than thrown as for mqSend).
// An optional third argument retries an empty queue that many times in C before answering -1: a bounded
// spin without a trip through JavaScript per attempt.
static napi_value MqReceive(napi_env env, napi_callback_info cbinfo) {
  FastCall call;
  if (!ReadFastCall(env, cbinfo, 2, 3, "mqReceive(fd, target, attempts?)", &call)) return nullptr;
  const int32_t fd = call.fd;
  uint8_t* const data = call.data;
  const size_t len = call.len;
  int32_t attempts = 1;
  if (call.argc >= 3 && napi_get_value_int32(env, call.argv[2], &attempts) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "attempts must be a number");
    return nullptr;
  }
  unsigned prio = 0;
  ssize_t n;
  while ((n = mq_receive(fd, reinterpret_cast<char*>(data), len, &prio)) < 0) {
    if (errno == EAGAIN) {
      if (--attempts > 0) continue;
      napi_value empty;
      napi_create_int32(env, -1, &empty);
      return empty;
    }
    if (errno != EINTR) {
      napi_throw(env, MakeErrnoError(env, errno, "mq_receive"));
      return nullptr;
    }
  }
  napi_value result;
  napi_create_double(env, static_cast<double>(n) * 32768.0 + prio, &result);
  return result;
}

// mqTimedSend(fd, bytes, priority, timeoutMs): blocks the calling thread (meant for workers) until there is
// room or the deadline passes (ETIMEDOUT). A non-blocking descriptor fails with EAGAIN at once.
static Napi::Value MqTimedSend(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len;
  uint32_t prio;
  double timeout;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) || !ArgUint32(info, 2, &prio) ||
      !ArgDouble(info, 3, &timeout))
    return Napi::Value();
  struct timespec deadline;
  bool bounded = DeadlineFromNow(timeout, CLOCK_REALTIME, &deadline);
  for (;;) {
    int rc = bounded ? mq_timedsend(fd, reinterpret_cast<const char*>(data), len, prio, &deadline)
                     : mq_send(fd, reinterpret_cast<const char*>(data), len, prio);
    if (rc == 0) return info.Env().Undefined();
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, bounded ? "mq_timedsend" : "mq_send");
  }
}

// mqTimedReceive(fd, target, timeoutMs) → length * 32768 + priority, as mqReceive.
static Napi::Value MqTimedReceive(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len;
  double timeout;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) || !ArgDouble(info, 2, &timeout))
    return Napi::Value();
  struct timespec deadline;
  bool bounded = DeadlineFromNow(timeout, CLOCK_REALTIME, &deadline);
  unsigned prio = 0;
  for (;;) {
    ssize_t n = bounded ? mq_timedreceive(fd, reinterpret_cast<char*>(data), len, &prio, &deadline)
                        : mq_receive(fd, reinterpret_cast<char*>(data), len, &prio);
    if (n >= 0) return Napi::Number::New(info.Env(), static_cast<double>(n) * 32768.0 + prio);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, bounded ? "mq_timedreceive" : "mq_receive");
  }
}

// mqGetAttr(fd) → [flags, maxmsg, msgsize, curmsgs]
static Napi::Value MqGetAttr(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  struct mq_attr attr;
  if (mq_getattr(fd, &attr) != 0) return ThrowErrno(info.Env(), errno, "mq_getattr");
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(attr.mq_flags)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(attr.mq_maxmsg)));
  out.Set(2u, Napi::Number::New(env, static_cast<double>(attr.mq_msgsize)));
  out.Set(3u, Napi::Number::New(env, static_cast<double>(attr.mq_curmsgs)));
  return out;
}

// mqSetNonBlocking(fd, on)
static Napi::Value MqSetNonBlocking(const Napi::CallbackInfo& info) {
  int32_t fd;
  bool on;
  if (!ArgInt32(info, 0, &fd) || !ArgBool(info, 1, &on)) return Napi::Value();
  struct mq_attr attr {};
  attr.mq_flags = on ? O_NONBLOCK : 0;
  if (mq_setattr(fd, &attr, nullptr) != 0) return ThrowErrno(info.Env(), errno, "mq_setattr");
  return info.Env().Undefined();
}

static Napi::Value MqUnlink(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, &name)) return Napi::Value();
  if (mq_unlink(name.c_str()) != 0) return ThrowErrno(info.Env(), errno, "mq_unlink");
  return info.Env().Undefined();
}

void InitMq(Napi::Env env, Napi::Object exports) {
  exports.Set("mqOpen", Napi::Function::New(env, MqOpen, "mqOpen"));
  napi_value fn;
  napi_create_function(env, "mqSend", NAPI_AUTO_LENGTH, MqSend, nullptr, &fn);
  exports.Set("mqSend", fn);
  napi_create_function(env, "mqReceive", NAPI_AUTO_LENGTH, MqReceive, nullptr, &fn);
  exports.Set("mqReceive", fn);
  exports.Set("mqTimedSend", Napi::Function::New(env, MqTimedSend, "mqTimedSend"));
  exports.Set("mqTimedReceive", Napi::Function::New(env, MqTimedReceive, "mqTimedReceive"));
  exports.Set("mqGetAttr", Napi::Function::New(env, MqGetAttr, "mqGetAttr"));
  exports.Set("mqSetNonBlocking", Napi::Function::New(env, MqSetNonBlocking, "mqSetNonBlocking"));
  exports.Set("mqUnlink", Napi::Function::New(env, MqUnlink, "mqUnlink"));
}

}  // namespace ipcx
