// Sizes and bounds the rows share with the report (kept apart from the transports, which import packages
// that may not be built).

/** Ring size (bufferBytes, each direction) of the ShmChannel throughput rows; round trips use the default options. */
export const SHM_THROUGHPUT_CAPACITY = 1 << 20;

/**
 * Queue depth of the MqChannel throughput rows, and of each of the two queues of the round-trip rows (two
 * queues of 64 KiB messages must fit the default RLIMIT_MSGQUEUE of 800 KiB). The C mq row uses the same.
 */
export const MQ_DEPTH = { throughput: 10, rtt: 4 };
