// Blocking waits (futex, semaphores, flock) off the event loop, on a small pool of native threads.
//
// Not the libuv threadpool: it is shared with fs and dns, and a wait parks a thread for as long as it
// lasts, so four pending waits would starve every fs call in the process. Our pool is process-wide
// (shared by all worker threads), grows when every thread is busy, and lets a thread exit after it has
// been idle for a while. Each pending wait occupies one thread; kMaxThreads bounds them.
//
// Cancellation: the waiting thread is interrupted with a signal (kInterruptSignal, handler does nothing,
// no SA_RESTART) so its syscall returns EINTR and it sees the cancelled flag. A signal that lands between
// the flag check and the syscall would be lost, so the JS thread re-sends it every few milliseconds
// until the job reports back.
//
// Futex waits whose kernel supports it skip the thread: they go to the environment's io_uring
// (futex_ring.h), which wakes the event loop's thread directly. The hub tracks both kinds the same way.
#pragma once

#include <napi.h>
#include <pthread.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ipcx {

struct EnvData;
class FutexRing;
class JobHub;

int InterruptSignal();

class Job {
 public:
  virtual ~Job() = default;
  /** Waiter thread: the blocking call; loop on EINTR while !Cancelled(); set err (0 or errno) and result. */
  virtual void Run() = 0;
  /** JS thread: deliver the outcome. The default calls callback(error | null, result). */
  virtual void Complete(napi_env env);
  /** JS thread, after Complete: drop references into JS. */
  void ReleaseRefs(napi_env env);
  /** JS thread: queue the wait on the hub's ring instead of a thread; false to use a thread. */
  virtual bool SubmitToRing(JobHub& hub) { return false; }
  /** JS thread: the ring's result for this job (0 or -errno); sets err and result. */
  virtual void RingResult(int32_t res) { err = res < 0 ? -res : 0; }

  bool Cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  uint32_t id() const { return id_; }

  int err = 0;
  double result = 0;
  const char* syscall = "";
  napi_ref callback = nullptr;
  napi_ref keep_alive = nullptr;  // e.g. the Int32Array a futex waits on

 private:
  friend class JobHub;
  friend void ExecuteJob(Job* job);
  friend void InterruptJob(Job* job);
  enum State { kQueued, kRunning, kDone };
  std::mutex mu_;
  pthread_t thread_{};
  State state_ = kQueued;
  std::atomic<bool> cancelled_{false};
  bool on_ring_ = false;
  uint32_t id_ = 0;
  std::shared_ptr<JobHub> hub_;
};

class JobHub : public std::enable_shared_from_this<JobHub> {
 public:
  static std::shared_ptr<JobHub> Create(EnvData* data);

  /** JS thread. Takes ownership; returns the job id, or 0 after throwing. */
  uint32_t Submit(napi_env env, Job* job, napi_value callback, napi_value keep_alive);
  /** JS thread. Cancels a pending job (it completes with ECANCELED); unknown ids are ignored. */
  void Cancel(uint32_t id);
  /** JS thread, environment teardown: cancel everything, close handles, never call into JS again. */
  void Teardown();
  /** Waiter thread: the job's syscall returned. */
  void Finished(Job* job);

  size_t Pending() const { return pending_.size(); }
  /** JS thread, for tests: the id the next job is given (ids wrap at 2^32; 0 and ids in use are skipped). */
  void SetNextId(uint32_t id) { next_id_ = id; }

  /** JS thread: this environment's futex ring, created at the first call; nullptr where there is none. */
  FutexRing* Ring();
  /** True once Ring() found one. */
  bool HasRing() const { return ring_ != nullptr; }

 private:
  static void OnAsync(uv_async_t* handle);
  static void OnRekill(uv_timer_t* handle);
  static void OnRingDone(void* hub, std::vector<std::pair<uint32_t, int32_t>>& done);
  void Deliver();
  void Finish(std::deque<Job*>& done);
  void UpdateRef();

  EnvData* data_ = nullptr;
  std::mutex mu_;
  bool closing_ = false;
  std::deque<Job*> done_;
  uv_async_t* async_ = nullptr;
  uv_timer_t* rekill_ = nullptr;
  // JS thread only:
  std::unordered_map<uint32_t, Job*> pending_;
  std::vector<Job*> cancelling_;
  uint32_t next_id_ = 1;
  FutexRing* ring_ = nullptr;
  bool ring_tried_ = false;
};

/** Pool statistics for tests and benchmarks: [threads, idle]. */
void PoolStats(int* threads, int* idle);

}  // namespace ipcx
