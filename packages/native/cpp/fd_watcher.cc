// FdWatcher: a uv_poll_t over any descriptor. The callback gets (error | null, events) with events a bitmask
// of 1 = readable, 2 = writable (UV_READABLE, UV_WRITABLE); the TypeScript class turns it into an object.
// While started, the JS wrapper is held strongly so an active watcher is not collected. One watcher per
// descriptor per thread (EEXIST): libuv does not support two polls on one descriptor.
#include "common.h"
#include "env.h"
#include "exports.h"

namespace ipcx {

class FdWatcher : public Napi::ObjectWrap<FdWatcher>, public HandleOwner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {
                           InstanceMethod<&FdWatcher::Start>("start"),
                           InstanceMethod<&FdWatcher::Stop>("stop"),
                           InstanceMethod<&FdWatcher::Close>("close"),
                           InstanceMethod<&FdWatcher::Ref>("ref"),
                           InstanceMethod<&FdWatcher::Unref>("unref"),
                       });
  }

  // new FdWatcher(fd, callback)
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    int32_t fd;
    napi_value cb;
    if (!ArgInt32(info, 0, &fd) || !ArgFunction(info, 1, &cb)) return;
    data_ = EnvData::Get(info.Env());
    data_->Acquire();
    if (data_->watched_fds.count(fd) != 0) {
      ThrowErrno(info.Env(), EEXIST, "uv_poll_init");
      return;
    }
    handle_ = NewHandle<uv_poll_t>();
    int rc = uv_poll_init(data_->loop, handle_, fd);
    if (rc != 0) {
      std::free(handle_);
      handle_ = nullptr;
      ThrowErrno(info.Env(), -rc, "uv_poll_init");
      return;
    }
    handle_->data = this;
    fd_ = fd;
    data_->watched_fds.insert(fd);
    data_->owners.insert(this);
    callback_ = Napi::Persistent(Napi::Function(info.Env(), cb));
  }

  ~FdWatcher() override {
    CloseHandle();
    if (data_) data_->Release();
  }

  void CloseForTeardown() override { CloseHandle(); }

 private:
  void CloseHandle() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    data_->owners.erase(this);
    data_->watched_fds.erase(fd_);
    data_->CloseHandle(reinterpret_cast<uv_handle_t*>(handle_));
    handle_ = nullptr;
  }

  // start(events: 1 readable | 2 writable)
  Napi::Value Start(const Napi::CallbackInfo& info) {
    int32_t events;
    if (!ArgInt32(info, 0, &events)) return Napi::Value();
    if (handle_ == nullptr) return ThrowErrno(info.Env(), EBADF, "uv_poll_start");
    int rc = uv_poll_start(handle_, events & (UV_READABLE | UV_WRITABLE), OnPoll);
    if (rc != 0) return ThrowErrno(info.Env(), -rc, "uv_poll_start");
    Hold(true);
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    Hold(false);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseHandle();
    Hold(false);
    callback_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  void Hold(bool on) {
    if (on && !held_) {
      Napi::ObjectWrap<FdWatcher>::Ref();
      held_ = true;
    } else if (!on && held_) {
      Napi::ObjectWrap<FdWatcher>::Unref();
      held_ = false;
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self->callback_.IsEmpty()) return;
    napi_env env = self->data_->env;
    self->data_->Call([&] {
      napi_value argv[2], recv, fn;
      if (status < 0) {
        argv[0] = MakeErrnoError(env, -status, "uv_poll");
      } else {
        napi_get_null(env, &argv[0]);
      }
      napi_create_int32(env, events, &argv[1]);
      recv = self->Value();
      fn = self->callback_.Value();
      napi_call_function(env, recv, fn, 2, argv, nullptr);
    });
  }

  EnvData* data_ = nullptr;
  uv_poll_t* handle_ = nullptr;
  int fd_ = -1;
  Napi::FunctionReference callback_;
  bool held_ = false;
};

void InitFdWatcher(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = FdWatcher::Define(env);
  exports.Set("FdWatcher", ctor);
}

}  // namespace ipcx
