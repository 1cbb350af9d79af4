export {
  conformanceCases,
  describeChannelConformance,
  type ChannelPair,
  type ChannelPairFactory,
  type ConformanceCase,
  type ConformanceLimits,
} from './conformance.js';
