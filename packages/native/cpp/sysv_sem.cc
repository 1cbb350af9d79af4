// System V semaphore sets: semget, semop/semtimedop (atomic over several semaphores, SEM_UNDO), semctl.
// A wait that must block runs on a native waiter thread (waiters.h); SEM_UNDO adjustments made there
// belong to the process, since threads share one undo list (CLONE_SYSVSEM).
#include <sys/ipc.h>
#include <sys/sem.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

union SemUn {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

// sysvSemGet(key, nsems, flags) → id
static Napi::Value SysvSemGet(const Napi::CallbackInfo& info) {
  int32_t key, nsems, flags;
  if (!ArgInt32(info, 0, &key) || !ArgInt32(info, 1, &nsems) || !ArgInt32(info, 2, &flags)) return Napi::Value();
  int id = semget(static_cast<key_t>(key), nsems, flags);
  if (id < 0) return ThrowErrno(info.Env(), errno, "semget");
  return Napi::Number::New(info.Env(), id);
}

// ops: Int32Array of (index, delta, flags) triples.
static bool ReadOps(const Napi::CallbackInfo& info, size_t i, std::vector<struct sembuf>* ops) {
  void* data;
  size_t len;
  if (!ArgTypedArray(info, i, napi_int32_array, &data, &len)) return false;
  if (len == 0 || len % 3 != 0) {
    ThrowRangeError(info.Env(), "ops must hold (index, delta, flags) triples");
    return false;
  }
  const int32_t* p = static_cast<const int32_t*>(data);
  ops->resize(len / 3);
  for (size_t k = 0; k < ops->size(); k++) {
    (*ops)[k].sem_num = static_cast<unsigned short>(p[k * 3]);
    (*ops)[k].sem_op = static_cast<short>(p[k * 3 + 1]);
    (*ops)[k].sem_flg = static_cast<short>(p[k * 3 + 2]);
  }
  return true;
}

/** Remaining time to `deadline` on CLOCK_MONOTONIC as a relative timespec; false once it passed. */
static bool Remaining(const struct timespec& deadline, struct timespec* out) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long ns = (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
  if (ns <= 0) return false;
  out->tv_sec = ns / 1000000000LL;
  out->tv_nsec = ns % 1000000000LL;
  return true;
}

/** One semop to completion: 1 done, 0 would block (IPC_NOWAIT) or timed out, or -errno. */
static int DoSemop(int id, std::vector<struct sembuf>& ops, bool bounded, const struct timespec& deadline,
                   const std::atomic<bool>* cancelled) {
  for (;;) {
    int rc;
    if (bounded) {
      struct timespec rel;
      if (!Remaining(deadline, &rel)) return 0;
      rc = semtimedop(id, ops.data(), ops.size(), &rel);
    } else {
      rc = semop(id, ops.data(), ops.size());
    }
    if (rc == 0) return 1;
    if (errno == EAGAIN) return 0;
    if (errno == EINTR) {
      if (cancelled != nullptr && cancelled->load()) return -ECANCELED;
      continue;
    }
    return -errno;
  }
}

// sysvSemOp(id, ops, timeoutMs) → true done | false would block (IPC_NOWAIT in the flags) or timed out.
// Blocks the calling thread when no op has IPC_NOWAIT (workers only; the TypeScript layer checks).
static Napi::Value SysvSemOp(const Napi::CallbackInfo& info) {
  int32_t id;
  double timeout;
  std::vector<struct sembuf> ops;
  if (!ArgInt32(info, 0, &id) || !ReadOps(info, 1, &ops) || !ArgDouble(info, 2, &timeout)) return Napi::Value();
  struct timespec deadline {};
  bool bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &deadline);
  int r = DoSemop(id, ops, bounded, deadline, nullptr);
  if (r < 0) return ThrowErrno(info.Env(), -r, bounded ? "semtimedop" : "semop");
  return Napi::Boolean::New(info.Env(), r == 1);
}

// A job whose EINTR loop honours cancellation (DoSemop retries EINTR itself unless told to stop).
class SemopAsyncJob : public Job {
 public:
  int id = -1;
  std::vector<struct sembuf> ops;
  bool bounded = false;
  struct timespec deadline {};

