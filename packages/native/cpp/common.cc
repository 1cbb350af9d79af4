#include "common.h"

#include <cmath>
#include <cstring>
#include <ctime>

namespace ipcx {

napi_value MakeErrnoError(napi_env env, int err, const char* syscall) {
  char buf[256];
  // GNU strerror_r returns the message (maybe not in buf).
  const char* text = strerror_r(err, buf, sizeof buf);
  std::string message = std::string(ErrnoName(err)) + ": " + text + ", " + syscall;
  napi_value msg, error, v;
  napi_create_string_utf8(env, message.c_str(), message.size(), &msg);
  napi_create_error(env, nullptr, msg, &error);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, ErrnoName(err), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "code", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  return error;
}

Napi::Value ThrowErrno(napi_env env, int err, const char* syscall) {
  napi_throw(env, MakeErrnoError(env, err, syscall));
  return Napi::Value();
}

Napi::Value ThrowTypeError(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return Napi::Value();
}

Napi::Value ThrowRangeError(napi_env env, const char* message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return Napi::Value();
}

static bool Fail(const Napi::CallbackInfo& info, size_t i, const char* what) {
  std::string m = "argument " + std::to_string(i) + " must be " + what;
  napi_throw_type_error(info.Env(), "ERR_INVALID_ARG_TYPE", m.c_str());
  return false;
}

bool ArgInt32(const Napi::CallbackInfo& info, size_t i, int32_t* out) {
  if (i >= info.Length() || napi_get_value_int32(info.Env(), info[i], out) != napi_ok) return Fail(info, i, "a number");
  return true;
}

bool ArgUint32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  if (i >= info.Length() || napi_get_value_uint32(info.Env(), info[i], out) != napi_ok) return Fail(info, i, "a number");
  return true;
}

bool ArgDouble(const Napi::CallbackInfo& info, size_t i, double* out) {
  if (i >= info.Length() || napi_get_value_double(info.Env(), info[i], out) != napi_ok) return Fail(info, i, "a number");
  return true;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, bool* out) {
  if (i >= info.Length() || napi_get_value_bool(info.Env(), info[i], out) != napi_ok) return Fail(info, i, "a boolean");
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, std::string* out) {
  size_t len = 0;
  if (i >= info.Length() || napi_get_value_string_utf8(info.Env(), info[i], nullptr, 0, &len) != napi_ok)
    return Fail(info, i, "a string");
  out->resize(len);
  napi_get_value_string_utf8(info.Env(), info[i], out->data(), len + 1, &len);
  if (out->find('\0') != std::string::npos) return Fail(info, i, "a string without NUL characters");
  return true;
}

bool ArgFunction(const Napi::CallbackInfo& info, size_t i, napi_value* out) {
  napi_valuetype t;
  if (i >= info.Length() || napi_typeof(info.Env(), info[i], &t) != napi_ok || t != napi_function)
    return Fail(info, i, "a function");
  *out = info[i];
  return true;
}

// Bytes per element of a typed array; 0 for a type this addon does not know (it refuses it rather than guess
// a size and let the kernel write past the end). Node-API numbers the types; 11 is Float16Array (Node 24).
static size_t ElementSize(napi_typedarray_type t) {
  switch (static_cast<int>(t)) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: case 11: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: return 8;
    default: return 0;
  }
}

bool BytesOf(napi_env env, napi_value value, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* p;
  if (napi_get_typedarray_info(env, value, &type, &length, &p, nullptr, nullptr) == napi_ok) {
    size_t size = ElementSize(type);
    if (size == 0) return false;
    *data = static_cast<uint8_t*>(p);
    *len = length * size;
    return true;
  }
  if (napi_get_dataview_info(env, value, &length, &p, nullptr, nullptr) == napi_ok) {
    *data = static_cast<uint8_t*>(p);
    *len = length;
    return true;
  }
  return false;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  if (i >= info.Length() || !BytesOf(info.Env(), info[i], data, len)) return Fail(info, i, "a TypedArray or DataView");
  return true;
}

bool ArgTypedArray(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want, void** data, size_t* length,
                   napi_value* arraybuffer) {
  napi_typedarray_type type;
  if (i >= info.Length() ||
      napi_get_typedarray_info(info.Env(), info[i], &type, length, data, arraybuffer, nullptr) != napi_ok ||
      type != want)
    return Fail(info, i, want == napi_int32_array ? "an Int32Array" : want == napi_uint32_array ? "a Uint32Array" : "a TypedArray of the right kind");
  return true;
}

bool DeadlineFromNow(double ms, clockid_t clock, struct timespec* out) {
  // Past a century is forever: a larger count of seconds would overflow time_t arithmetic (and the kernel
  // would refuse the deadline).
  if (!(ms >= 0) || !(ms < kForeverMs)) return false;
  clock_gettime(clock, out);
  double whole = std::floor(ms);
  long long add_s = static_cast<long long>(whole / 1000);
  long long add_ns = static_cast<long long>((ms - add_s * 1000.0) * 1e6);
  out->tv_sec += add_s;
  out->tv_nsec += add_ns;
  while (out->tv_nsec >= 1000000000L) {
    out->tv_sec++;
    out->tv_nsec -= 1000000000L;
  }
  return true;
}

/** Reads fd and a byte view from argv[0..1]; false after throwing. */
bool FastArgs(napi_env env, napi_value* argv, int32_t* fd, uint8_t** data, size_t* len) {
  if (napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a number");
    return false;
  }
  if (BytesOf(env, argv[1], data, len)) return true;
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a TypedArray or DataView");
  return false;
}

bool ReadFastCall(napi_env env, napi_callback_info cbinfo, size_t min, size_t max, const char* usage, FastCall* call) {
  call->argc = max;
  napi_get_cb_info(env, cbinfo, &call->argc, call->argv, nullptr, nullptr);
  if (call->argc < min) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
    return false;
  }
  return FastArgs(env, call->argv, &call->fd, &call->data, &call->len);
}

}  // namespace ipcx
