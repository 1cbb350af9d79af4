/* POSIX semaphores: sem_post(3) / sem_wait(3) on unnamed process-shared semaphores in shared memory (a named
 * semaphore is the same sem_t in a /dev/shm file), no payload, run at one size (the 64 B column). Same shape
 * as sysv_sem.c: round trip there and back; throughput with the eventfd row's window. */
#include <semaphore.h>
#include <sys/mman.h>
#include "harness.h"

#define WINDOW 256
static sem_t *s;

static const char *mech_init(size_t size, int rtt) {
  (void)rtt;
  if (size != 64) return "a semaphore carries no payload: measured once, in the 64 B column";
  s = mmap(NULL, 4 * sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) die("mmap");
  for (int i = 0; i < 4; i++)
    if (sem_init(&s[i], 1, 0) != 0) die("sem_init");
  return NULL;
}
static void post(int i, int count) {
  for (int k = 0; k < count; k++)
    if (sem_post(&s[i]) != 0) die("sem_post");
}
static void wait1(int i) {
  while (sem_wait(&s[i]) != 0)
    if (errno != EINTR) die("sem_wait");
}
static long sent, acked;
static void send_n(long n) {
  for (long i = 0; i < n; i++) {
    if (sent - acked >= WINDOW) {
      for (int k = 0; k < WINDOW / 2; k++) wait1(3);
      acked += WINDOW / 2;
    }
    post(2, 1);
    sent++;
  }
}
static long received;
static void recv_n(long n) {
  for (long i = 0; i < n; i++) {
    wait1(2);
    if (++received % (WINDOW / 2) == 0) post(3, WINDOW / 2);
  }
}
static void ping(void) {
  post(0, 1);
  wait1(1);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    wait1(0);
    post(1, 1);
  }
}