  void Run() override {
    syscall = bounded ? "semtimedop" : "semop";
    for (;;) {
      int rc;
      if (bounded) {
        struct timespec rel;
        if (!Remaining(deadline, &rel)) {
          result = 0;
          return;
        }
        rc = semtimedop(id, ops.data(), ops.size(), &rel);
      } else {
        rc = semop(id, ops.data(), ops.size());
      }
      if (rc == 0) {
        result = 1;
        return;
      }
      if (errno == EAGAIN) {
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
};

// sysvSemOpAsync(id, ops, timeoutMs, callback(err, 1 done | 0 timed out)) → job id
static Napi::Value SysvSemOpAsync(const Napi::CallbackInfo& info) {
  int32_t id;
  double timeout;
  napi_value cb;
  auto* job = new SemopAsyncJob();
  if (!ArgInt32(info, 0, &id) || !ReadOps(info, 1, &job->ops) || !ArgDouble(info, 2, &timeout) ||
      !ArgFunction(info, 3, &cb)) {
    delete job;
    return Napi::Value();
  }
  job->id = id;
  job->bounded = DeadlineFromNow(timeout, CLOCK_MONOTONIC, &job->deadline);
  uint32_t jid = EnvData::Get(info.Env())->jobs->Submit(info.Env(), job, cb, nullptr);
  if (jid == 0) return Napi::Value();
  return Napi::Number::New(info.Env(), jid);
}

// sysvSemCtl(id, index, cmd, value) → semctl's result, for GETVAL/SETVAL/GETPID/GETNCNT/GETZCNT
static Napi::Value SysvSemCtl(const Napi::CallbackInfo& info) {
  int32_t id, index, cmd, value;
  if (!ArgInt32(info, 0, &id) || !ArgInt32(info, 1, &index) || !ArgInt32(info, 2, &cmd) || !ArgInt32(info, 3, &value))
    return Napi::Value();
  if (cmd != GETVAL && cmd != SETVAL && cmd != GETPID && cmd != GETNCNT && cmd != GETZCNT)
    return ThrowRangeError(info.Env(), "cmd must be GETVAL, SETVAL, GETPID, GETNCNT or GETZCNT");
  SemUn arg;
  arg.val = value;
  int r = semctl(id, index, cmd, arg);
  if (r < 0) return ThrowErrno(info.Env(), errno, "semctl");
  return Napi::Number::New(info.Env(), r);
}

// sysvSemGetAll(id, out: Uint16Array of nsems)
static Napi::Value SysvSemGetAll(const Napi::CallbackInfo& info) {
  int32_t id;
  void* data;
  size_t len;
  if (!ArgInt32(info, 0, &id) || !ArgTypedArray(info, 1, napi_uint16_array, &data, &len)) return Napi::Value();
  struct semid_ds ds;
  SemUn arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  if (len < ds.sem_nsems) return ThrowRangeError(info.Env(), "out is shorter than the set");
  arg.array = static_cast<unsigned short*>(data);
  if (semctl(id, 0, GETALL, arg) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

// sysvSemSetAll(id, values: Uint16Array of nsems)
static Napi::Value SysvSemSetAll(const Napi::CallbackInfo& info) {
  int32_t id;
  void* data;
  size_t len;
  if (!ArgInt32(info, 0, &id) || !ArgTypedArray(info, 1, napi_uint16_array, &data, &len)) return Napi::Value();
  SemUn arg;
  arg.array = static_cast<unsigned short*>(data);
  if (semctl(id, 0, SETALL, arg) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

// sysvSemStat(id) → [nsems, uid, gid, cuid, cgid, mode, otime, ctime, key]
static Napi::Value SysvSemStat(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  struct semid_ds ds;
  SemUn arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) return ThrowErrno(env, errno, "semctl");
  double v[] = {static_cast<double>(ds.sem_nsems), static_cast<double>(ds.sem_perm.uid),
                static_cast<double>(ds.sem_perm.gid), static_cast<double>(ds.sem_perm.cuid),
                static_cast<double>(ds.sem_perm.cgid), static_cast<double>(ds.sem_perm.mode),
                static_cast<double>(ds.sem_otime), static_cast<double>(ds.sem_ctime),
                static_cast<double>(ds.sem_perm.__key)};
  Napi::Array out = Napi::Array::New(env, 9);
  for (uint32_t i = 0; i < 9; i++) out.Set(i, Napi::Number::New(env, v[i]));
  return out;
}

// sysvSemSet(id, uid, gid, mode)
static Napi::Value SysvSemSet(const Napi::CallbackInfo& info) {
  int32_t id;
  uint32_t uid, gid, mode;
  if (!ArgInt32(info, 0, &id) || !ArgUint32(info, 1, &uid) || !ArgUint32(info, 2, &gid) || !ArgUint32(info, 3, &mode))
    return Napi::Value();
  struct semid_ds ds;
  SemUn arg;
  arg.buf = &ds;
  if (semctl(id, 0, IPC_STAT, arg) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  ds.sem_perm.uid = uid;
  ds.sem_perm.gid = gid;
  ds.sem_perm.mode = mode & 0777;
  if (semctl(id, 0, IPC_SET, arg) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

static Napi::Value SysvSemRemove(const Napi::CallbackInfo& info) {
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  if (semctl(id, 0, IPC_RMID) < 0) return ThrowErrno(info.Env(), errno, "semctl");
  return info.Env().Undefined();
}

void InitSysvSem(Napi::Env env, Napi::Object exports) {
  exports.Set("sysvSemGet", Napi::Function::New(env, SysvSemGet, "sysvSemGet"));
  exports.Set("sysvSemOp", Napi::Function::New(env, SysvSemOp, "sysvSemOp"));
  exports.Set("sysvSemOpAsync", Napi::Function::New(env, SysvSemOpAsync, "sysvSemOpAsync"));
  exports.Set("sysvSemCtl", Napi::Function::New(env, SysvSemCtl, "sysvSemCtl"));
  exports.Set("sysvSemGetAll", Napi::Function::New(env, SysvSemGetAll, "sysvSemGetAll"));
  exports.Set("sysvSemSetAll", Napi::Function::New(env, SysvSemSetAll, "sysvSemSetAll"));
  exports.Set("sysvSemStat", Napi::Function::New(env, SysvSemStat, "sysvSemStat"));
  exports.Set("sysvSemSet", Napi::Function::New(env, SysvSemSet, "sysvSemSet"));
  exports.Set("sysvSemRemove", Napi::Function::New(env, SysvSemRemove, "sysvSemRemove"));
  Napi::Object c = exports.Get("sysvConstants").As<Napi::Object>();
  c.Set("SEM_UNDO", Napi::Number::New(env, SEM_UNDO));
  c.Set("GETVAL", Napi::Number::New(env, GETVAL));
  c.Set("SETVAL", Napi::Number::New(env, SETVAL));
  c.Set("GETPID", Napi::Number::New(env, GETPID));
  c.Set("GETNCNT", Napi::Number::New(env, GETNCNT));
  c.Set("GETZCNT", Napi::Number::New(env, GETZCNT));
  c.Set("SEMVMX", Napi::Number::New(env, 32767));
}

}  // namespace ipcx
