/* POSIX message queues, non-blocking descriptors: a full or empty queue is retried at once (two busy
 * cores), as an MqChannel does during its bounded spin. */
#define MQ_SPIN 1
#include "mq.c"
