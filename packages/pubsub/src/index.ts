export { Publisher, type PublishOptions, type PublisherOptions, type Revision } from './publisher.js';
export { Subscriber, type SubscriberOptions } from './subscriber.js';
export { listTopics, type TopicInfo } from './list-topics.js';
export { MAX_TOPIC_LENGTH, checkTopicName, runtimeDir, segmentName } from './names.js';
