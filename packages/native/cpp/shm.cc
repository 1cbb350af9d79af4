// POSIX shared memory: shm_open + (ftruncate) + fstat + mmap, then the descriptor is closed; the mapping
// lives as long as a SharedArrayBuffer over it (see sab.cc).
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "exports.h"
#include "sab.h"

namespace ipcx {

// shmOpen(name, oflag, mode, truncateTo) → SharedArrayBuffer | undefined (object of size 0)
// Always O_RDWR + PROT_READ|PROT_WRITE: a read-only mapping behind a SharedArrayBuffer would crash the
// process on the first write from JavaScript.
static Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string name;
  int32_t oflag;
  uint32_t mode;
  double truncate_to;
  if (!ArgString(info, 0, &name) || !ArgInt32(info, 1, &oflag) || !ArgUint32(info, 2, &mode) ||
      !ArgDouble(info, 3, &truncate_to))
    return Napi::Value();
  oflag = (oflag & (O_CREAT | O_EXCL)) | O_RDWR | O_CLOEXEC;
  int fd = shm_open(name.c_str(), oflag, static_cast<mode_t>(mode));
  if (fd < 0) return ThrowErrno(env, errno, "shm_open");
  if (truncate_to >= 0 && ftruncate(fd, static_cast<off_t>(truncate_to)) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "ftruncate");
  }
  // ftruncate on tmpfs makes a sparse file whatever the room: the process would die of SIGBUS on its first
  // write past what tmpfs can hold. Reserving the pages now turns that into ENOSPC here. A segment this call
  // created exclusively is removed again; one it may have found is left as it was sized.
  if (truncate_to > 0) {
    int e = posix_fallocate(fd, 0, static_cast<off_t>(truncate_to));
    if (e != 0 && e != EOPNOTSUPP) {
      if ((oflag & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) shm_unlink(name.c_str());
      close(fd);
      return ThrowErrno(env, e, "posix_fallocate");
    }
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "fstat");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return info.Env().Undefined();
  }
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (data == MAP_FAILED) return ThrowErrno(env, e, "mmap");
  napi_value sab = NewMappedSharedArrayBuffer(env, data, size);
  if (sab == nullptr) return Napi::Value();
  return Napi::Value(env, sab);
}

static Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  std::string name;
  if (!ArgString(info, 0, &name)) return Napi::Value();
  if (shm_unlink(name.c_str()) != 0) return ThrowErrno(info.Env(), errno, "shm_unlink");
  return info.Env().Undefined();
}

// shmStat(name) → [size, uid, gid, mode]
static Napi::Value ShmStat(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, &name)) return Napi::Value();
  int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "shm_open");
  struct stat st;
  int rc = fstat(fd, &st);
  int e = errno;
  close(fd);
  if (rc != 0) return ThrowErrno(env, e, "fstat");
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(st.st_size)));
  out.Set(1u, Napi::Number::New(env, st.st_uid));
  out.Set(2u, Napi::Number::New(env, st.st_gid));
  out.Set(3u, Napi::Number::New(env, st.st_mode & 07777));
  return out;
}

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("shmStat", Napi::Function::New(env, ShmStat, "shmStat"));
  exports.Set("sharedArrayBufferImpl", Napi::String::New(env, SharedArrayBufferImpl()));
}

}  // namespace ipcx
