// sigqueue(2), and a signal receiver that never runs JavaScript in a signal handler.
//
// The SA_SIGINFO handler only write(2)s a fixed-size record {signo, code, pid, uid, value} to a
// non-blocking self-pipe (async-signal-safe, atomic below PIPE_BUF); the read end is polled by uv_poll
// and records are handed to JS on the event loop. Each signal number gets its pipe once and keeps it for
// the life of the process: a handler running on another thread while a receiver closes may still hold the
// write end, and it must never be a descriptor that has been reused. At most one receiver per signal per
// process (EBUSY otherwise); closing it restores the disposition that was there before.
//
// Order. The kernel dequeues a realtime signal's queue in order, but hands a process-directed signal to
// any thread that does not block it, and a thread that already has one pending is passed over: in a burst
// two threads run the handler at once and their records reach the pipe in either order. So only the
// receiving thread may take the signal. On start the receiver pings every other thread that does not
// block it (tgkill; SI_TKILL from our own pid); the handler, on any thread but the receiving one, adds the
// signal to the mask that thread gets back when the handler returns (uc_sigmask), so from then on only
// the receiving thread takes it. A real signal that still lands on another thread (one created after the
// start, by a thread that had not blocked it) is queued again to the receiving thread with its siginfo
// (rt_tgsigqueueinfo: thread-directed signals are dequeued before the process-wide queue), so nothing is
// lost; only such a first landing can be out of order.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <atomic>
#include <functional>
#include <mutex>

#include "common.h"
#include "env.h"
#include "exports.h"
#include "waiters.h"

