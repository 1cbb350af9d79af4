/* A Unix datagram socketpair: one send(2) and one recv(2) per message; the kernel blocks the sender
 * while the receiver's queue is full (net.unix.max_dgram_qlen, send buffer); default buffer sizes, as the Node rows. */
#include <sys/socket.h>
#include "harness.h"

static int sv[2];

static const char *mech_init(size_t size, int rtt) {
  (void)size;
  (void)rtt;
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) die("socketpair");
  return NULL;
}
static void xsend(int fd, const void *p) {
  while (send(fd, p, msg_size, 0) < 0)
    if (errno != EINTR) die("send");
}
static void xrecv(int fd, void *p) {
  ssize_t r;
  while ((r = recv(fd, p, msg_size, 0)) < 0)
    if (errno != EINTR) die("recv");
  if ((size_t)r != msg_size) {
    fprintf(stderr, "recv: short datagram\n");
    exit(1);
  }
}
static void send_n(long n) {
  for (long i = 0; i < n; i++) xsend(sv[0], out_buf);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) xrecv(sv[1], in_buf);
}
static void ping(void) {
  xsend(sv[0], out_buf);
  xrecv(sv[0], in_buf);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    xrecv(sv[1], in_buf);
    xsend(sv[1], in_buf);
  }
}
