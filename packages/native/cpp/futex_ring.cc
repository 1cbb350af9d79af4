#include "futex_ring.h"

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "env.h"

// The ring's structures as Linux 6.0 headers have them (io_uring_sqe.addr3, the probe, linked timeouts);
// with older headers the addon builds without the ring, and futex waits use waiter threads.
#if __has_include(<linux/io_uring.h>) && __has_include(<linux/version.h>)
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 0, 0)
#include <linux/io_uring.h>
#define IPCX_HAVE_IO_URING 1
#endif
#endif

namespace ipcx {

#ifdef IPCX_HAVE_IO_URING

namespace {

// Newer than some distributions' headers; the values are the kernel's ABI.
constexpr uint8_t kOpFutexWait = 51;  // IORING_OP_FUTEX_WAIT, Linux 6.7
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32; no FUTEX2_PRIVATE: the word may be in shared memory
constexpr uint64_t kAux = uint64_t{1} << 32;  // user_data of link timeouts and cancels: their completions are skipped
constexpr unsigned kEntries = 32;

int Setup(unsigned entries, io_uring_params* p) { return static_cast<int>(syscall(SYS_io_uring_setup, entries, p)); }

int Enter(int fd, unsigned submit, unsigned flags) {
  return static_cast<int>(syscall(SYS_io_uring_enter, fd, submit, 0, flags, nullptr, 0));
}

int Register(int fd, unsigned op, void* arg, unsigned n) {
  return static_cast<int>(syscall(SYS_io_uring_register, fd, op, arg, n));
}

bool Supported(int fd) {
  constexpr unsigned kOps = 256;
  size_t bytes = sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op);
  auto* probe = static_cast<io_uring_probe*>(std::calloc(1, bytes));
  if (probe == nullptr) return false;
  bool ok = Register(fd, IORING_REGISTER_PROBE, probe, kOps) == 0;
  auto has = [&](unsigned op) { return op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED); };
  ok = ok && has(kOpFutexWait) && has(IORING_OP_LINK_TIMEOUT) && has(IORING_OP_ASYNC_CANCEL);
  std::free(probe);
  return ok;
}

void* Map(int fd, size_t bytes, off_t offset) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  return p == MAP_FAILED ? nullptr : p;
}

template <typename T>
T* At(void* base, unsigned offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

struct FutexRing::Sqe : io_uring_sqe {};

FutexRing* FutexRing::Create(EnvData* data, OnDone on_done, void* owner) {
  const char* mode = std::getenv("IPCX_FUTEX_WAITER");
  if (mode != nullptr && std::strcmp(mode, "thread") == 0) return nullptr;
  io_uring_params p;
  std::memset(&p, 0, sizeof p);
  int fd = Setup(kEntries, &p);
  if (fd < 0) return nullptr;  // ENOSYS, EPERM (sysctl, seccomp), ENOMEM (locked-memory limit)
  auto* ring = new FutexRing();
  ring->ring_fd_ = fd;
  ring->sq_entries_ = p.sq_entries;
  ring->sq_map_bytes_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  ring->cq_map_bytes_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  ring->sqes_map_bytes_ = p.sq_entries * sizeof(io_uring_sqe);
  ring->sq_map_ = Map(fd, ring->sq_map_bytes_, IORING_OFF_SQ_RING);
  ring->cq_map_ = Map(fd, ring->cq_map_bytes_, IORING_OFF_CQ_RING);
  ring->sqes_map_ = Map(fd, ring->sqes_map_bytes_, IORING_OFF_SQES);
  ring->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ring->sq_map_ == nullptr || ring->cq_map_ == nullptr || ring->sqes_map_ == nullptr || ring->event_fd_ < 0 ||
      !Supported(fd) || Register(fd, IORING_REGISTER_EVENTFD, &ring->event_fd_, 1) != 0) {
    ring->Close();
    return nullptr;
  }
  ring->sq_tail_ = At<unsigned>(ring->sq_map_, p.sq_off.tail);
  ring->sq_mask_ = At<unsigned>(ring->sq_map_, p.sq_off.ring_mask);
  ring->sq_flags_ = At<unsigned>(ring->sq_map_, p.sq_off.flags);
  ring->sq_array_ = At<unsigned>(ring->sq_map_, p.sq_off.array);
  ring->cq_head_ = At<unsigned>(ring->cq_map_, p.cq_off.head);
  ring->cq_tail_ = At<unsigned>(ring->cq_map_, p.cq_off.tail);
  ring->cq_mask_ = At<unsigned>(ring->cq_map_, p.cq_off.ring_mask);
  ring->cqes_ = At<void>(ring->cq_map_, p.cq_off.cqes);
  ring->data_ = data;
  ring->on_done_ = on_done;
  ring->owner_ = owner;
  ring->poll_ = NewHandle<uv_poll_t>();
  if (uv_poll_init(data->loop, ring->poll_, ring->event_fd_) != 0) {
    std::free(ring->poll_);
    ring->poll_ = nullptr;
    ring->Close();
    return nullptr;
  }
  ring->poll_->data = ring;
  if (uv_poll_start(ring->poll_, UV_READABLE, OnPoll) != 0) {
    ring->Close();
    return nullptr;
  }
  // The waits themselves keep the loop alive (JobHub refs its handle while any is pending).
  uv_unref(reinterpret_cast<uv_handle_t*>(ring->poll_));
  return ring;
}

