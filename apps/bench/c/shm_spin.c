/* Shared-memory ring and mailboxes, waiting by spinning (two busy cores). */
#define WAIT_SPIN 1
#include "shm_ring.h"
