// Futex waits that wake the event loop's own thread: io_uring's FUTEX_WAIT (Linux 6.7), one ring per
// environment, whose completions signal an eventfd that libuv polls. A waiter thread (waiters.h) costs a
// second wake-up in series: the futex wakes the thread, whose uv_async then wakes the loop. Measured on the
// 2-vCPU VM the bench runs on, notify to woken, p50: a thread blocked in futex(2) itself 10.5 µs, io_uring
// 11-12 µs, a waiter thread then an eventfd 36-38 µs.
//
// Where the kernel has no io_uring, or no futex operation on it, or a sandbox forbids it (seccomp, the
// kernel.io_uring_disabled sysctl), Create returns nullptr and futex waits keep using waiter threads.
// IPCX_FUTEX_WAITER=thread forces that path (tests run both).
#pragma once

#include <uv.h>

#include <cstdint>
#include <ctime>
#include <utility>
#include <vector>

namespace ipcx {

struct EnvData;

class FutexRing {
 public:
  /** Called on the JS thread with (wait id, the futex operation's result: 0 or -errno) for each wait that ended. */
  using OnDone = void (*)(void* owner, std::vector<std::pair<uint32_t, int32_t>>& done);

  /** A ring for this environment, or nullptr when futex waits cannot go through io_uring here. */
  static FutexRing* Create(EnvData* data, OnDone on_done, void* owner);

  /**
   * Queues a wait while `*addr == value`, until a FUTEX_WAKE on that word, or `deadline` (CLOCK_MONOTONIC,
   * absolute; nullptr: none) passes, which ends it as cancelled. False when it could not be queued.
   */
  bool Wait(uint32_t id, int32_t* addr, int32_t value, const struct timespec* deadline);

  /** Asks the kernel to end the wait `id` (it then completes with -ECANCELED). False when that failed. */
  bool Cancel(uint32_t id);

  /** Environment teardown: stops polling and closes the ring (the kernel drops what is still queued). */
  void Close();

 private:
  FutexRing() = default;
  struct Sqe;
  Sqe* NextSqe();
  /** Submits the entries queued since the last call; returns how many the kernel took. */
  unsigned Submit(unsigned count);
  void Reap();
  static void OnPoll(uv_poll_t* handle, int status, int events);

  EnvData* data_ = nullptr;
  OnDone on_done_ = nullptr;
  void* owner_ = nullptr;
  int ring_fd_ = -1;
  int event_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  // The mappings of the submission and completion rings and of the submission entries.
  void* sq_map_ = nullptr;
  size_t sq_map_bytes_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_bytes_ = 0;
  void* sqes_map_ = nullptr;
  size_t sqes_map_bytes_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_mask_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned* cq_mask_ = nullptr;
  void* cqes_ = nullptr;
  unsigned sq_entries_ = 0;
  unsigned queued_ = 0;  // entries written since the last submit
};

}  // namespace ipcx