FutexRing::Sqe* FutexRing::NextSqe() {
  unsigned tail = *sq_tail_ + queued_;
  unsigned index = tail & *sq_mask_;
  auto* sqe = static_cast<Sqe*>(sqes_map_) + index;
  std::memset(sqe, 0, sizeof *sqe);
  sq_array_[index] = index;
  queued_++;
  return sqe;
}

unsigned FutexRing::Submit(unsigned count) {
  unsigned tail = *sq_tail_;
  __atomic_store_n(sq_tail_, tail + count, __ATOMIC_RELEASE);
  queued_ = 0;
  int rc;
  while ((rc = Enter(ring_fd_, count, 0)) < 0 && errno == EINTR) {
  }
  if (rc == static_cast<int>(count)) return count;
  // The kernel took `rc` entries (none after an error), in order: the others must not be submitted later by
  // someone else's enter.
  unsigned taken = rc > 0 ? static_cast<unsigned>(rc) : 0;
  __atomic_store_n(sq_tail_, tail + taken, __ATOMIC_RELEASE);
  return taken;
}

bool FutexRing::Wait(uint32_t id, int32_t* addr, int32_t value, const struct timespec* deadline) {
  if (ring_fd_ < 0 || sq_entries_ < 2) return false;
  Sqe* wait = NextSqe();
  wait->opcode = kOpFutexWait;
  wait->fd = static_cast<int32_t>(kFutex2SizeU32);
  wait->addr = reinterpret_cast<uint64_t>(addr);
  wait->off = static_cast<uint32_t>(value);  // addr2: the expected value
  wait->addr3 = FUTEX_BITSET_MATCH_ANY;      // the wake mask
  wait->user_data = id;
  if (deadline == nullptr) return Submit(1) == 1;
  // Copied by the kernel while it prepares the request, inside Submit.
  __kernel_timespec ts{deadline->tv_sec, deadline->tv_nsec};
  wait->flags |= IOSQE_IO_LINK;
  Sqe* timeout = NextSqe();
  timeout->opcode = IORING_OP_LINK_TIMEOUT;
  timeout->addr = reinterpret_cast<uint64_t>(&ts);
  timeout->len = 1;
  timeout->timeout_flags = IORING_TIMEOUT_ABS;  // CLOCK_MONOTONIC, the clock of DeadlineFromNow
  timeout->user_data = kAux | id;
  unsigned taken = Submit(2);
  if (taken == 2) return true;
  // Only the wait went in (the kernel could not take its timeout): withdraw it; the caller waits on a thread,
  // and this request's completion finds the job no longer on the ring.
  if (taken == 1) Cancel(id);
  return false;
}

bool FutexRing::Cancel(uint32_t id) {
  if (ring_fd_ < 0) return false;
  Sqe* cancel = NextSqe();
  cancel->opcode = IORING_OP_ASYNC_CANCEL;
  cancel->addr = id;  // the user_data of the wait
  cancel->user_data = kAux | id;
  return Submit(1) == 1;
}

void FutexRing::Reap() {
  std::vector<std::pair<uint32_t, int32_t>> done;
  for (;;) {
    unsigned head = *cq_head_;
    unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      const auto& cqe = static_cast<io_uring_cqe*>(cqes_)[head & *cq_mask_];
      if ((cqe.user_data & kAux) == 0) done.emplace_back(static_cast<uint32_t>(cqe.user_data), cqe.res);
    }
    __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
    // More completions than the ring holds wait in the kernel's overflow list until an enter flushes them.
    if ((__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) == 0) break;
    if (Enter(ring_fd_, 0, IORING_ENTER_GETEVENTS) < 0 && errno != EINTR) break;
  }
  if (!done.empty()) on_done_(owner_, done);
}

void FutexRing::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* ring = static_cast<FutexRing*>(handle->data);
  uint64_t count;
  while (read(ring->event_fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  ring->Reap();
}

void FutexRing::Close() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    data_->CloseHandle(reinterpret_cast<uv_handle_t*>(poll_));
    poll_ = nullptr;
  }
  if (sqes_map_ != nullptr) munmap(sqes_map_, sqes_map_bytes_);
  if (cq_map_ != nullptr) munmap(cq_map_, cq_map_bytes_);
  if (sq_map_ != nullptr) munmap(sq_map_, sq_map_bytes_);
  if (ring_fd_ >= 0) close(ring_fd_);
  if (event_fd_ >= 0) close(event_fd_);
  delete this;
}

#else  // no <linux/io_uring.h>: futex waits use waiter threads

struct FutexRing::Sqe {};
FutexRing* FutexRing::Create(EnvData*, OnDone, void*) { return nullptr; }
bool FutexRing::Wait(uint32_t, int32_t*, int32_t, const struct timespec*) { return false; }
bool FutexRing::Cancel(uint32_t) { return false; }
void FutexRing::Close() { delete this; }

#endif

}  // namespace ipcx
