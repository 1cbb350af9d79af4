/* Shared-memory ring and mailboxes, waiting by futex(2): the ring parks a side only when it must, the
 * round trip always sleeps and wakes (futex ping-pong). */
#include "shm_ring.h"
