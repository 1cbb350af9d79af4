/* POSIX message queues, blocking descriptors: one mq_send(3) and one mq_receive(3) per message. Same
 * attributes as the MqChannel rows: depth 10 for throughput, two queues of depth 4 for round trips,
 * message size = the message. Names are unlinked right after opening, so nothing outlives the run.
 * With MQ_SPIN (mq_spin.c) the descriptors are non-blocking and a full or empty queue is retried at once. */
#include <fcntl.h>
#include <mqueue.h>
#include "harness.h"

#ifndef MQ_SPIN
#define MQ_SPIN 0
#endif
#define MQ_RETRY(e) ((e) == EINTR || (MQ_SPIN && (e) == EAGAIN))

static mqd_t q1, q2;

static mqd_t open_queue(const char *what, long depth, size_t size, const char **skip) {
  char name[64];
  snprintf(name, sizeof name, "/ipcx-bench-c-%d-%s", (int)getpid(), what);
  struct mq_attr attr = {0};
  attr.mq_maxmsg = depth;
  attr.mq_msgsize = (long)size;
  mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | (MQ_SPIN ? O_NONBLOCK : 0), 0600, &attr);
  if (q == (mqd_t)-1) {
    static char why[160];
    snprintf(why, sizeof why, "mq_open(depth %ld, message %zu bytes): %s (see /proc/sys/fs/mqueue and ulimit -q)", depth, size, strerror(errno));
    *skip = why;
    return q;
  }
  mq_unlink(name);
  return q;
}
static const char *mech_init(size_t size, int rtt) {
  const char *skip = NULL;
  q1 = open_queue("a", rtt ? 4 : 10, size, &skip);
  if (skip) return skip;
  if (rtt) q2 = open_queue("b", 4, size, &skip);
  return skip;
}
static void xsend(mqd_t q, const void *p) {
  while (mq_send(q, p, msg_size, 0) < 0)
    if (!MQ_RETRY(errno)) die("mq_send");
}
static void xrecv(mqd_t q, void *p) {
  while (mq_receive(q, p, msg_size, NULL) < 0)
    if (!MQ_RETRY(errno)) die("mq_receive");
}
static void send_n(long n) {
  for (long i = 0; i < n; i++) xsend(q1, out_buf);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) xrecv(q1, in_buf);
}
static void ping(void) {
  xsend(q1, out_buf);
  xrecv(q2, in_buf);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    xrecv(q1, in_buf);
    xsend(q2, in_buf);
  }
}
