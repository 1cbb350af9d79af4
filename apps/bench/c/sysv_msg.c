/* System V message queues: one msgsnd(2) and one msgrcv(2) per message, blocking. One private queue
 * (IPC_PRIVATE, default capacity msgmnb, 16 KiB), as the SysvChannel rows use: throughput sends type 1,
 * round trips go there as type 1 and back as type 2. Removed at exit by the process that made it. Messages
 * above msgmax (8 KiB by default) are refused by the kernel and reported as a skip. */
#include <sys/ipc.h>
#include <sys/msg.h>
#include "harness.h"

static int qid = -1;
static pid_t owner;
static struct {
  long mtype;
  unsigned char mtext[65536];
} sbuf, rbuf;

static void remove_queue(void) {
  if (getpid() == owner && qid >= 0) msgctl(qid, IPC_RMID, NULL);
}
static const char *mech_init(size_t size, int rtt) {
  (void)rtt;
  struct msqid_ds ds;
  owner = getpid();
  qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (qid < 0) die("msgget");
  atexit(remove_queue);
  if (msgctl(qid, IPC_STAT, &ds) != 0) die("msgctl");
  if (size > 8192 || size > ds.msg_qbytes || size > sizeof sbuf.mtext) {
    static char why[160];
    snprintf(why, sizeof why, "a %zu-byte message is above msgmax (8192, /proc/sys/kernel/msgmax) or the queue's %lu bytes", size, (unsigned long)ds.msg_qbytes);
    return why;
  }
  return NULL;
}
static void xsend(long type, const void *p) {
  sbuf.mtype = type;
  memcpy(sbuf.mtext, p, msg_size);
  while (msgsnd(qid, &sbuf, msg_size, 0) < 0)
    if (errno != EINTR) die("msgsnd");
}
static void xrecv(long type, void *p) {
  ssize_t r;
  while ((r = msgrcv(qid, &rbuf, sizeof rbuf.mtext, type, 0)) < 0)
    if (errno != EINTR) die("msgrcv");
  memcpy(p, rbuf.mtext, (size_t)r);
}
static void send_n(long n) {
  for (long i = 0; i < n; i++) xsend(1, out_buf);
}
static void recv_n(long n) {
  for (long i = 0; i < n; i++) xrecv(1, in_buf);
}
static void ping(void) {
  xsend(1, out_buf);
  xrecv(2, in_buf);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    xrecv(1, in_buf);
    xsend(2, in_buf);
  }
}
