/* A Unix stream socketpair with ipcx's spinning receive (sock_spin.h); unix_stream.c is the blocking one. */
#include "sock_spin.h"

static void open_pair(void) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ends)) die("socketpair");
}
