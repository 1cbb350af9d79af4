#include "env.h"

#include "waiters.h"

namespace ipcx {

EnvData* EnvData::Get(napi_env env) {
  void* data = nullptr;
  napi_get_instance_data(env, &data);
  return static_cast<EnvData*>(data);
}

void EnvData::Install(napi_env env) {
  auto* d = new EnvData();
  d->env = env;
  napi_get_uv_event_loop(env, &d->loop);
  napi_value res, name;
  napi_create_object(env, &res);
  napi_create_reference(env, res, 1, &d->resource);
  napi_create_string_utf8(env, "ipcx:native", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, res, name, &d->context);
  d->jobs = JobHub::Create(d);
  d->refs_++;  // released when the async cleanup hook has finished
  napi_add_async_cleanup_hook(env, OnCleanup, d, &d->cleanup_);
  napi_set_instance_data(
      env, d, [](napi_env, void* data, void*) { static_cast<EnvData*>(data)->Release(); }, nullptr);
}

void EnvData::CloseHandle(uv_handle_t* handle) {
  handle->data = this;
  closing_++;
  refs_++;
  uv_close(handle, OnHandleClosed);
}

void EnvData::OnHandleClosed(uv_handle_t* handle) {
  auto* d = static_cast<EnvData*>(handle->data);
  std::free(handle);
  d->closing_--;
  d->MaybeFinishTeardown();
  d->Release();
}

void EnvData::OnCleanup(napi_async_cleanup_hook_handle, void* arg) {
  auto* d = static_cast<EnvData*>(arg);
  d->tearing_down = true;
  d->jobs->Teardown();
  // CloseForTeardown removes the owner from the set, so iterate over a copy.
  std::set<HandleOwner*> owners = d->owners;
  for (HandleOwner* o : owners) o->CloseForTeardown();
  d->owners.clear();
  napi_async_destroy(d->env, d->context);
  d->context = nullptr;
  d->MaybeFinishTeardown();
}

void EnvData::MaybeFinishTeardown() {
  if (!tearing_down || closing_ > 0 || cleanup_ == nullptr) return;
  napi_async_cleanup_hook_handle h = cleanup_;
  cleanup_ = nullptr;
  napi_remove_async_cleanup_hook(h);
  Release();
}

}  // namespace ipcx
