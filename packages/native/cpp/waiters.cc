#include "waiters.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>

#include "common.h"
#include "env.h"
#include "futex_ring.h"

namespace ipcx {

namespace {

constexpr int kMaxThreads = 1024;
// How long an idle waiter thread lingers for the next wait. IPCX_NATIVE_WAITER_IDLE_MS overrides it
// (0 = a thread per wait; bench/cost.mjs uses that to measure what the pool saves).
std::chrono::milliseconds IdleExit() {
  static const std::chrono::milliseconds value = [] {
    const char* env = std::getenv("IPCX_NATIVE_WAITER_IDLE_MS");
    return std::chrono::milliseconds(env != nullptr ? std::strtol(env, nullptr, 10) : 30000);
  }();
  return value;
}
constexpr size_t kStackSize = 256 * 1024;
constexpr uint64_t kRekillMs = 2;

// Never destroyed: at exit(), idle pool threads still wait on the condition variable, and glibc's
// pthread_cond_destroy would wait for them (up to kIdleExit), holding the process open.
std::mutex& g_mu = *new std::mutex;
std::condition_variable& g_cv = *new std::condition_variable;
std::deque<Job*>& g_queue = *new std::deque<Job*>;
int g_threads = 0;
int g_idle = 0;
std::once_flag g_signal_once;

void OnInterrupt(int) {}

void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the blocked syscall must return EINTR
  sigaction(InterruptSignal(), &sa, nullptr);
}

void* ThreadMain(void*) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, InterruptSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  std::unique_lock<std::mutex> lock(g_mu);
  for (;;) {
    if (g_queue.empty()) {
      g_idle++;
      bool got = g_cv.wait_for(lock, IdleExit(), [] { return !g_queue.empty(); });
      g_idle--;
      if (!got) {
        g_threads--;
        return nullptr;
      }
    }
    Job* job = g_queue.front();
    g_queue.pop_front();
    lock.unlock();
    ExecuteJob(job);
    lock.lock();
  }
}

/** Returns 0 or an errno. Called with g_mu held. */
int SpawnLocked() {
  if (g_threads >= kMaxThreads) return EAGAIN;
  std::call_once(g_signal_once, InstallInterruptHandler);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, kStackSize);
  // The thread starts with every signal blocked (so process-directed signals go to threads that expect
  // them) and unblocks only the interrupt signal.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int rc = pthread_create(&t, &attr, ThreadMain, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (rc == 0) g_threads++;
  return rc;
}

int PoolSubmit(Job* job) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_queue.size() >= static_cast<size_t>(g_idle)) {
    // No idle thread will take it: a new one must, or the job might wait behind waits that never end.
    int rc = SpawnLocked();
    if (rc != 0) return rc;
  }
  g_queue.push_back(job);
  g_cv.notify_one();
  return 0;
}

}  // namespace

int InterruptSignal() { return SIGRTMAX; }

void PoolStats(int* threads, int* idle) {
  std::lock_guard<std::mutex> lock(g_mu);
  *threads = g_threads;
  *idle = g_idle;
}

void ExecuteJob(Job* job) {
  {
    std::lock_guard<std::mutex> lock(job->mu_);
    job->thread_ = pthread_self();
    job->state_ = Job::kRunning;
  }
  if (job->Cancelled()) {
    job->err = ECANCELED;
  } else {
    job->Run();
  }
  {
    std::lock_guard<std::mutex> lock(job->mu_);
    job->state_ = Job::kDone;
  }
  std::shared_ptr<JobHub> hub = job->hub_;
  hub->Finished(job);
}

void InterruptJob(Job* job) {
  std::lock_guard<std::mutex> lock(job->mu_);
  // Only while the thread is inside Run: it cannot exit or move on while we hold mu_.
  if (job->state_ == Job::kRunning) pthread_kill(job->thread_, InterruptSignal());
}

void Job::Complete(napi_env env) {
  napi_value cb, argv[2], global;
  napi_get_reference_value(env, callback, &cb);
  napi_get_global(env, &global);
  if (err != 0) {
    argv[0] = MakeErrnoError(env, err, syscall);
  } else {
    napi_get_null(env, &argv[0]);
  }
  napi_create_double(env, result, &argv[1]);
  napi_call_function(env, global, cb, 2, argv, nullptr);
}

void Job::ReleaseRefs(napi_env env) {
  if (callback) napi_delete_reference(env, callback);
  if (keep_alive) napi_delete_reference(env, keep_alive);
  callback = keep_alive = nullptr;
}

std::shared_ptr<JobHub> JobHub::Create(EnvData* data) {
  auto hub = std::make_shared<JobHub>();
  hub->data_ = data;
  hub->async_ = NewHandle<uv_async_t>();
  uv_async_init(data->loop, hub->async_, OnAsync);
  hub->async_->data = hub.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(hub->async_));
  hub->rekill_ = NewHandle<uv_timer_t>();
  uv_timer_init(data->loop, hub->rekill_);
  hub->rekill_->data = hub.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(hub->rekill_));
  return hub;
}

