/* Baseline for bench/cost.mjs: the same mq round trip (send 64 bytes, receive them) in C. argv: name n */
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char** argv) {
  long n = atol(argv[2]);
  struct mq_attr attr = {0};
  attr.mq_maxmsg = 10;
  attr.mq_msgsize = 8192;
  mqd_t q = mq_open(argv[1], O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
  if (q == (mqd_t)-1) { perror("mq_open"); return 1; }
  mq_unlink(argv[1]);
  char msg[64], buf[8192];
  memset(msg, 7, sizeof msg);
  unsigned prio;
  for (long i = 0; i < n / 10; i++) { mq_send(q, msg, sizeof msg, 1); mq_receive(q, buf, sizeof buf, &prio); }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    if (mq_send(q, msg, sizeof msg, 1) != 0 || mq_receive(q, buf, sizeof buf, &prio) != sizeof msg) { perror("mq"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
