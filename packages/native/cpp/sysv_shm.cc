// System V shared memory: shmget, shmat (as a SharedArrayBuffer), shmctl, ftok.
//
// The attachment lives as long as a SharedArrayBuffer over it: the buffer's deleter munmaps the range,
// which detaches the segment (the kernel counts attachments per mapping, so munmap is shmdt). An explicit
// detach (close) cannot unmap memory that JavaScript may still touch; it replaces the attachment with
// private zero pages in one mmap(MAP_FIXED) (the kernel drops the attachment as the old mapping goes), and
// the deleter later unmaps those.
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include <cerrno>

#include "common.h"
#include "exports.h"
#include "sab.h"

namespace ipcx {

// sysvFtok(path, id) → key
static Napi::Value SysvFtok(const Napi::CallbackInfo& info) {
  std::string path;
  int32_t id;
  if (!ArgString(info, 0, &path) || !ArgInt32(info, 1, &id)) return Napi::Value();
  key_t key = ftok(path.c_str(), id);
  if (key == -1) return ThrowErrno(info.Env(), errno, "ftok");
  return Napi::Number::New(info.Env(), key);
}

// sysvShmGet(key, size, flags) → id
static Napi::Value SysvShmGet(const Napi::CallbackInfo& info) {
  int32_t key, flags;
  double size;
  if (!ArgInt32(info, 0, &key) || !ArgDouble(info, 1, &size) || !ArgInt32(info, 2, &flags)) return Napi::Value();
  int id = shmget(static_cast<key_t>(key), static_cast<size_t>(size), flags);
  if (id < 0) return ThrowErrno(info.Env(), errno, "shmget");
  return Napi::Number::New(info.Env(), id);
}

// sysvShmAttach(id) → SharedArrayBuffer over the whole segment (read-write: a read-only mapping behind a
// SharedArrayBuffer would crash the process on the first write from JavaScript).
static Napi::Value SysvShmAttach(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  size_t size = ds.shm_segsz;
  void* data = shmat(id, nullptr, 0);
  if (data == reinterpret_cast<void*>(-1)) return ThrowErrno(env, errno, "shmat");
  napi_value sab = NewMappedSharedArrayBuffer(env, data, size);
  if (sab == nullptr) return Napi::Value();
  return Napi::Value(env, sab);
}

// sysvShmDetach(view: Uint8Array over the whole attachment): replaces it with private zero pages.
static Napi::Value SysvShmDetach(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (info.Length() < 1 ||
      napi_get_typedarray_info(env, info[0], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array)
    return ThrowTypeError(env, "argument 0 must be a Uint8Array over the attachment");
  if (length == 0) return info.Env().Undefined();
  void* r = mmap(data, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (r == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  return info.Env().Undefined();
}

// sysvShmStat(id) → [size, uid, gid, cuid, cgid, mode, cpid, lpid, nattch, atime, dtime, ctime, key]
static Napi::Value SysvShmStat(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "shmctl");
  double v[] = {static_cast<double>(ds.shm_segsz), static_cast<double>(ds.shm_perm.uid),
                static_cast<double>(ds.shm_perm.gid), static_cast<double>(ds.shm_perm.cuid),
                static_cast<double>(ds.shm_perm.cgid), static_cast<double>(ds.shm_perm.mode),
                static_cast<double>(ds.shm_cpid), static_cast<double>(ds.shm_lpid),
                static_cast<double>(ds.shm_nattch), static_cast<double>(ds.shm_atime),
                static_cast<double>(ds.shm_dtime), static_cast<double>(ds.shm_ctime),
                static_cast<double>(ds.shm_perm.__key)};
  Napi::Array out = Napi::Array::New(env, 13);
  for (uint32_t i = 0; i < 13; i++) out.Set(i, Napi::Number::New(env, v[i]));
  return out;
}

// sysvShmSet(id, uid, gid, mode)
static Napi::Value SysvShmSet(const Napi::CallbackInfo& info) {
  int32_t id;
  uint32_t uid, gid, mode;
  if (!ArgInt32(info, 0, &id) || !ArgUint32(info, 1, &uid) || !ArgUint32(info, 2, &gid) || !ArgUint32(info, 3, &mode))
    return Napi::Value();
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(info.Env(), errno, "shmctl");
  ds.shm_perm.uid = uid;
  ds.shm_perm.gid = gid;
  ds.shm_perm.mode = mode & 0777;
  if (shmctl(id, IPC_SET, &ds) != 0) return ThrowErrno(info.Env(), errno, "shmctl");
  return info.Env().Undefined();
}

// sysvShmRemove(id): IPC_RMID (the segment goes when its last attachment does)
static Napi::Value SysvShmRemove(const Napi::CallbackInfo& info) {
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  if (shmctl(id, IPC_RMID, nullptr) != 0) return ThrowErrno(info.Env(), errno, "shmctl");
  return info.Env().Undefined();
}

// sysvShmLock(id, on): SHM_LOCK / SHM_UNLOCK
static Napi::Value SysvShmLock(const Napi::CallbackInfo& info) {
  int32_t id;
  bool on;
  if (!ArgInt32(info, 0, &id) || !ArgBool(info, 1, &on)) return Napi::Value();
  if (shmctl(id, on ? SHM_LOCK : SHM_UNLOCK, nullptr) != 0) return ThrowErrno(info.Env(), errno, "shmctl");
  return info.Env().Undefined();
}

void InitSysvShm(Napi::Env env, Napi::Object exports) {
  exports.Set("sysvFtok", Napi::Function::New(env, SysvFtok, "sysvFtok"));
  exports.Set("sysvShmGet", Napi::Function::New(env, SysvShmGet, "sysvShmGet"));
  exports.Set("sysvShmAttach", Napi::Function::New(env, SysvShmAttach, "sysvShmAttach"));
  exports.Set("sysvShmDetach", Napi::Function::New(env, SysvShmDetach, "sysvShmDetach"));
  exports.Set("sysvShmStat", Napi::Function::New(env, SysvShmStat, "sysvShmStat"));
  exports.Set("sysvShmSet", Napi::Function::New(env, SysvShmSet, "sysvShmSet"));
  exports.Set("sysvShmRemove", Napi::Function::New(env, SysvShmRemove, "sysvShmRemove"));
  exports.Set("sysvShmLock", Napi::Function::New(env, SysvShmLock, "sysvShmLock"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("IPC_CREAT", Napi::Number::New(env, IPC_CREAT));
  c.Set("IPC_EXCL", Napi::Number::New(env, IPC_EXCL));
  c.Set("IPC_NOWAIT", Napi::Number::New(env, IPC_NOWAIT));
  c.Set("IPC_PRIVATE", Napi::Number::New(env, IPC_PRIVATE));
  c.Set("SHMLBA", Napi::Number::New(env, SHMLBA));
  exports.Set("sysvConstants", c);
}

}  // namespace ipcx