namespace ipcx {

namespace {

struct Record {
  int32_t signo;
  int32_t code;
  int32_t pid;
  uint32_t uid;
  int32_t value;
};
static_assert(sizeof(Record) <= PIPE_BUF, "records must be written atomically");

constexpr int kMaxSignal = 65;
std::atomic<int> g_write_fd[kMaxSignal];
std::atomic<uint32_t> g_dropped[kMaxSignal];
// The thread that receives each signal (0: none), and how many start-up pings other threads answered.
std::atomic<pid_t> g_receiver_tid[kMaxSignal];
std::atomic<uint32_t> g_pings_answered[kMaxSignal];
uint32_t g_pings_sent[kMaxSignal];
int g_read_fd[kMaxSignal];
bool g_pipe_made[kMaxSignal];
bool g_listening[kMaxSignal];
std::mutex g_mu;

pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void OnSignal(int signo, siginfo_t* si, void* context) {
  int saved = errno;
  if (signo > 0 && signo < kMaxSignal) {
    pid_t receiver = g_receiver_tid[signo].load(std::memory_order_acquire);
    if (receiver != 0 && Gettid() != receiver) {
      // Not the receiving thread: block the signal here from now on (the kernel restores this mask).
      sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signo);
      if (si->si_code == SI_TKILL && si->si_pid == getpid()) {
        g_pings_answered[signo].fetch_add(1);
      } else {
        siginfo_t copy = *si;
        if (syscall(SYS_rt_tgsigqueueinfo, getpid(), receiver, signo, &copy) != 0) g_dropped[signo].fetch_add(1);
      }
      errno = saved;
      return;
    }
    int fd = g_write_fd[signo].load(std::memory_order_acquire);
    if (fd >= 0) {
      Record r{signo, si->si_code, si->si_pid, si->si_uid, si->si_value.sival_int};
      if (write(fd, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) g_dropped[signo].fetch_add(1);
    }
  }
  errno = saved;
}

}  // namespace

// sigqueue(pid, signo, value)
static Napi::Value Sigqueue(const Napi::CallbackInfo& info) {
  int32_t pid, signo, value;
  if (!ArgInt32(info, 0, &pid) || !ArgInt32(info, 1, &signo) || !ArgInt32(info, 2, &value)) return Napi::Value();
  union sigval sv;
  sv.sival_int = value;
  if (sigqueue(pid, signo, sv) != 0) return ThrowErrno(info.Env(), errno, "sigqueue");
  return info.Env().Undefined();
}

class SignalReceiver : public Napi::ObjectWrap<SignalReceiver>, public HandleOwner {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SignalReceiver",
                       {
                           InstanceMethod<&SignalReceiver::Close>("close"),
                           InstanceMethod<&SignalReceiver::Ref>("ref"),
                           InstanceMethod<&SignalReceiver::Unref>("unref"),
                           InstanceMethod<&SignalReceiver::Dropped>("dropped"),
                       });
  }

  // new SignalReceiver(signo, callback(signo, code, pid, uid, value))
  explicit SignalReceiver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SignalReceiver>(info) {
    int32_t signo;
    napi_value cb;
    if (!ArgInt32(info, 0, &signo) || !ArgFunction(info, 1, &cb)) return;
    if (signo <= 0 || signo >= kMaxSignal || signo == SIGKILL || signo == SIGSTOP || signo == InterruptSignal()) {
      ThrowErrno(info.Env(), EINVAL, "sigaction");
      return;
    }
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_listening[signo]) {
      ThrowErrno(info.Env(), EBUSY, "sigaction");
      return;
    }
    if (!g_pipe_made[signo]) {
      int p[2];
      if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        ThrowErrno(info.Env(), errno, "pipe2");
        return;
      }
      g_read_fd[signo] = p[0];
      g_write_fd[signo].store(p[1]);
      g_pipe_made[signo] = true;
    }
    Drain(signo, {});  // records left from an earlier receiver are not ours
    data_ = EnvData::Get(info.Env());
    data_->Acquire();
    handle_ = NewHandle<uv_poll_t>();
    int rc = uv_poll_init(data_->loop, handle_, g_read_fd[signo]);
    if (rc != 0) {
      std::free(handle_);
      handle_ = nullptr;
      ThrowErrno(info.Env(), -rc, "uv_poll_init");
      return;
    }
    handle_->data = this;
    rc = uv_poll_start(handle_, UV_READABLE, OnPoll);
    if (rc != 0) {
      data_->CloseHandle(reinterpret_cast<uv_handle_t*>(handle_));
      handle_ = nullptr;
      ThrowErrno(info.Env(), -rc, "uv_poll_start");
      return;
    }
    struct sigaction sa {};
    sa.sa_sigaction = OnSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(signo, &sa, &previous_) != 0) {
      int e = errno;
      uv_poll_stop(handle_);
      data_->CloseHandle(reinterpret_cast<uv_handle_t*>(handle_));
      handle_ = nullptr;
      ThrowErrno(info.Env(), e, "sigaction");
      return;
    }
    signo_ = signo;
    g_listening[signo] = true;
    OnlyThisThread(signo);
    data_->owners.insert(this);
    callback_ = Napi::Persistent(Napi::Function(info.Env(), cb));
    Napi::ObjectWrap<SignalReceiver>::Ref();  // listening keeps the receiver alive until close()
  }

  ~SignalReceiver() override {
    Stop();
    if (data_) data_->Release();
  }

  void CloseForTeardown() override { Stop(); }

 private:
  /**
   * Makes this thread the only one that takes `signo` (see the top of the file): unblocks it here and pings
   * every other thread that does not block it, waiting (at most a second) for them to answer.
   */
  static void OnlyThisThread(int signo) {
    pid_t self = Gettid();
    g_receiver_tid[signo].store(self, std::memory_order_release);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    uint32_t sent = 0;
    g_pings_answered[signo].store(0);
    DIR* dir = opendir("/proc/self/task");
    if (dir == nullptr) return;
    while (struct dirent* entry = readdir(dir)) {
      pid_t tid = static_cast<pid_t>(std::atoi(entry->d_name));
      if (tid <= 0 || tid == self || BlocksSignal(tid, signo)) continue;
      if (syscall(SYS_tgkill, getpid(), tid, signo) == 0) sent++;
    }
    closedir(dir);
    g_pings_sent[signo] = sent;
    struct timespec pause = {0, 100 * 1000};
    for (int i = 0; i < 10000 && g_pings_answered[signo].load() < sent; i++) nanosleep(&pause, nullptr);
  }

  /** True when thread `tid` of this process blocks `signo` (SigBlk in its /proc status). */
  static bool BlocksSignal(pid_t tid, int signo) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
    FILE* f = std::fopen(path, "re");
    if (f == nullptr) return true;  // gone
    char line[256];
    bool blocked = false;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "SigBlk:", 7) == 0) {
        unsigned long long mask = std::strtoull(line + 7, nullptr, 16);
        blocked = (mask >> (signo - 1)) & 1;
        break;
      }
    }
    std::fclose(f);
    return blocked;
  }

  /** Restores the old disposition and closes the poll. The pipe stays (see above). */
  void Stop() {
    if (signo_ == 0) return;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      g_receiver_tid[signo_].store(0, std::memory_order_release);
      // A start-up ping not yet answered would meet the old disposition (terminate, for a realtime
      // signal): keep our handler, which then only records it, in that case.
      if (g_pings_answered[signo_].load() >= g_pings_sent[signo_]) sigaction(signo_, &previous_, nullptr);
      g_listening[signo_] = false;
    }
    uv_poll_stop(handle_);
    data_->owners.erase(this);
    data_->CloseHandle(reinterpret_cast<uv_handle_t*>(handle_));
    handle_ = nullptr;
    signo_ = 0;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (signo_ != 0) {
      Deliver();  // what arrived before close() is still reported
      Stop();
      callback_.Reset();
      Napi::ObjectWrap<SignalReceiver>::Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (handle_) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (handle_) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  // dropped() → records lost because the pipe was full (the event loop fell ~3000 signals behind)
  Napi::Value Dropped(const Napi::CallbackInfo& info) {
    int s = signo_;
    return Napi::Number::New(info.Env(), s ? g_dropped[s].load() : 0);
  }

  /** Reads every complete record; calls `fn` for each (empty: discard). */
  static void Drain(int signo, const std::function<void(const Record&)>& fn) {
    Record buf[64];
    for (;;) {
      ssize_t n = read(g_read_fd[signo], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (!fn) continue;
      for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(Record); i++) fn(buf[i]);
    }
  }

  void Deliver() {
    if (signo_ == 0 || callback_.IsEmpty()) return;
    napi_env env = data_->env;
    auto call = [&](const Record& r) {
      if (callback_.IsEmpty()) return;  // the callback closed us
      data_->Call([&] {
        napi_value argv[5], recv = Value(), fn = callback_.Value();
        napi_create_int32(env, r.signo, &argv[0]);
        napi_create_int32(env, r.code, &argv[1]);
        napi_create_int32(env, r.pid, &argv[2]);
        napi_create_uint32(env, r.uid, &argv[3]);
        napi_create_int32(env, r.value, &argv[4]);
        napi_call_function(env, recv, fn, 5, argv, nullptr);
      });
    };
    Drain(signo_, call);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    static_cast<SignalReceiver*>(handle->data)->Deliver();
  }

  EnvData* data_ = nullptr;
  uv_poll_t* handle_ = nullptr;
  int signo_ = 0;
  struct sigaction previous_ {};
  Napi::FunctionReference callback_;
};

void InitSignals(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int i = 0; i < kMaxSignal; i++) {
      g_write_fd[i].store(-1);
      g_receiver_tid[i].store(0);
    }
  });
  exports.Set("sigqueue", Napi::Function::New(env, Sigqueue, "sigqueue"));
  exports.Set("SignalReceiver", SignalReceiver::Define(env));
}

}  // namespace ipcx
