/* eventfd: an 8-byte counter, no payload. Round trip: two eventfds, write 1 / read. Throughput: a
 * semaphore-mode eventfd (each read takes one message) with the same window as the postMessage rows
 * (at most 256 unacknowledged, a credit eventfd acknowledged every 128). Run at one size only. */
#include <sys/eventfd.h>
#include "harness.h"

#define WINDOW 256
static int data, credit, there, back;

static const char *mech_init(size_t size, int rtt) {
  (void)rtt;
  if (size != 64) return "eventfd carries an 8-byte counter: measured once, in the 64 B column";
  data = eventfd(0, EFD_SEMAPHORE);
  credit = eventfd(0, 0);
  there = eventfd(0, 0);
  back = eventfd(0, 0);
  if (data < 0 || credit < 0 || there < 0 || back < 0) die("eventfd");
  return NULL;
}
static void put(int fd, uint64_t v) { write_all(fd, &v, sizeof v); }
static uint64_t take(int fd) {
  uint64_t v;
  read_all(fd, &v, sizeof v);
  return v;
}
static long sent, acked;
static void send_n(long n) {
  for (long i = 0; i < n; i++) {
    while (sent - acked >= WINDOW) acked += (long)take(credit);
    put(data, 1);
    sent++;
  }
}
static long received;
static void recv_n(long n) {
  for (long i = 0; i < n; i++) {
    take(data);
    if (++received % (WINDOW / 2) == 0) put(credit, WINDOW / 2);
  }
}
static void ping(void) {
  put(there, 1);
  take(back);
}
static void pong_n(long n) {
  for (long i = 0; i < n; i++) {
    take(there);
    put(back, 1);
  }
}
