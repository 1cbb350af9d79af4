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

// mqSend(fd, bytes, priority)
static Napi::Value MqSend(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len;
  uint32_t prio;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) || !ArgUint32(info, 2, &prio)) return Napi::Value();
  while (mq_send(fd, reinterpret_cast<const char*>(data), len, prio) != 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "mq_send");
  }
  return info.Env().Undefined();
}

// mqReceive(fd, target, out: Uint32Array) → length; out[0] = priority. No object per message.
static Napi::Value MqReceive(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len, outlen;
  void* out;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) ||
      !ArgTypedArray(info, 2, napi_uint32_array, &out, &outlen))
    return Napi::Value();
  unsigned prio = 0;
  ssize_t n;
  while ((n = mq_receive(fd, reinterpret_cast<char*>(data), len, &prio)) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "mq_receive");
  }
  if (outlen > 0) static_cast<uint32_t*>(out)[0] = prio;
  return Napi::Number::New(info.Env(), static_cast<double>(n));
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

// mqTimedReceive(fd, target, out, timeoutMs) → length; out[0] = priority.
static Napi::Value MqTimedReceive(const Napi::CallbackInfo& info) {
  int32_t fd;
  uint8_t* data;
  size_t len, outlen;
  void* out;
  double timeout;
  if (!ArgInt32(info, 0, &fd) || !ArgBytes(info, 1, &data, &len) ||
      !ArgTypedArray(info, 2, napi_uint32_array, &out, &outlen) || !ArgDouble(info, 3, &timeout))
    return Napi::Value();
  struct timespec deadline;
  bool bounded = DeadlineFromNow(timeout, CLOCK_REALTIME, &deadline);
  unsigned prio = 0;
  for (;;) {
    ssize_t n = bounded ? mq_timedreceive(fd, reinterpret_cast<char*>(data), len, &prio, &deadline)
                        : mq_receive(fd, reinterpret_cast<char*>(data), len, &prio);
    if (n >= 0) {
      if (outlen > 0) static_cast<uint32_t*>(out)[0] = prio;
      return Napi::Number::New(info.Env(), static_cast<double>(n));
    }
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
  exports.Set("mqSend", Napi::Function::New(env, MqSend, "mqSend"));
  exports.Set("mqReceive", Napi::Function::New(env, MqReceive, "mqReceive"));
  exports.Set("mqTimedSend", Napi::Function::New(env, MqTimedSend, "mqTimedSend"));
  exports.Set("mqTimedReceive", Napi::Function::New(env, MqTimedReceive, "mqTimedReceive"));
  exports.Set("mqGetAttr", Napi::Function::New(env, MqGetAttr, "mqGetAttr"));
  exports.Set("mqSetNonBlocking", Napi::Function::New(env, MqSetNonBlocking, "mqSetNonBlocking"));
  exports.Set("mqUnlink", Napi::Function::New(env, MqUnlink, "mqUnlink"));
}

}  // namespace ipcx
