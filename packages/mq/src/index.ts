export {
  MQ_PRIORITIES,
  MessageQueue,
  type MessageQueueCreateOptions,
  type MessageQueueOptions,
  type QueueAttributes,
  type QueueMessage,
} from './message-queue.js';
export {
  TypedMessageQueue,
  type CodecOptions,
  type TypedMessageQueueOpenOptions,
  type TypedMessageQueueOptions,
} from './typed-queue.js';
export { MqChannel, type MqChannelOpenOptions, type MqChannelOptions } from './mq-channel.js';
export {
  SysvMessageQueue,
  sysvMaxMessageBytes,
  type SysvMessage,
  type SysvMessageQueueCreateOptions,
  type SysvMessageQueueOptions,
  type SysvMsgStat,
  type SysvQueueKeyOptions,
  type SysvReceiveOptions,
  type SysvSelector,
} from './sysv-queue.js';
export { SysvChannel, type SysvChannelOptions } from './sysv-channel.js';
