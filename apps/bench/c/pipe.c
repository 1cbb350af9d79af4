/* Two pipes: one write(2) and one read(2) of the message per message (reads loop on short reads). */
#include "harness.h"

static int a[2], b[2]; /* a: parent -> child, b: child -> parent */

static const char *mech_init(size_t size, int rtt) {
  (void)size;
  (void)rtt;
  if (pipe(a) || pipe(b)) die("pipe");
  return NULL;
}
static void send_n(long n) {
  for (long i = 0; i < n; i++) write_all(a[1], out_buf, msg_size);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) read_all(a[0], in_buf, msg_size);
}
static void ping(void) {
  write_all(a[1], out_buf, msg_size);
  read_all(b[0], in_buf, msg_size);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    read_all(a[0], in_buf, msg_size);
    write_all(b[1], in_buf, msg_size);
  }
}
