/* System V semaphores: semop(2) on a private set, no payload, run at one size (the 64 B column). Round trip:
 * +1 on semaphore 0, wait -1 on semaphore 1 (the peer the reverse). Throughput: +1 per message on semaphore 2
 * with the window of the eventfd row (at most 256 unacknowledged; semaphore 3 acknowledges every 128).
 * Removed at exit by the process that made it. */
#include <sys/ipc.h>
#include <sys/sem.h>
#include "harness.h"

#define WINDOW 256
static int sid = -1;
static pid_t owner;

static void remove_set(void) {
  if (getpid() == owner && sid >= 0) semctl(sid, 0, IPC_RMID);
}
static const char *mech_init(size_t size, int rtt) {
  (void)rtt;
  if (size != 64) return "a semaphore carries no payload: measured once, in the 64 B column";
  owner = getpid();
  sid = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
  if (sid < 0) die("semget");
  atexit(remove_set);
  return NULL;
}
static void op(unsigned short index, short delta) {
  struct sembuf b = {index, delta, 0};
  while (semop(sid, &b, 1) != 0)
    if (errno != EINTR) die("semop");
}
static long sent, acked;
static void send_n(long n) {
  for (long i = 0; i < n; i++) {
    if (sent - acked >= WINDOW) {
      op(3, -(WINDOW / 2));
      acked += WINDOW / 2;
    }
    op(2, 1);
    sent++;
  }
}
static long received;
static void recv_n(long n) {
  for (long i = 0; i < n; i++) {
    op(2, -1);
    if (++received % (WINDOW / 2) == 0) op(3, WINDOW / 2);
  }
}
static void ping(void) {
  op(0, 1);
  op(1, -1);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    op(0, -1);
    op(1, 1);
  }
}
