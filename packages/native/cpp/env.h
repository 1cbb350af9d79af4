// Per-environment (main thread or worker thread) state of the addon, and the teardown of its libuv handles.
//
// Node tears a worker's environment down while our uv handles (FdWatcher polls, the signal pipe poll, the
// waiter completion async) may still be open; the loop must see them closed first. An async cleanup hook
// closes every handle still registered and returns only when the last close callback has run.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdlib>
#include <memory>
#include <set>

namespace ipcx {

class JobHub;

/** Something that owns uv handles and must close them when its environment goes away. */
class HandleOwner {
 public:
  virtual ~HandleOwner() = default;
  virtual void CloseForTeardown() = 0;
};

struct EnvData {
  napi_env env = nullptr;
  uv_loop_t* loop = nullptr;
  bool tearing_down = false;
  napi_ref resource = nullptr;              // async resource for callbacks into JS
  napi_async_context context = nullptr;
  std::shared_ptr<JobHub> jobs;
  std::set<HandleOwner*> owners;
  std::set<int> watched_fds;  // FdWatcher: libuv misbehaves with two polls on one descriptor

  static EnvData* Get(napi_env env);
  static void Install(napi_env env);

  /** Owners hold a reference so that EnvData outlives the objects that point at it. */
  void Acquire() { refs_++; }
  void Release() {
    if (--refs_ == 0) delete this;
  }

  /** uv_close + free for a handle allocated with NewHandle<T>(); counted so teardown can wait for it. */
  void CloseHandle(uv_handle_t* handle);

  /** Calls `fn` inside a handle scope and callback scope with this environment's async context. */
  template <typename Fn>
  void Call(Fn&& fn);

 private:
  static void OnCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  static void OnHandleClosed(uv_handle_t* handle);
  void MaybeFinishTeardown();

  int refs_ = 1;  // the instance-data finalizer's reference
  int closing_ = 0;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
};

template <typename T>
T* NewHandle() {
  return static_cast<T*>(std::calloc(1, sizeof(T)));
}

}  // namespace ipcx

#include "common.h"

namespace ipcx {
template <typename Fn>
void EnvData::Call(Fn&& fn) {
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value res;
  napi_get_reference_value(env, resource, &res);
  WithCallbackScope(env, res, context, fn);
  napi_close_handle_scope(env, hs);
}
}  // namespace ipcx
