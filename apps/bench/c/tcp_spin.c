/* TCP over loopback (127.0.0.1, an ephemeral port, TCP_NODELAY on both ends, as ipcx's TCP channel) with
 * ipcx's spinning receive (sock_spin.h). Connected before the fork: the kernel completes the handshake
 * against the listening socket, so connect(2) returns before accept(2) is called. */
#include "sock_spin.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

static void no_delay(int fd) {
  int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on)) die("setsockopt(TCP_NODELAY)");
}

static void open_pair(void) {
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) die("socket");
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 1)) die("bind/listen");
  if (getsockname(listener, (struct sockaddr *)&addr, &len)) die("getsockname");
  ends[0] = socket(AF_INET, SOCK_STREAM, 0);
  if (ends[0] < 0) die("socket");
  if (connect(ends[0], (struct sockaddr *)&addr, sizeof addr)) die("connect");
  ends[1] = accept(listener, NULL, NULL);
  if (ends[1] < 0) die("accept");
  close(listener);
  no_delay(ends[0]);
  no_delay(ends[1]);
}
