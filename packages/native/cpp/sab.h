#pragma once
#include <node_api.h>

#include <cstddef>

namespace ipcx {

/**
 * A SharedArrayBuffer over `len` bytes of mmap'ed memory at `data`. The memory is unmapped by the
 * backing store's deleter, which V8 runs when the last SharedArrayBuffer sharing it (in any thread, after
 * postMessage) has been collected — so JavaScript can never reach unmapped memory.
 * Returns nullptr after throwing if the buffer could not be created (the memory is then unmapped).
 */
napi_value NewMappedSharedArrayBuffer(napi_env env, void* data, size_t len);

/** Which path built the buffer: "node-api" or "v8". For the README and tests. */
const char* SharedArrayBufferImpl();

}  // namespace ipcx
