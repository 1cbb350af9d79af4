export {
  conformanceCases,
  describeChannelConformance,
  CaseSkipped,
  pendingAfterTurns,
  type ChannelPair,
  type ChannelPairFactory,
  type ConformanceCase,
  type ConformanceLimits,
  type KillablePeer,
  type KillablePeerFactory,
} from './conformance.js';
export { within } from './within.js';
export {
  childLines,
  defer,
  exitOf,
  ignoring,
  killTrackedChildren,
  rejection,
  runDeferred,
  shmLeftovers,
  spawnCode,
  spawnNode,
  trackChild,
  uniqueName,
  type ChildLines,
  type ChildOutput,
} from './helpers.js';
