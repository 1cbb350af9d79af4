/* A Unix stream socketpair: one write(2) and one read(2) of the message per message (no framing needed,
 * both sides know the size; reads loop on short reads). */
#include <sys/socket.h>
#include "harness.h"

static int sv[2];

static const char *mech_init(size_t size, int rtt) {
  (void)size;
  (void)rtt;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) die("socketpair");
  return NULL;
}
static void send_n(long n) {
  for (long i = 0; i < n; i++) write_all(sv[0], out_buf, msg_size);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) read_all(sv[1], in_buf, msg_size);
}
static void ping(void) {
  write_all(sv[0], out_buf, msg_size);
  read_all(sv[0], in_buf, msg_size);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    read_all(sv[1], in_buf, msg_size);
    write_all(sv[1], in_buf, msg_size);
  }
}
