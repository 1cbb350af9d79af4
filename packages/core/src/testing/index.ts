export {
  conformanceCases,
  describeChannelConformance,
  pendingAfterTurns,
  type ChannelPair,
  type ChannelPairFactory,
  type ConformanceCase,
  type ConformanceLimits,
  type KillablePeer,
  type KillablePeerFactory,
} from './conformance.js';
export { within } from './within.js';
