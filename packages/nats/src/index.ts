export type { NatsConnectOptions } from './internal/connection.js';
export { NatsChannel, type NatsChannelConnectOptions, type NatsChannelOptions } from './nats-channel.js';
export { NatsChannelServer, type NatsChannelServerOptions } from './nats-channel-server.js';
