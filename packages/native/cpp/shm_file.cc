// Named segments as kept-open files of /dev/shm, and liveness the kernel vouches for:
// - shmTmpfile: an unnamed inode (O_TMPFILE) sized and reserved, to be initialised before anyone can see it;
// - linkFd: gives it its name atomically (linkat fails with EEXIST: exactly one creator wins);
// - shmMapFd: maps a descriptor as a SharedArrayBuffer;
// - ofdLock / ofdHeld: open-file-description byte-range locks (F_OFD_SETLK / F_OFD_GETLK). The kernel drops
//   them when the last descriptor of the description closes, so when the holder dies however it dies; they
//   are keyed on the inode, not on a pid, so they hold across PID namespaces and pid reuse;
// - atExit / cancelAtExit: an action run when this thread's Node environment ends (a worker that throws,
//   exits or is terminated): close a descriptor (its OFD locks go) and/or store a value into an Int32Array
//   element and futex-wake it. Threads of one process share descriptors, so a thread's death is otherwise
//   invisible to the kernel.
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <map>
#include <mutex>

#include "common.h"
#include "exports.h"
#include "sab.h"

namespace ipcx {

// shmTmpfile(dir, mode, size) → fd of a new unnamed file in `dir`, with exactly `mode` (umask ignored).
static Napi::Value ShmTmpfile(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  std::string dir;
  uint32_t mode;
  double size;
  if (!ArgString(info, 0, &dir) || !ArgUint32(info, 1, &mode) || !ArgDouble(info, 2, &size)) return Napi::Value();
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, static_cast<mode_t>(mode & 07777));
  if (fd < 0) return ThrowErrno(env, errno, "open");
  if (fchmod(fd, static_cast<mode_t>(mode & 07777)) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    return ThrowErrno(env, e, "ftruncate");
  }
  // As shm.cc: reserve the pages, so that a full tmpfs is ENOSPC here rather than SIGBUS on a later write.
  if (size > 0) {
    int e = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (e != 0 && e != EOPNOTSUPP) {
      close(fd);
      return ThrowErrno(env, e, "posix_fallocate");
    }
  }
  return Napi::Number::New(env, fd);
}

// shmMapFd(fd) → SharedArrayBuffer over the whole file, or undefined when it is empty.
static Napi::Value ShmMapFd(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t fd;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  struct stat st;
  if (fstat(fd, &st) != 0) return ThrowErrno(env, errno, "fstat");
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) return info.Env().Undefined();
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return ThrowErrno(env, errno, "mmap");
  napi_value sab = NewMappedSharedArrayBuffer(env, data, size);
  if (sab == nullptr) return Napi::Value();
  return Napi::Value(env, sab);
}

// linkFd(fd, path): names the (unnamed or named) file of `fd` at `path`; EEXIST when the path exists.
static Napi::Value LinkFd(const Napi::CallbackInfo& info) {
  int32_t fd;
  std::string path;
  if (!ArgInt32(info, 0, &fd) || !ArgString(info, 1, &path)) return Napi::Value();
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) return ThrowErrno(info.Env(), errno, "linkat");
  return info.Env().Undefined();
}

static bool ReadRange(const Napi::CallbackInfo& info, size_t i, struct flock* fl) {
  double start, len;
  if (!ArgDouble(info, i, &start) || !ArgDouble(info, i + 1, &len)) return false;
  fl->l_whence = SEEK_SET;
  fl->l_start = static_cast<off_t>(start);
  fl->l_len = static_cast<off_t>(len);
  fl->l_pid = 0;
  return true;
}

