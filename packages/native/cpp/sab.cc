// A SharedArrayBuffer over mmap'ed memory, from one binary that loads on every supported Node (20, 22, 24).
//
// Node-API gained node_api_create_external_sharedarraybuffer in Node 22.x/24.x (experimental); Node 20 has
// no Node-API way to put a SharedArrayBuffer over memory we own. Linking either would tie the binary to
// one Node: a binary that links the Node-API function dies on Node 20 with "undefined symbol" at its first
// call, one that links V8's C++ API depends on that V8's ABI. So nothing here is linked: the first call
// looks both up in the running process with dlsym(RTLD_DEFAULT) and uses
//   1. node_api_create_external_sharedarraybuffer where the running Node exports it, else
//   2. V8's BackingStore API (the path Node itself uses), where the running Node exports those symbols —
//      a C++ mangled name encodes the full signature, so a V8 whose signature changed is not found and we
//      fail with ENOSYS instead of calling it wrongly, else
//   3. nothing: shmOpen throws ENOSYS (a runtime that is neither, e.g. one without V8's symbols).
//
// Node-API-only alternatives for Node 20, rejected: napi_get_arraybuffer_info returns napi_invalid_arg for
// a SharedArrayBuffer on Node 20.20 (tried); napi_create_external_arraybuffer is not shared (Atomics.wait
// throws on it, postMessage copies it); mmap(MAP_FIXED) over the backing store of `new SharedArrayBuffer(n)`
// replaces memory that Node's allocator later hands to free(), which below glibc's mmap threshold puts
// shared pages back into the heap; and its byteLength could not be the segment's size.
//
// The V8 declarations below are ABI-exact stand-ins for v8.h's: Isolate* and Local<T> are one pointer
// (Local is trivially copyable, returned in a register), unique_ptr/shared_ptr of an incomplete type have
// the library's layout. napi_value and v8::Local<v8::Value> are both the address of a handle slot; Node
// converts between them by copying those bits, and so do we. The Local lives in the handle scope that
// Node-API opened for the current native call, which is where the napi_value must live too.
#include "sab.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

namespace v8 {
class BackingStore;  // never completed: nothing here may run V8's code except through the pointers below
}

namespace ipcx {

napi_value MakeErrnoError(napi_env env, int err, const char* syscall);  // common.cc

namespace {

using NodeApiFinalize = void (*)(void* data, void* hint);
using CreateExternalSab = napi_status (*)(napi_env, void*, size_t, NodeApiFinalize, void*, napi_value*);

using V8Deleter = void (*)(void* data, size_t length, void* deleter_data);
using V8GetCurrentIsolate = void* (*)();
// V8 returns std::unique_ptr<BackingStore> (default deleter); a unique_ptr with another empty deleter has the
// same layout and return convention, and lets this file compile without BackingStore's definition.
struct Released {
  void operator()(v8::BackingStore*) const {}
};
using V8NewBackingStore = std::unique_ptr<v8::BackingStore, Released> (*)(void*, size_t, V8Deleter, void*);
using V8NewSab = void* (*)(void* isolate, std::shared_ptr<v8::BackingStore>);
using V8BackingStoreDtor = void (*)(v8::BackingStore*);

struct Impl {
  const char* name = "none";
  CreateExternalSab node_api = nullptr;
  V8GetCurrentIsolate get_current = nullptr;
  V8NewBackingStore new_backing_store = nullptr;
  V8NewSab new_sab = nullptr;
  V8BackingStoreDtor backing_store_dtor = nullptr;
};

template <typename F>
F Lookup(const char* symbol) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, symbol));
}

Impl Resolve() {
  Impl impl;
  impl.node_api = Lookup<CreateExternalSab>("node_api_create_external_sharedarraybuffer");
  if (impl.node_api != nullptr) {
    impl.name = "node-api";
    return impl;
  }
  impl.get_current = Lookup<V8GetCurrentIsolate>("_ZN2v87Isolate10GetCurrentEv");
  impl.new_backing_store =
      Lookup<V8NewBackingStore>("_ZN2v817SharedArrayBuffer15NewBackingStoreEPvmPFvS1_mS1_ES1_");
  impl.new_sab = Lookup<V8NewSab>("_ZN2v817SharedArrayBuffer3NewEPNS_7IsolateESt10shared_ptrINS_12BackingStoreEE");
  impl.backing_store_dtor = Lookup<V8BackingStoreDtor>("_ZN2v812BackingStoreD1Ev");
  if (impl.get_current && impl.new_backing_store && impl.new_sab && impl.backing_store_dtor) impl.name = "v8";
  return impl;
}

const Impl& Current() {
  static const Impl impl = Resolve();  // thread-safe once: workers may open segments concurrently
  return impl;
}

void UnmapNodeApi(void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }
void UnmapV8(void* data, size_t length, void*) { munmap(data, length); }

napi_value Fail(napi_env env, void* data, size_t len, int err, const char* what) {
  munmap(data, len);
  napi_throw(env, MakeErrnoError(env, err, what));
  return nullptr;
}

}  // namespace

napi_value NewMappedSharedArrayBuffer(napi_env env, void* data, size_t len) {
  const Impl& impl = Current();
  napi_value result = nullptr;
  if (impl.node_api != nullptr) {
    if (impl.node_api(env, data, len, UnmapNodeApi, reinterpret_cast<void*>(len), &result) != napi_ok)
      return Fail(env, data, len, ENOMEM, "node_api_create_external_sharedarraybuffer");
    return result;
  }
  if (impl.new_sab == nullptr)
    return Fail(env, data, len, ENOSYS, "SharedArrayBuffer over shared memory (this runtime has no API for it)");
  void* isolate = impl.get_current();
  if (isolate == nullptr) return Fail(env, data, len, ENOSYS, "v8::Isolate::GetCurrent");
  // From here V8 owns the memory: its deleter (UnmapV8) runs when the last SharedArrayBuffer over it, in
  // any thread, has been collected. The shared_ptr's deleter does what `delete` on a v8::BackingStore does.
  v8::BackingStore* raw = impl.new_backing_store(data, len, UnmapV8, nullptr).release();
  V8BackingStoreDtor dtor = impl.backing_store_dtor;
  std::shared_ptr<v8::BackingStore> store(raw, [dtor](v8::BackingStore* p) {
    dtor(p);
    ::operator delete(static_cast<void*>(p));
  });
  void* local = impl.new_sab(isolate, std::move(store));
  static_assert(sizeof(napi_value) == sizeof(void*), "napi_value is a v8::Local");
  std::memcpy(static_cast<void*>(&result), static_cast<void*>(&local), sizeof result);
  return result;
}

const char* SharedArrayBufferImpl() { return Current().name; }

}  // namespace ipcx
