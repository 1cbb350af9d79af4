/* A connected socket pair whose receiver spins the way ipcx's socket channels do (SockSpinReceive in
 * packages/native/cpp/socket.cc): recv(2) with MSG_DONTWAIT, sched_yield(2) between attempts, for up to
 * 50 µs (the channels' default spinMicroseconds), then a sleep in poll(2) where ipcx sleeps in epoll. Sends
 * are plain blocking writes of the whole message. With syscalls at about 1 µs on a small VM, a round trip
 * that never sleeps is the floor of a spinning socket transport; the blocking rows pay two wake-ups more.
 *
 * The including file defines open_pair(), which connects ends[0] (the parent's) to ends[1] (the child's).
 * Messages have a fixed size, so a stream needs no framing (a short read is completed by the next recv), and
 * on a packet socket the first recv returns the whole message. */
#include "harness.h"
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#define SPIN_NS 50000

static int ends[2];

static void open_pair(void);

static const char *mech_init(size_t size, int rtt) {
  (void)size;
  (void)rtt;
  open_pair();
  return NULL;
}

/* Receives exactly n bytes; spins as above whenever nothing is there, with a fresh budget after each sleep. */
static void spin_recv(int fd, void *p, size_t n) {
  unsigned char *c = p;
  int64_t deadline = 0;
  while (n > 0) {
    ssize_t r = recv(fd, c, n, MSG_DONTWAIT);
    if (r > 0) {
      c += r;
      n -= (size_t)r;
      deadline = 0;
      continue;
    }
    if (r == 0) {
      fprintf(stderr, "recv: unexpected end of stream\n");
      exit(1);
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) die("recv");
    int64_t now = now_ns();
    if (deadline == 0) {
      deadline = now + SPIN_NS;
    } else if (now >= deadline) {
      struct pollfd w = {fd, POLLIN, 0};
      if (poll(&w, 1, -1) < 0 && errno != EINTR) die("poll");
      deadline = 0;
      continue;
    }
    /* Yield rather than only retry: with more runnable tasks than cores, keeping the CPU starves the peer. */
    sched_yield();
  }
}

static void send_n(long n) {
  for (long i = 0; i < n; i++) write_all(ends[0], out_buf, msg_size);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) spin_recv(ends[1], in_buf, msg_size);
}
static void ping(void) {
  write_all(ends[0], out_buf, msg_size);
  spin_recv(ends[0], in_buf, msg_size);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    spin_recv(ends[1], in_buf, msg_size);
    write_all(ends[1], in_buf, msg_size);
  }
}
