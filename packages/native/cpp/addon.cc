// @ipcx/native: module entry. Each concept registers its functions; see the .cc file of the same name.
#include "env.h"
#include "exports.h"

namespace ipcx {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvData::Install(env);
  InitShm(env, exports);
  InitFutex(env, exports);
  InitFdWatcher(env, exports);
  InitMq(env, exports);
  InitFd(env, exports);
  InitSocket(env, exports);
  InitSem(env, exports);
  InitFlock(env, exports);
  InitSignals(env, exports);
  InitShmFile(env, exports);
  return exports;
}

}  // namespace ipcx

static Napi::Object InitIpcxNative(Napi::Env env, Napi::Object exports) { return ipcx::Init(env, exports); }

NODE_API_MODULE(ipcx_native, InitIpcxNative)
