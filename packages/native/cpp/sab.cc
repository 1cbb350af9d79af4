// Node-API gained node_api_create_external_sharedarraybuffer in Node 24.16 / 26.1 (experimental). Where
// the headers declare it we use it; elsewhere (Node 20, 22) we talk to V8 directly: make a BackingStore
// with our deleter and wrap it. napi_value and v8::Local<v8::Value> are both one pointer to a handle slot;
// Node converts between them by copying those bits, and so do we. The Local lives in the handle scope
// that Node-API opened for the current native call, which is where the napi_value must live too.
//
// This file alone is compiled with NAPI_EXPERIMENTAL (to see the declaration); it includes only the C
// headers so no inline node-addon-api code is compiled two ways.
#define NAPI_EXPERIMENTAL
#include "sab.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>


#if defined(NODE_API_EXPERIMENTAL_HAS_CREATE_EXTERNAL_SHAREDARRAYBUFFER)
#define IPCX_SAB_NODE_API 1
#else
#define IPCX_SAB_NODE_API 0
#include <v8.h>
#endif

namespace ipcx {

napi_value MakeErrnoError(napi_env env, int err, const char* syscall);  // common.cc

#if IPCX_SAB_NODE_API

static void Unmap(void* data, void* hint) { munmap(data, reinterpret_cast<size_t>(hint)); }

napi_value NewMappedSharedArrayBuffer(napi_env env, void* data, size_t len) {
  napi_value result;
  if (node_api_create_external_sharedarraybuffer(env, data, len, Unmap, reinterpret_cast<void*>(len), &result) !=
      napi_ok) {
    munmap(data, len);
    napi_throw(env, MakeErrnoError(env, ENOMEM, "node_api_create_external_sharedarraybuffer"));
    return nullptr;
  }
  return result;
}

const char* SharedArrayBufferImpl() { return "node-api"; }

#else

static void Unmap(void* data, size_t length, void*) { munmap(data, length); }

napi_value NewMappedSharedArrayBuffer(napi_env env, void* data, size_t len) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(data, len, Unmap, nullptr);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Value> value = sab;
  static_assert(sizeof(napi_value) == sizeof(v8::Local<v8::Value>), "napi_value is a v8::Local");
  napi_value result;
  std::memcpy(static_cast<void*>(&result), static_cast<void*>(&value), sizeof result);
  return result;
}

const char* SharedArrayBufferImpl() { return "v8"; }

#endif

}  // namespace ipcx
