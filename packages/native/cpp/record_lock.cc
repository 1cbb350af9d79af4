// fcntl(2) record locks on byte ranges: classic POSIX locks (F_SETLK, F_SETLKW, F_GETLK; owned by the
// process) and open-file-description locks (F_OFD_*; owned by the open file, Linux 3.15+). A blocking
// F_SETLKW runs on a native waiter thread (waiters.h); a timeout or abort interrupts it (EINTR). The
// kernel's deadlock detection (EDEADLK) covers classic locks only.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

static bool ReadLock(const Napi::CallbackInfo& info, size_t i, struct flock* fl) {
  int32_t type;
  double start, len;
  if (!ArgInt32(info, i, &type) || !ArgDouble(info, i + 1, &start) || !ArgDouble(info, i + 2, &len)) return false;
  *fl = {};
  fl->l_type = static_cast<short>(type);
  fl->l_whence = SEEK_SET;
  fl->l_start = static_cast<off_t>(start);
  fl->l_len = static_cast<off_t>(len);
  fl->l_pid = 0;  // must be 0 for OFD locks
  return true;
}

// recordLock(fd, ofd, type, start, len) → true, or false when the range is held elsewhere (EAGAIN/EACCES).
// type F_UNLCK unlocks.
static Napi::Value RecordLock(const Napi::CallbackInfo& info) {
  int32_t fd;
  bool ofd;
  struct flock fl;
  if (!ArgInt32(info, 0, &fd) || !ArgBool(info, 1, &ofd) || !ReadLock(info, 2, &fl)) return Napi::Value();
  while (fcntl(fd, ofd ? F_OFD_SETLK : F_SETLK, &fl) != 0) {
    if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "fcntl");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// recordLockTest(fd, ofd, type, start, len) → undefined when the lock could be placed, else
// [type, start, len, pid] of a conflicting lock (pid is -1 for an OFD lock).
static Napi::Value RecordLockTest(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t fd;
  bool ofd;
  struct flock fl;
  if (!ArgInt32(info, 0, &fd) || !ArgBool(info, 1, &ofd) || !ReadLock(info, 2, &fl)) return Napi::Value();
  while (fcntl(fd, ofd ? F_OFD_GETLK : F_GETLK, &fl) != 0) {
    if (errno != EINTR) return ThrowErrno(env, errno, "fcntl");
  }
  if (fl.l_type == F_UNLCK) return info.Env().Undefined();
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, fl.l_type));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(fl.l_start)));
  out.Set(2u, Napi::Number::New(env, static_cast<double>(fl.l_len)));
  out.Set(3u, Napi::Number::New(env, fl.l_pid));
  return out;
}

class RecordLockJob : public Job {
 public:
  int fd = -1;
  bool ofd = false;
  struct flock fl {};
  void Run() override {
    syscall = "fcntl";
    while (fcntl(fd, ofd ? F_OFD_SETLKW : F_SETLKW, &fl) != 0) {
      if (errno != EINTR) {
        err = errno;
        return;
      }
      if (Cancelled()) {
        err = ECANCELED;
        return;
      }
    }
    result = 1;
  }
};

// recordLockAsync(fd, ofd, type, start, len, callback(err)) → job id (cancel with cancelWait(id)).
static Napi::Value RecordLockAsync(const Napi::CallbackInfo& info) {
  int32_t fd;
  bool ofd;
  struct flock fl;
  napi_value cb;
  if (!ArgInt32(info, 0, &fd) || !ArgBool(info, 1, &ofd) || !ReadLock(info, 2, &fl) || !ArgFunction(info, 5, &cb))
    return Napi::Value();
  auto* job = new RecordLockJob();
  job->fd = fd;
  job->ofd = ofd;
  job->fl = fl;
  uint32_t id = EnvData::Get(info.Env())->jobs->Submit(info.Env(), job, cb, nullptr);
  if (id == 0) return Napi::Value();
  return Napi::Number::New(info.Env(), id);
}

void InitRecordLock(Napi::Env env, Napi::Object exports) {
  exports.Set("recordLock", Napi::Function::New(env, RecordLock, "recordLock"));
  exports.Set("recordLockTest", Napi::Function::New(env, RecordLockTest, "recordLockTest"));
  exports.Set("recordLockAsync", Napi::Function::New(env, RecordLockAsync, "recordLockAsync"));
  Napi::Object c = exports.Get("sysvConstants").As<Napi::Object>();
  c.Set("F_RDLCK", Napi::Number::New(env, F_RDLCK));
  c.Set("F_WRLCK", Napi::Number::New(env, F_WRLCK));
  c.Set("F_UNLCK", Napi::Number::New(env, F_UNLCK));
}

}  // namespace ipcx
