export { MQ_PRIORITIES, MessageQueue, type MessageQueueOptions, type QueueAttributes, type QueueMessage } from './message-queue.js';
export { MqChannel, mqChannel, type MqChannelOptions } from './mq-channel.js';
