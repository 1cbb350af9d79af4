/*
 * Shared memory between the two processes (MAP_SHARED | MAP_ANONYMOUS before fork), used two ways:
 * - throughput: a single-producer single-consumer ring of 1 MiB (as the ShmChannel throughput rows), frames
 *   of a 4-byte length + payload padded to 8, the write index published after every message; the consumer
 *   copies each payload out;
 * - round trips: one mailbox per direction (sequence word + payload), the payload copied in and out.
 * What a side does when it must wait is the only difference between the two programs that include this:
 * WAIT_SPIN spins on the index or sequence word; otherwise it sleeps in futex(2) (a waiting flag in shared
 * memory tells the other side to wake it; the round-trip mailboxes always wake, the classic futex ping-pong).
 */
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "harness.h"

#define CAPACITY (1u << 20)
#define LINE 64

struct shared {
  _Alignas(LINE) uint64_t write;   /* bytes published by the producer */
  uint32_t write_seq;              /* futex word: bumped when the producer wakes a parked consumer */
  uint32_t consumer_parked;
  _Alignas(LINE) uint64_t read;    /* bytes released by the consumer */
  uint32_t read_seq;               /* futex word: bumped when the consumer wakes a parked producer */
  uint32_t producer_parked;
  _Alignas(LINE) uint32_t seq_there; /* round trips: parent -> child mailbox */
  _Alignas(LINE) uint32_t seq_back;  /* child -> parent */
  _Alignas(LINE) unsigned char ring[CAPACITY];
};

static struct shared *sh;
static unsigned char *box_there, *box_back;

/* One step of a spin. After 4096 steps (tens to a few hundred µs) the side also yields its CPU: both sides spin,
 * and when a third process takes one of the CPUs, pure spinning would make every round trip wait for the
 * scheduler's next tick (milliseconds). The fast path is unchanged. */
static inline void spin_step(unsigned *spins) {
  if (++*spins < (1u << 12)) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    sched_yield();
  }
}

__attribute__((unused)) static void futex_wait(uint32_t *word, uint32_t value) {
  syscall(SYS_futex, word, FUTEX_WAIT, value, NULL, NULL, 0);
}
__attribute__((unused)) static void futex_wake(uint32_t *word) {
  syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static const char *mech_init(size_t size, int rtt) {
  (void)rtt;
  if (size + 16 > CAPACITY / 2) return "message larger than half the ring";
  sh = mmap(NULL, sizeof(struct shared) + 2 * (size + LINE), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) die("mmap");
  box_there = (unsigned char *)(sh + 1);
  box_back = box_there + size + LINE;
  return NULL;
}

static inline uint64_t frame_bytes(void) { return (4 + msg_size + 7) & ~(uint64_t)7; }

/* Waits until `*index` differs from `seen` (the other side moved), spinning or parking. */
static inline void wait_change(uint64_t *index, uint64_t seen, uint32_t *seq, uint32_t *parked) {
#ifdef WAIT_SPIN
  (void)seq;
  (void)parked;
  unsigned spins = 0;
  while (__atomic_load_n(index, __ATOMIC_ACQUIRE) == seen) spin_step(&spins);
#else
  while (__atomic_load_n(index, __ATOMIC_ACQUIRE) == seen) {
    uint32_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    __atomic_store_n(parked, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(index, __ATOMIC_SEQ_CST) == seen) futex_wait(seq, s);
    __atomic_store_n(parked, 0, __ATOMIC_RELAXED);
  }
#endif
}

/* Publishes `*index = value` and wakes the other side if it is parked. */
static inline void publish(uint64_t *index, uint64_t value, uint32_t *seq, uint32_t *parked) {
#ifdef WAIT_SPIN
  (void)seq;
  (void)parked;
  __atomic_store_n(index, value, __ATOMIC_RELEASE);
#else
  __atomic_store_n(index, value, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(parked, __ATOMIC_SEQ_CST)) {
    __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
    futex_wake(seq);
  }
#endif
}

static uint64_t w_local, r_local;

static void send_n(long n) {
  uint64_t need = frame_bytes();
  for (long i = 0; i < n; i++) {
    uint64_t at = w_local % CAPACITY;
    uint64_t pad = at + need > CAPACITY ? CAPACITY - at : 0; /* a frame never wraps: skip the tail */
    for (;;) {
      uint64_t r = __atomic_load_n(&sh->read, __ATOMIC_ACQUIRE);
      if (w_local + pad + need - r <= CAPACITY) break;
      wait_change(&sh->read, r, &sh->read_seq, &sh->producer_parked);
    }
    if (pad) {
      if (pad >= 4) *(uint32_t *)(sh->ring + at) = UINT32_MAX;
      w_local += pad;
      at = 0;
    }
    *(uint32_t *)(sh->ring + at) = (uint32_t)msg_size;
    memcpy(sh->ring + at + 4, out_buf, msg_size);
    w_local += need;
    publish(&sh->write, w_local, &sh->write_seq, &sh->consumer_parked);
  }
}

static void recv_n(long n) {
  uint64_t need = frame_bytes();
  for (long i = 0; i < n; i++) {
    uint64_t at = r_local % CAPACITY;
    if (at + need > CAPACITY) { /* the producer skipped the tail */
      r_local += CAPACITY - at;
      at = 0;
    }
    /* Wait for a change of the very value found short: loading it again could see the frame arrive and then
     * wait for a further write that a producer with a full ring never makes (both sides would wait forever). */
    for (;;) {
      uint64_t w = __atomic_load_n(&sh->write, __ATOMIC_ACQUIRE);
      if (w >= r_local + need) break;
      wait_change(&sh->write, w, &sh->write_seq, &sh->consumer_parked);
    }
    uint32_t length = *(uint32_t *)(sh->ring + at);
    memcpy(in_buf, sh->ring + at + 4, length);
    r_local += need;
    publish(&sh->read, r_local, &sh->read_seq, &sh->producer_parked);
  }
}

/* Round trips: copy in, bump the sequence word (and wake), wait for the answer's sequence, copy out. */
static inline void post_box(uint32_t *seq, unsigned char *box, const unsigned char *from) {
  memcpy(box, from, msg_size);
  __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
#ifndef WAIT_SPIN
  futex_wake(seq);
#endif
}
static inline void await_box(uint32_t *seq, uint32_t seen, unsigned char *box, unsigned char *to) {
#ifdef WAIT_SPIN
  unsigned spins = 0;
  while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) == seen) spin_step(&spins);
#else
  while (__atomic_load_n(seq, __ATOMIC_ACQUIRE) == seen) futex_wait(seq, seen);
#endif
  memcpy(to, box, msg_size);
}

static uint32_t there_seen, back_seen;

static void ping(void) {
  post_box(&sh->seq_there, box_there, out_buf);
  await_box(&sh->seq_back, back_seen, box_back, in_buf);
  back_seen++;
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    await_box(&sh->seq_there, there_seen, box_there, in_buf);
    there_seen++;
    post_box(&sh->seq_back, box_back, in_buf);
  }
}
