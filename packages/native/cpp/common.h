// Shared helpers: errno errors, argument conversion, calling back into JS from libuv callbacks.
// Every exported function converts its arguments, makes one syscall (retrying EINTR where that is the
// syscall's contract) and returns a value or throws an Error carrying errno, code and syscall.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace ipcx {

/** "EAGAIN" for EAGAIN; "E<number>" for errnos we do not know by name. */
const char* ErrnoName(int err);

/** A new Error: message "EAGAIN: Resource temporarily unavailable, mq_send", plus errno, code, syscall. */
napi_value MakeErrnoError(napi_env env, int err, const char* syscall);

/** Throws the errno error and returns an empty value: `return ThrowErrno(env, errno, "mq_send");` */
Napi::Value ThrowErrno(napi_env env, int err, const char* syscall);
Napi::Value ThrowTypeError(napi_env env, const char* message);
Napi::Value ThrowRangeError(napi_env env, const char* message);

// Argument readers. Each returns false after throwing a TypeError/RangeError; the caller returns at once.
// They exist because the TypeScript layer validates, but the addon must never crash on a bad value.
bool ArgInt32(const Napi::CallbackInfo& info, size_t i, int32_t* out);
bool ArgUint32(const Napi::CallbackInfo& info, size_t i, uint32_t* out);
bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, bool* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out);
bool ArgFunction(const Napi::CallbackInfo& info, size_t i, napi_value* out);
/** Any TypedArray or DataView: a pointer to its first byte and its length in bytes. */
// The bytes of a TypedArray (of a known element type) or DataView; false for anything else, without throwing.
bool BytesOf(napi_env env, napi_value value, uint8_t** data, size_t* len);
bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len);
/** For plain Node-API hot paths: an fd and a byte view from argv[0..1]; false after throwing a TypeError. */
bool FastArgs(napi_env env, napi_value* argv, int32_t* fd, uint8_t** data, size_t* len);

/** The arguments of a plain Node-API hot path that takes (fd, bytes, ...): up to `max` of them. */
struct FastCall {
  napi_value argv[4];
  size_t argc = 0;
  int32_t fd = -1;
  uint8_t* data = nullptr;
  size_t len = 0;
};

/**
 * Reads up to `max` (at most 4) arguments into `call`, then the fd and bytes (FastArgs). False after throwing a
 * TypeError: `usage` when fewer than `min` were given.
 */
bool ReadFastCall(napi_env env, napi_callback_info cbinfo, size_t min, size_t max, const char* usage, FastCall* call);
/** A TypedArray of the given kind: pointer to its first element, length in elements. */
bool ArgTypedArray(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, void** data,
                   size_t* length, napi_value* arraybuffer = nullptr);

/** Timeouts of this many ms or more (about a century) are no timeout. */
constexpr double kForeverMs = 100.0 * 365 * 24 * 3600 * 1000;
/**
 * A millisecond timeout to an absolute timespec on `clock`; `ms` < 0, NaN or at least `kForeverMs` means no
 * deadline (returns false).
 */
bool DeadlineFromNow(double ms, clockid_t clock, struct timespec* out);

/**
 * Opens a handle scope and a callback scope (so promise jobs and process.nextTick run after we return
 * to libuv), calls `fn`, and routes a thrown exception to process 'uncaughtException'.
 * For use inside libuv callbacks only.
 */
template <typename Fn>
void WithCallbackScope(napi_env env, napi_value resource, napi_async_context context, Fn&& fn) {
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_callback_scope cs;
  napi_open_callback_scope(env, resource, context, &cs);
  fn();
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

}  // namespace ipcx
