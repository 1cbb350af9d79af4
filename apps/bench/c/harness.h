/*
 * The C baselines' shared harness: the raw syscalls with nothing on top, measured the way the Node rows are.
 *
 * Each mechanism file defines the functions declared below and includes this file. The program forks: the
 * parent sends (throughput) or pings (round trips), the child receives or echoes. A pair of control pipes,
 * outside the timed region, tells the child what to do; the child stamps the arrival of the last message with
 * CLOCK_MONOTONIC (the clock behind process.hrtime in Node), so a throughput run is timed from the parent's
 * first send to the child's last receive, exactly as in the Node rows.
 *
 * usage: <program> <size> <throughput|rtt> <target_seconds> <runs> <warmup> <calibrate_seconds> <min_count>
 * prints one JSON line: {"n":N,"seconds":[...]} | {"rounds":R,"p50":[ns...],"p99":[ns...]} | {"skip":"why"}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set up before fork (both ends inherit); NULL, or why this size cannot run (printed as a skip). */
static const char *mech_init(size_t size, int rtt);
/* Parent: send n messages of `size` bytes (throughput). */
static void send_n(long n);
/* Child: receive n messages (throughput). */
static void recv_n(long n);
/* Parent: one round trip. */
static void ping(void);
/* Child: echo n messages. */
static void pong_n(long n);

static size_t msg_size;
static unsigned char *out_buf; /* what the sender sends */
static unsigned char *in_buf;  /* where the receiver copies to */

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void write_all(int fd, const void *p, size_t n) {
  const unsigned char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    c += w;
    n -= (size_t)w;
  }
}

static void read_all(int fd, void *p, size_t n) {
  unsigned char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) {
      fprintf(stderr, "read: unexpected end of file\n");
      exit(1);
    }
    c += r;
    n -= (size_t)r;
  }
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile, as stats.mjs computes it. */
static int64_t percentile(int64_t *sorted, long n, double q) {
  long rank = (long)(q * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

struct command {
  long op; /* 0 exit, 1 receive n, 2 echo n */
  long n;
};

static int to_child, from_child;

static double throughput_run(long n) {
  struct command c = {1, n};
  write_all(to_child, &c, sizeof c);
  int64_t start = now_ns();
  send_n(n);
  int64_t end;
  read_all(from_child, &end, sizeof end);
  return (double)(end - start) / 1e9;
}

static void rtt_run(long rounds, int64_t *lat) {
  struct command c = {2, rounds};
  write_all(to_child, &c, sizeof c);
  for (long i = 0; i < rounds; i++) {
    int64_t t = now_ns();
    ping();
    lat[i] = now_ns() - t;
  }
  int64_t ack;
  read_all(from_child, &ack, sizeof ack);
}

static void child_loop(int in, int out) {
  for (;;) {
    struct command c;
    read_all(in, &c, sizeof c);
    if (c.op == 0) _exit(0);
    if (c.op == 1) {
      recv_n(c.n);
      int64_t t = now_ns();
      write_all(out, &t, sizeof t);
    } else {
      pong_n(c.n);
      int64_t t = 0;
      write_all(out, &t, sizeof t);
    }
  }
}

static long clamp(double v, long lo, long hi) {
  if (v < (double)lo) return lo;
  if (v > (double)hi) return hi;
  return (long)v;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s size throughput|rtt target_seconds runs warmup calibrate_seconds min_count\n", argv[0]);
    return 2;
  }
  msg_size = (size_t)atol(argv[1]);
  int rtt = strcmp(argv[2], "rtt") == 0;
  double target = atof(argv[3]);
  int runs = atoi(argv[4]);
  int warmup = atoi(argv[5]);
  double calibrate = atof(argv[6]);
  long min_count = atol(argv[7]); /* fewest messages (throughput) or round trips (rtt) per run */
  out_buf = malloc(msg_size + 8);
  in_buf = malloc(msg_size + 8);
  for (size_t i = 0; i < msg_size; i++) out_buf[i] = (unsigned char)(i * 31 + 7);

  const char *skip = mech_init(msg_size, rtt);
  if (skip) {
    printf("{\"skip\":\"%s\"}\n", skip);
    return 0;
  }
  int down[2], up[2];
  if (pipe(down) || pipe(up)) die("pipe");
  fflush(stdout);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    /* Die with the parent: a runner that kills the program on a timeout kills only the parent's pid. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    close(down[1]);
    close(up[0]);
    child_loop(down[0], up[1]);
  }
  close(down[0]);
  close(up[1]);
  to_child = down[1];
  from_child = up[0];

  if (!rtt) {
    long n = 100;
    double s;
    throughput_run(n); /* cold: child start, page faults */
    for (;;) {
      s = throughput_run(n);
      if (s >= calibrate || n >= 50000000) break;
      n *= 4;
    }
    long count = clamp((double)n / s * target, min_count, 50000000);
    /* A preempted calibration run underestimates the rate: re-aim while a warm-up run is far too short. */
    for (int i = 0, aims = 0; i < warmup || aims < 3; i++) {
      double w = throughput_run(count);
      if (w >= target / 3 || count >= 50000000) {
        if (i + 1 >= warmup) break;
        continue;
      }
      count = clamp((double)count / w * target, min_count, 50000000);
      aims++;
    }
    printf("{\"n\":%ld,\"seconds\":[", count);
    for (int i = 0; i < runs; i++) printf("%s%.9f", i ? "," : "", throughput_run(count));
    printf("]}\n");
  } else {
    long probe = 0;
    int64_t *lat = malloc(sizeof(int64_t) * 1000000);
    rtt_run(100, lat); /* cold */
    int64_t start = now_ns();
    while (now_ns() - start < (int64_t)(calibrate * 1e9) && probe < 1000000) {
      rtt_run(100, lat);
      probe += 100;
    }
    double each = (double)(now_ns() - start) / 1e9 / (double)probe;
    long rounds = clamp(target / each, min_count, 1000000);
    for (int i = 0; i < warmup; i++) rtt_run(rounds, lat);
    int64_t p50[64], p99[64];
    for (int i = 0; i < runs && i < 64; i++) {
      rtt_run(rounds, lat);
      qsort(lat, (size_t)rounds, sizeof(int64_t), cmp_i64);
      p50[i] = percentile(lat, rounds, 0.5);
      p99[i] = percentile(lat, rounds, 0.99);
    }
    printf("{\"rounds\":%ld,\"p50\":[", rounds);
    for (int i = 0; i < runs; i++) printf("%s%lld", i ? "," : "", (long long)p50[i]);
    printf("],\"p99\":[");
    for (int i = 0; i < runs; i++) printf("%s%lld", i ? "," : "", (long long)p99[i]);
    printf("]}\n");
  }
  struct command quit = {0, 0};
  write_all(to_child, &quit, sizeof quit);
  waitpid(pid, NULL, 0);
  return 0;
}