uint32_t JobHub::Submit(napi_env env, Job* job, napi_value callback, napi_value keep_alive) {
  if (closing_) {
    delete job;
    ThrowErrno(env, ECANCELED, "wait");
    return 0;
  }
  // Ids wrap at 2^32: a wait still pending from 2^32 waits ago keeps its id, and a new job must not take it (the
  // map entry, cancel and the ring's completion all go by id).
  uint32_t id;
  do {
    id = next_id_++;
  } while (id == 0 || pending_.count(id) != 0);
  job->id_ = id;
  job->hub_ = shared_from_this();
  napi_create_reference(env, callback, 1, &job->callback);
  if (keep_alive != nullptr) napi_create_reference(env, keep_alive, 1, &job->keep_alive);
  pending_[id] = job;
  if (job->SubmitToRing(*this)) {
    job->on_ring_ = true;
    UpdateRef();
    return id;
  }
  int rc = PoolSubmit(job);
  if (rc != 0) {
    pending_.erase(id);
    job->ReleaseRefs(env);
    delete job;
    ThrowErrno(env, rc, "pthread_create");
    return 0;
  }
  UpdateRef();
  return id;
}

void JobHub::Cancel(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Job* job = it->second;
  if (job->cancelled_.exchange(true)) return;
  // A ring's wait completes with -ECANCELED. Should the request not go in, the job leaves the ring now (its
  // completion, when it comes, finds no job) and is delivered as cancelled on the next turn of the loop.
  if (job->on_ring_) {
    if (ring_->Cancel(id)) return;
    job->on_ring_ = false;
    job->err = ECANCELED;
    job->syscall = "futex";
    Finished(job);
    return;
  }
  InterruptJob(job);
  cancelling_.push_back(job);
  uv_timer_start(rekill_, OnRekill, kRekillMs, kRekillMs);
}

void JobHub::OnRekill(uv_timer_t* handle) {
  auto* hub = static_cast<JobHub*>(handle->data);
  for (Job* job : hub->cancelling_) InterruptJob(job);
}

void JobHub::Finished(Job* job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closing_) {
    // The environment is gone: nothing to call back; its references die with it.
    lock.unlock();
    delete job;
    return;
  }
  done_.push_back(job);
  uv_async_send(async_);
}

void JobHub::OnAsync(uv_async_t* handle) { static_cast<JobHub*>(handle->data)->Deliver(); }

void JobHub::Deliver() {
  std::deque<Job*> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(done_);
  }
  Finish(done);
}

FutexRing* JobHub::Ring() {
  if (!ring_tried_ && !closing_) {
    ring_tried_ = true;
    ring_ = FutexRing::Create(data_, OnRingDone, this);
  }
  return ring_;
}

void JobHub::OnRingDone(void* arg, std::vector<std::pair<uint32_t, int32_t>>& results) {
  auto* hub = static_cast<JobHub*>(arg);
  std::deque<Job*> done;
  for (auto [id, res] : results) {
    auto it = hub->pending_.find(id);
    if (it == hub->pending_.end() || !it->second->on_ring_) continue;
    it->second->RingResult(res);
    done.push_back(it->second);
  }
  hub->Finish(done);
}

void JobHub::Finish(std::deque<Job*>& done) {
  // Keep ourselves alive: a callback could tear the environment down (worker.terminate is async, but
  // be safe).
  std::shared_ptr<JobHub> self = shared_from_this();
  for (Job* job : done) {
    pending_.erase(job->id_);
    auto c = std::find(cancelling_.begin(), cancelling_.end(), job);
    if (c != cancelling_.end()) cancelling_.erase(c);
  }
  if (cancelling_.empty()) uv_timer_stop(rekill_);
  UpdateRef();
  napi_env env = data_->env;
  for (Job* job : done) {
    if (!data_->tearing_down) data_->Call([&] { job->Complete(env); });
    job->ReleaseRefs(env);
    delete job;
  }
}

void JobHub::UpdateRef() {
  if (async_ == nullptr) return;
  if (pending_.empty()) {
    uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  } else {
    uv_ref(reinterpret_cast<uv_handle_t*>(async_));
  }
}

void JobHub::Teardown() {
  std::deque<Job*> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    done.swap(done_);
    for (auto& [id, job] : pending_) {
      job->cancelled_.store(true);
      InterruptJob(job);
    }
  }
  // Jobs that already finished are ours to free; the others are freed by their threads (closing_), except the
  // ring's, which no thread holds: closing the ring drops their requests.
  for (Job* job : done) delete job;
  if (ring_ != nullptr) {
    ring_->Close();
    ring_ = nullptr;
  }
  for (auto& [id, job] : pending_)
    if (job->on_ring_) delete job;
  pending_.clear();
  cancelling_.clear();
  uv_timer_stop(rekill_);
  data_->CloseHandle(reinterpret_cast<uv_handle_t*>(async_));
  data_->CloseHandle(reinterpret_cast<uv_handle_t*>(rekill_));
  async_ = nullptr;
  rekill_ = nullptr;
}

}  // namespace ipcx
