/* A Unix seqpacket socketpair with ipcx's spinning receive (sock_spin.h): one packet per message. */
#include "sock_spin.h"

static void open_pair(void) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends)) die("socketpair");
}
