// futex(2) on an Int32Array element. Shared (not FUTEX_PRIVATE_FLAG) so the kernel keys the wait on the
// page — a MAP_SHARED segment works across processes, and an ordinary SharedArrayBuffer across threads.
// Waits use FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline, so an EINTR retry keeps the
// original deadline instead of restarting the timeout.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "futex_ring.h"
#include "waiters.h"

namespace ipcx {

enum FutexResult { kOk = 0, kNotEqual = 1, kTimedOut = 2 };

static long FutexWaitRaw(int32_t* addr, int32_t value, const struct timespec* deadline) {
  return syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, value, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
}

/** Reads (i32, index) and returns the element's address, or nullptr after throwing. */
static int32_t* Element(const Napi::CallbackInfo& info, napi_value* array = nullptr) {
  void* data;
  size_t length;
  uint32_t index;
  if (!ArgTypedArray(info, 0, napi_int32_array, &data, &length) || !ArgUint32(info, 1, &index)) return nullptr;
  if (index >= length) {
    ThrowRangeError(info.Env(), "index out of range");
    return nullptr;
  }
  if (array) *array = info[0];
  return static_cast<int32_t*>(data) + index;
}

// futexWait(i32, index, value, timeoutMs) → 0 ok | 1 not-equal | 2 timed-out. timeoutMs < 0: forever.
static Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  int32_t* addr = Element(info);
  int32_t value;
  double timeout;
  if (addr == nullptr || !ArgInt32(info, 2, &value) || !ArgDouble(info, 3, &timeout)) return Napi::Value();
  struct timespec deadline;
  bool bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &deadline);
  for (;;) {
    if (FutexWaitRaw(addr, value, bounded ? &deadline : nullptr) == 0) return Napi::Number::New(info.Env(), kOk);
    if (errno == EAGAIN) return Napi::Number::New(info.Env(), kNotEqual);
    if (errno == ETIMEDOUT) return Napi::Number::New(info.Env(), kTimedOut);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "futex");
  }
}

class FutexJob : public Job {
 public:
  int32_t* addr = nullptr;
  int32_t value = 0;
  bool bounded = false;
  struct timespec deadline {};

  bool SubmitToRing(JobHub& hub) override {
    FutexRing* ring = hub.Ring();
    return ring != nullptr && ring->Wait(id(), addr, value, bounded ? &deadline : nullptr);
  }

  void RingResult(int32_t res) override {
    syscall = "futex";
    if (res == 0) {
      result = kOk;
    } else if (res == -EAGAIN) {
      result = kNotEqual;
    } else if (res == -ECANCELED || res == -ETIME) {
      // The link timeout cancels the wait when the deadline passes; cancelWait cancels it too.
      if (Cancelled())
        err = ECANCELED;
      else
        result = kTimedOut;
    } else if (res == -EINTR) {
      result = kOk;  // woken for no reason: the caller looks at the word again, as after any wake-up
    } else {
      err = -res;
    }
  }

  void Run() override {
    syscall = "futex";
    for (;;) {
      if (FutexWaitRaw(addr, value, bounded ? &deadline : nullptr) == 0) {
        result = kOk;
        return;
      }
      if (errno == EAGAIN) {
        result = kNotEqual;
        return;
      }
      if (errno == ETIMEDOUT) {
        result = kTimedOut;
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
};

// futexWaitAsync(i32, index, value, timeoutMs, callback(err, result)) → job id.
// The job holds a strong reference to the Int32Array (and so to its buffer) until it completes.
static Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  napi_value array, cb;
  int32_t* addr = Element(info, &array);
  int32_t value;
  double timeout;
  if (addr == nullptr || !ArgInt32(info, 2, &value) || !ArgDouble(info, 3, &timeout) || !ArgFunction(info, 4, &cb))
    return Napi::Value();
  auto* job = new FutexJob();
  job->addr = addr;
  job->value = value;
  job->bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &job->deadline);
  uint32_t id = EnvData::Get(info.Env())->jobs->Submit(info.Env(), job, cb, array);
  if (id == 0) return Napi::Value();
  return Napi::Number::New(info.Env(), id);
}

// futexWake(i32, index, count) → number of waiters woken. count < 0 or > INT_MAX: all.
static Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  int32_t* addr = Element(info);
  double count;
  if (addr == nullptr || !ArgDouble(info, 2, &count)) return Napi::Value();
  int n = (count < 0 || count > INT_MAX) ? INT_MAX : static_cast<int>(count);
  long rc = syscall(SYS_futex, addr, FUTEX_WAKE, n, nullptr, nullptr, 0);
  if (rc < 0) return ThrowErrno(info.Env(), errno, "futex");
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

// cancelWait(id): the pending wait completes with ECANCELED (unknown or finished ids are ignored).
static Napi::Value CancelWait(const Napi::CallbackInfo& info) {
  uint32_t id;
  if (!ArgUint32(info, 0, &id)) return Napi::Value();
  EnvData::Get(info.Env())->jobs->Cancel(id);
  return info.Env().Undefined();
}

// waiterStats() → [threads, idle, pendingInThisEnv, 1 when this env's futex waits use io_uring (after its first)]
static Napi::Value WaiterStats(const Napi::CallbackInfo& info) {
  int threads, idle;
  PoolStats(&threads, &idle);
  JobHub* jobs = EnvData::Get(info.Env())->jobs.get();
  Napi::Array out = Napi::Array::New(info.Env(), 4);
  out.Set(0u, Napi::Number::New(info.Env(), threads));
  out.Set(1u, Napi::Number::New(info.Env(), idle));
  out.Set(2u, Napi::Number::New(info.Env(), static_cast<double>(jobs->Pending())));
  out.Set(3u, Napi::Number::New(info.Env(), jobs->HasRing() ? 1 : 0));
  return out;
}

// setNextWaitId(id), for tests: the id the next wait of this thread is given, to reach the wrap of the 32-bit ids.
static Napi::Value SetNextWaitId(const Napi::CallbackInfo& info) {
  uint32_t id;
  if (!ArgUint32(info, 0, &id)) return Napi::Value();
  EnvData::Get(info.Env())->jobs->SetNextId(id);
  return info.Env().Undefined();
}

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("futexWait", Napi::Function::New(env, FutexWait, "futexWait"));
  exports.Set("futexWaitAsync", Napi::Function::New(env, FutexWaitAsync, "futexWaitAsync"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWake, "futexWake"));
  exports.Set("cancelWait", Napi::Function::New(env, CancelWait, "cancelWait"));
  exports.Set("waiterStats", Napi::Function::New(env, WaiterStats, "waiterStats"));
  exports.Set("setNextWaitId", Napi::Function::New(env, SetNextWaitId, "setNextWaitId"));
}

}  // namespace ipcx
