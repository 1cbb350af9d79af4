export type { NatsConnectOptions } from './internal/connection.js';
export { NatsChannel, type NatsChannelConnectOptions, type NatsChannelOptions } from './nats-channel.js';
export { NatsChannelServer, type NatsChannelServerOptions } from './nats-channel-server.js';
export {
  NatsPublisher,
  NatsPublisher as Publisher,
  type NatsPublisherOptions,
  type PublishOptions,
  type UpdateOptions,
} from './nats-publisher.js';
export {
  NatsSubscriber,
  NatsSubscriber as Subscriber,
  type NatsSubscriberOptions,
  type TopicEntry,
} from './nats-subscriber.js';
export {
  bridgeTopic,
  type BridgeTopicOptions,
  type LocalTopicPublisher,
  type LocalTopicSubscriber,
  type TopicBridge,
} from './bridge.js';