// ofdLock(fd, type, start, len) → true, or false when another open file description holds a conflicting
// lock. type: 0 unlock, 1 read (shared), 2 write (exclusive). Never waits.
static Napi::Value OfdLock(const Napi::CallbackInfo& info) {
  int32_t fd, type;
  struct flock fl {};
  if (!ArgInt32(info, 0, &fd) || !ArgInt32(info, 1, &type) || !ReadRange(info, 2, &fl)) return Napi::Value();
  fl.l_type = type == 0 ? F_UNLCK : type == 1 ? F_RDLCK : F_WRLCK;
  while (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "fcntl");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// ofdHeld(fd, start, len) → 0 when no other open file description locks any byte of the range, 1 when one
// holds a read lock there, 2 a write lock.
static Napi::Value OfdHeld(const Napi::CallbackInfo& info) {
  int32_t fd;
  struct flock fl {};
  if (!ArgInt32(info, 0, &fd) || !ReadRange(info, 1, &fl)) return Napi::Value();
  fl.l_type = F_WRLCK;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return ThrowErrno(info.Env(), errno, "fcntl");
  return Napi::Number::New(info.Env(), fl.l_type == F_UNLCK ? 0 : fl.l_type == F_RDLCK ? 1 : 2);
}

struct ExitAction {
  uint32_t id = 0;
  napi_env env = nullptr;
  int fd = -1;
  int32_t* addr = nullptr;
  int32_t value = 0;
  napi_ref ref = nullptr;  // keeps the Int32Array (and its memory) alive until the action ran or was cancelled
};

static std::mutex exit_mutex;
static std::map<uint32_t, ExitAction*> exit_actions;
static uint32_t next_exit_id = 1;

static void RunExitAction(void* arg) {
  auto* action = static_cast<ExitAction*>(arg);
  {
    std::lock_guard<std::mutex> lock(exit_mutex);
    exit_actions.erase(action->id);
  }
  if (action->addr != nullptr) {
    __atomic_store_n(action->addr, action->value, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, action->addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
  if (action->fd >= 0) close(action->fd);
  // The environment is going away with its references; deleting ours here could touch a dying heap.
  delete action;
}

// atExit(fd, i32 | undefined, index, value) → id. When this thread's environment ends: store `value` into
// i32[index] (and futex-wake it), then close `fd` (when >= 0).
static Napi::Value AtExit(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t fd, index = 0, value = 0;
  if (!ArgInt32(info, 0, &fd)) return Napi::Value();
  auto* action = new ExitAction();
  action->env = env;
  action->fd = fd;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    void* data;
    size_t length;
    if (!ArgTypedArray(info, 1, napi_int32_array, &data, &length) || !ArgInt32(info, 2, &index) || !ArgInt32(info, 3, &value)) {
      delete action;
      return Napi::Value();
    }
    if (index < 0 || static_cast<size_t>(index) >= length) {
      delete action;
      return ThrowRangeError(env, "index out of range");
    }
    action->addr = static_cast<int32_t*>(data) + index;
    action->value = value;
    napi_create_reference(env, info[1], 1, &action->ref);
  }
  {
    std::lock_guard<std::mutex> lock(exit_mutex);
    action->id = next_exit_id++;
    if (next_exit_id == 0) next_exit_id = 1;
    exit_actions[action->id] = action;
  }
  napi_add_env_cleanup_hook(env, RunExitAction, action);
  return Napi::Number::New(env, action->id);
}

// cancelAtExit(id, run): forgets the action; with `run`, performs it now. Unknown ids are ignored.
static Napi::Value CancelAtExit(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  uint32_t id;
  bool run = false;
  if (!ArgUint32(info, 0, &id) || !ArgBool(info, 1, &run)) return Napi::Value();
  ExitAction* action = nullptr;
  {
    std::lock_guard<std::mutex> lock(exit_mutex);
    auto it = exit_actions.find(id);
    if (it == exit_actions.end() || it->second->env != env) return info.Env().Undefined();
    action = it->second;
    exit_actions.erase(it);
  }
  napi_remove_env_cleanup_hook(env, RunExitAction, action);
  if (action->ref != nullptr) {
    if (run && action->addr != nullptr) {
      __atomic_store_n(action->addr, action->value, __ATOMIC_SEQ_CST);
      syscall(SYS_futex, action->addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
    }
    napi_delete_reference(env, action->ref);
  }
  if (run && action->fd >= 0) close(action->fd);
  delete action;
  return info.Env().Undefined();
}

void InitShmFile(Napi::Env env, Napi::Object exports) {
  exports.Set("shmTmpfile", Napi::Function::New(env, ShmTmpfile, "shmTmpfile"));
  exports.Set("shmMapFd", Napi::Function::New(env, ShmMapFd, "shmMapFd"));
  exports.Set("linkFd", Napi::Function::New(env, LinkFd, "linkFd"));
  exports.Set("ofdLock", Napi::Function::New(env, OfdLock, "ofdLock"));
  exports.Set("ofdHeld", Napi::Function::New(env, OfdHeld, "ofdHeld"));
  exports.Set("atExit", Napi::Function::New(env, AtExit, "atExit"));
  exports.Set("cancelAtExit", Napi::Function::New(env, CancelAtExit, "cancelAtExit"));
}

}  // namespace ipcx
