// System V message queues: msgget, msgsnd, msgrcv, msgctl. Queues have no descriptor to poll, so the
// TypeScript layer calls send and receive with IPC_NOWAIT and retries (see @ipcx/mq's sysv-queue.ts);
// nothing here blocks. The kernel's struct msgbuf is { long mtype; char mtext[]; }: messages are staged
// in a per-thread buffer so that JavaScript hands over plain bytes.
#include <sys/ipc.h>
#include <sys/msg.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"
#include "exports.h"

namespace ipcx {

static thread_local std::vector<char> g_stage;

static char* Stage(size_t bytes) {
  if (g_stage.size() < bytes) g_stage.resize(bytes);
  return g_stage.data();
}

// sysvMsgGet(key, flags) → id
static Napi::Value SysvMsgGet(const Napi::CallbackInfo& info) {
  int32_t key, flags;
  if (!ArgInt32(info, 0, &key) || !ArgInt32(info, 1, &flags)) return Napi::Value();
  int id = msgget(static_cast<key_t>(key), flags);
  if (id < 0) return ThrowErrno(info.Env(), errno, "msgget");
  return Napi::Number::New(info.Env(), id);
}

// sysvMsgSend(id, type, data, flags) → true, or false when IPC_NOWAIT was given and the queue is full.
static Napi::Value SysvMsgSend(const Napi::CallbackInfo& info) {
  int32_t id, flags;
  double type;
  uint8_t* data;
  size_t len;
  if (!ArgInt32(info, 0, &id) || !ArgDouble(info, 1, &type) || !ArgBytes(info, 2, &data, &len) ||
      !ArgInt32(info, 3, &flags))
    return Napi::Value();
  char* buf = Stage(sizeof(long) + len);
  long mtype = static_cast<long>(type);
  std::memcpy(buf, &mtype, sizeof mtype);
  if (len > 0) std::memcpy(buf + sizeof(long), data, len);
  while (msgsnd(id, buf, len, flags) != 0) {
    if (errno == EAGAIN) return Napi::Boolean::New(info.Env(), false);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "msgsnd");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// sysvMsgReceive(id, target, type, flags, out: Float64Array) → length (out[0] = the message's type), or -1
// when IPC_NOWAIT was given and no message matches.
static Napi::Value SysvMsgReceive(const Napi::CallbackInfo& info) {
  int32_t id, flags;
  double type;
  uint8_t* target;
  size_t cap;
  void* out;
  size_t out_len;
  if (!ArgInt32(info, 0, &id) || !ArgBytes(info, 1, &target, &cap) || !ArgDouble(info, 2, &type) ||
      !ArgInt32(info, 3, &flags) || !ArgTypedArray(info, 4, napi_float64_array, &out, &out_len))
    return Napi::Value();
  if (out_len < 1) return ThrowRangeError(info.Env(), "out must have room for the type");
  char* buf = Stage(sizeof(long) + cap);
  ssize_t n;
  while ((n = msgrcv(id, buf, cap, static_cast<long>(type), flags)) < 0) {
    if (errno == ENOMSG || errno == EAGAIN) return Napi::Number::New(info.Env(), -1);
    if (errno != EINTR) return ThrowErrno(info.Env(), errno, "msgrcv");
  }
  long mtype;
  std::memcpy(&mtype, buf, sizeof mtype);
  if (n > 0) std::memcpy(target, buf + sizeof(long), static_cast<size_t>(n));
  static_cast<double*>(out)[0] = static_cast<double>(mtype);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// sysvMsgStat(id) → [qbytes, qnum, uid, gid, cuid, cgid, mode, lspid, lrpid, stime, rtime, ctime, cbytes, key]
static Napi::Value SysvMsgStat(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(env, errno, "msgctl");
  double v[] = {static_cast<double>(ds.msg_qbytes), static_cast<double>(ds.msg_qnum),
                static_cast<double>(ds.msg_perm.uid), static_cast<double>(ds.msg_perm.gid),
                static_cast<double>(ds.msg_perm.cuid), static_cast<double>(ds.msg_perm.cgid),
                static_cast<double>(ds.msg_perm.mode), static_cast<double>(ds.msg_lspid),
                static_cast<double>(ds.msg_lrpid), static_cast<double>(ds.msg_stime),
                static_cast<double>(ds.msg_rtime), static_cast<double>(ds.msg_ctime),
                static_cast<double>(ds.__msg_cbytes), static_cast<double>(ds.msg_perm.__key)};
  Napi::Array out = Napi::Array::New(env, 14);
  for (uint32_t i = 0; i < 14; i++) out.Set(i, Napi::Number::New(env, v[i]));
  return out;
}

// sysvMsgSet(id, uid, gid, mode, qbytes) (qbytes < 0: unchanged)
static Napi::Value SysvMsgSet(const Napi::CallbackInfo& info) {
  int32_t id;
  uint32_t uid, gid, mode;
  double qbytes;
  if (!ArgInt32(info, 0, &id) || !ArgUint32(info, 1, &uid) || !ArgUint32(info, 2, &gid) ||
      !ArgUint32(info, 3, &mode) || !ArgDouble(info, 4, &qbytes))
    return Napi::Value();
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) != 0) return ThrowErrno(info.Env(), errno, "msgctl");
  ds.msg_perm.uid = uid;
  ds.msg_perm.gid = gid;
  ds.msg_perm.mode = mode & 0777;
  if (qbytes >= 0) ds.msg_qbytes = static_cast<msglen_t>(qbytes);
  if (msgctl(id, IPC_SET, &ds) != 0) return ThrowErrno(info.Env(), errno, "msgctl");
  return info.Env().Undefined();
}

static Napi::Value SysvMsgRemove(const Napi::CallbackInfo& info) {
  int32_t id;
  if (!ArgInt32(info, 0, &id)) return Napi::Value();
  if (msgctl(id, IPC_RMID, nullptr) != 0) return ThrowErrno(info.Env(), errno, "msgctl");
  return info.Env().Undefined();
}

void InitSysvMsg(Napi::Env env, Napi::Object exports) {
  exports.Set("sysvMsgGet", Napi::Function::New(env, SysvMsgGet, "sysvMsgGet"));
  exports.Set("sysvMsgSend", Napi::Function::New(env, SysvMsgSend, "sysvMsgSend"));
  exports.Set("sysvMsgReceive", Napi::Function::New(env, SysvMsgReceive, "sysvMsgReceive"));
  exports.Set("sysvMsgStat", Napi::Function::New(env, SysvMsgStat, "sysvMsgStat"));
  exports.Set("sysvMsgSet", Napi::Function::New(env, SysvMsgSet, "sysvMsgSet"));
  exports.Set("sysvMsgRemove", Napi::Function::New(env, SysvMsgRemove, "sysvMsgRemove"));
  Napi::Object c = exports.Get("sysvConstants").As<Napi::Object>();
  c.Set("MSG_EXCEPT", Napi::Number::New(env, MSG_EXCEPT));
  c.Set("MSG_NOERROR", Napi::Number::New(env, MSG_NOERROR));
}

}  // namespace ipcx
