// Plain descriptors: close, eventfd, mkfifo; and the constants the TypeScript layer composes flags from.
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

// closeFd(fd): EBADF is ignored so that a second close does not throw. (The number may have been reused by
// then; handle objects in the TypeScript layers close exactly once.) EINTR: on Linux the fd is closed
// anyway and must not be closed again.
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  if (close(fd) != 0 && errno != EBADF && errno != EINTR) return ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// dupFd(fd) → a second descriptor of the same open file description, close-on-exec.
static Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(info.Env(), errno, "fcntl");
  return Napi::Number::New(info.Env(), copy);
}

// eventfdCreate(initial, flags) → fd
static Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  uint32_t initial;
  int32_t flags;
  if (!ArgUint32(info, 0, &initial) || !ArgInt32(info, 1, &flags)) return Napi::Value();
  int fd = eventfd(initial, (flags & (EFD_SEMAPHORE | EFD_NONBLOCK)) | EFD_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

// eventfdRead(fd) → bigint
static Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  uint64_t value;
  ssize_t n;
  while ((n = read(fd, &value, sizeof value)) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "read");
  }
  if (n != sizeof value) return ThrowErrno(info.Env(), EINVAL, "read");
  return Napi::BigInt::New(info.Env(), value);
}

// eventfdWrite(fd, bigint)
static Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  uint64_t value;
  bool lossless;
  if (info.Length() < 2 || napi_get_value_bigint_uint64(info.Env(), info[1], &value, &lossless) != napi_ok || !lossless)
    return ThrowTypeError(info.Env(), "value must be a bigint between 0 and 2^64 - 2");
  while (write(fd, &value, sizeof value) < 0) {
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "write");
  }
  return info.Env().Undefined();
}

// mkfifo(path, mode)
static Napi::Value Mkfifo(const Napi::CallbackInfo& info) {
  std::string path;
  uint32_t mode;
  if (!ArgString(info, 0, &path) || !ArgUint32(info, 1, &mode)) return Napi::Value();
  if (mkfifo(path.c_str(), static_cast<mode_t>(mode)) != 0) return ThrowErrno(info.Env(), errno, "mkfifo");
  return info.Env().Undefined();
}

void InitFd(Napi::Env env, Napi::Object exports) {
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate, "eventfdCreate"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("mkfifo", Napi::Function::New(env, Mkfifo, "mkfifo"));

  Napi::Object c = Napi::Object::New(env);
#define IPCX_CONST(name) c.Set(#name, Napi::Number::New(env, static_cast<double>(name)))
  IPCX_CONST(O_RDONLY);
  IPCX_CONST(O_WRONLY);
  IPCX_CONST(O_RDWR);
  IPCX_CONST(O_CREAT);
  IPCX_CONST(O_EXCL);
  IPCX_CONST(O_NONBLOCK);
  IPCX_CONST(EFD_SEMAPHORE);
  IPCX_CONST(EFD_NONBLOCK);
  IPCX_CONST(LOCK_SH);
  IPCX_CONST(LOCK_EX);
  IPCX_CONST(LOCK_UN);
  IPCX_CONST(LOCK_NB);
  IPCX_CONST(SOCK_STREAM);
  IPCX_CONST(SOCK_DGRAM);
  IPCX_CONST(SOCK_SEQPACKET);
  IPCX_CONST(MQ_PRIO_MAX);
  IPCX_CONST(SIGRTMIN);
  IPCX_CONST(SIGRTMAX);
#undef IPCX_CONST
  c.Set("INTERRUPT_SIGNAL", Napi::Number::New(env, InterruptSignal()));
  exports.Set("constants", c);
}

}  // namespace ipcx
