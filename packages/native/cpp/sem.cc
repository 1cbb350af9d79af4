// POSIX named semaphores. The sem_t* is closed when the last user lets go: the JS handle (close() or
// collection) and every pending waitAsync job each hold a reference, so a waiter thread never touches a
// closed semaphore.
#include <fcntl.h>
#include <semaphore.h>

#include <memory>
#include <set>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

struct SemState {
  sem_t* sem = nullptr;
  ~SemState() {
    if (sem != nullptr) sem_close(sem);
  }
};

class Semaphore;

class SemJob : public Job {
 public:
  std::shared_ptr<SemState> state;
  Semaphore* owner = nullptr;
  bool bounded = false;
  struct timespec deadline {};

  void Run() override {
    syscall = "sem_clockwait";
    for (;;) {
      int rc = bounded ? sem_clockwait(state->sem, CLOCK_MONOTONIC, &deadline) : sem_wait(state->sem);
      if (rc == 0) {
        result = 1;
        return;
      }
      if (errno == ETIMEDOUT) {
        result = 0;
        return;
      }
      if (errno == EINTR) {
        if (Cancelled()) {
          err = ECANCELED;
          return;
        }
        continue;
      }
      err = errno;
      return;
    }
  }
  void Complete(napi_env env) override;
};

class Semaphore : public Napi::ObjectWrap<Semaphore> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Semaphore",
                       {
                           InstanceMethod<&Semaphore::Post>("post"),
                           InstanceMethod<&Semaphore::Wait>("wait"),
                           InstanceMethod<&Semaphore::WaitAsync>("waitAsync"),
                           InstanceMethod<&Semaphore::TryWait>("tryWait"),
                           InstanceMethod<&Semaphore::GetValue>("value"),
                           InstanceMethod<&Semaphore::Close>("close"),
                       });
  }

  // new Semaphore(name, oflag, mode, value)
  explicit Semaphore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Semaphore>(info) {
    std::string name;
    int32_t oflag;
    uint32_t mode, value;
    if (!ArgString(info, 0, &name) || !ArgInt32(info, 1, &oflag) || !ArgUint32(info, 2, &mode) ||
        !ArgUint32(info, 3, &value))
      return;
    sem_t* s = sem_open(name.c_str(), oflag & (O_CREAT | O_EXCL), static_cast<mode_t>(mode), value);
    if (s == SEM_FAILED) {
      ThrowErrno(info.Env(), errno, "sem_open");
      return;
    }
    state_ = std::make_shared<SemState>();
    state_->sem = s;
  }

  void JobDone(uint32_t id) { pending_.erase(id); }

 private:
  bool Closed(const Napi::CallbackInfo& info, const char* syscall) {
    if (state_) return false;
    ThrowErrno(info.Env(), EBADF, syscall);
    return true;
  }

  Napi::Value Post(const Napi::CallbackInfo& info) {
    if (Closed(info, "sem_post")) return Napi::Value();
    if (sem_post(state_->sem) != 0) return ThrowErrno(info.Env(), errno, "sem_post");
    return info.Env().Undefined();
  }

  // wait(timeoutMs) → true acquired | false timed out. Blocks the calling thread (for workers).
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    double timeout;
    if (!ArgDouble(info, 0, &timeout) || Closed(info, "sem_wait")) return Napi::Value();
    struct timespec deadline;
    bool bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &deadline);
    for (;;) {
      int rc = bounded ? sem_clockwait(state_->sem, CLOCK_MONOTONIC, &deadline) : sem_wait(state_->sem);
      if (rc == 0) return Napi::Boolean::New(info.Env(), true);
      if (errno == ETIMEDOUT) return Napi::Boolean::New(info.Env(), false);
      if (errno != EINTR) return ThrowErrno(info.Env(), errno, bounded ? "sem_clockwait" : "sem_wait");
    }
  }

  // waitAsync(timeoutMs, callback(err, 1 | 0)) → job id
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    double timeout;
    napi_value cb;
    if (!ArgDouble(info, 0, &timeout) || !ArgFunction(info, 1, &cb) || Closed(info, "sem_wait"))
      return Napi::Value();
    auto* job = new SemJob();
    job->state = state_;
    job->owner = this;
    job->bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &job->deadline);
    // keep_alive = this wrapper, so `owner` stays valid until the job completes.
    uint32_t id = EnvData::Get(info.Env())->jobs->Submit(info.Env(), job, cb, info.This());
    if (id == 0) return Napi::Value();
    pending_.insert(id);
    return Napi::Number::New(info.Env(), id);
  }

  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    if (Closed(info, "sem_trywait")) return Napi::Value();
    while (sem_trywait(state_->sem) != 0) {
      if (errno == EAGAIN) return Napi::Boolean::New(info.Env(), false);
      if (errno != EINTR) return ThrowErrno(info.Env(), errno, "sem_trywait");
    }
    return Napi::Boolean::New(info.Env(), true);
  }

  Napi::Value GetValue(const Napi::CallbackInfo& info) {
    if (Closed(info, "sem_getvalue")) return Napi::Value();
    int v = 0;
    if (sem_getvalue(state_->sem, &v) != 0) return ThrowErrno(info.Env(), errno, "sem_getvalue");
    return Napi::Number::New(info.Env(), v);
  }

  // close(): pending waitAsync calls complete with ECANCELED; sem_close runs after the last of them.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto* jobs = EnvData::Get(info.Env())->jobs.get();
    std::set<uint32_t> pending = pending_;
    for (uint32_t id : pending) jobs->Cancel(id);
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<SemState> state_;
  std::set<uint32_t> pending_;
};

void SemJob::Complete(napi_env env) {
  owner->JobDone(id());
  Job::Complete(env);
}

static Napi::Value SemUnlink(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, &name)) return Napi::Value();
  if (sem_unlink(name.c_str()) != 0) return ThrowErrno(info.Env(), errno, "sem_unlink");
  return info.Env().Undefined();
}

void InitSem(Napi::Env env, Napi::Object exports) {
  exports.Set("Semaphore", Semaphore::Define(env));
  exports.Set("semUnlink", Napi::Function::New(env, SemUnlink, "semUnlink"));
}

}  // namespace ipcx
