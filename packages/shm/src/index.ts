export {
  ShmChannel,
  type NamedShmChannelOptions,
  type ShmChannelHandle,
  type ShmChannelOptions,
} from './shm-channel.js';
export { RingReader, RingWriter } from './ring.js';
export { checkShmName } from './segment.js';
