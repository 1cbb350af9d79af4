// flock(2), blocking or not, and a blocking flock on a waiter thread (flockAsync). flock has no timeout:
// a timeout or abort cancels the job, which interrupts the waiting thread (see waiters.h).
#include <sys/file.h>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

// flock(fd, op) → true, or false when LOCK_NB was given and the lock is held elsewhere.
static Napi::Value Flock(const Napi::CallbackInfo& info) {
  int32_t fd, op;
  if (!ArgInt32(info, 0, &fd) || !ArgInt32(info, 1, &op)) return Napi::Value();
  while (flock(fd, op) != 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "flock");
  }
  return Napi::Boolean::New(info.Env(), true);
}

class FlockJob : public Job {
 public:
  int fd = -1;
  int op = 0;
  void Run() override {
    syscall = "flock";
    while (flock(fd, op) != 0) {
      if (errno != EINTR) {
        err = errno;
        return;
      }
      if (Cancelled()) {
        err = ECANCELED;
        return;
      }
    }
  }
};

// flockAsync(fd, op, callback(err)) → job id (cancel with cancelWait(id)).
static Napi::Value FlockAsync(const Napi::CallbackInfo& info) {
  int32_t fd, op;
  napi_value cb;
  if (!ArgInt32(info, 0, &fd) || !ArgInt32(info, 1, &op) || !ArgFunction(info, 2, &cb)) return Napi::Value();
  auto* job = new FlockJob();
  job->fd = fd;
  job->op = op & ~LOCK_NB;
  uint32_t id = EnvData::Get(info.Env())->jobs->Submit(info.Env(), job, cb, nullptr);
  if (id == 0) return Napi::Value();
  return Napi::Number::New(info.Env(), id);
}

void InitFlock(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("flockAsync", Napi::Function::New(env, FlockAsync, "flockAsync"));
}

}  // namespace ipcx
