import { readdirSync } from 'node:fs';
import { TopicSegment } from './internal/segment.js';
import { TopicLock, lockFilePid } from './internal/topic-lock.js';
import { MAX_TOPIC_LENGTH, checkTopicName, lockPath, runtimeDir, socketPath } from './names.js';

/** One topic found by `listTopics`. */
export interface TopicInfo {
  /** The topic's name. */
  readonly topic: string;
  /** Its latest revision (0 when nothing was published or its segment cannot be read). */
  readonly revision: number;
  /** True while a publisher holds the topic's lock (the kernel's word: the lock goes when its holder dies). */
  readonly alive: boolean;
  /** The pid the publisher wrote into its lock file: a label, not proof of life. */
  readonly pid: number | undefined;
  /** The current generation (0 when no segment was found). */
  readonly generation: number;
  /** The POSIX shared-memory name of the current generation, if one exists. */
  readonly segment: string | undefined;
  /** The socket subscribers connect to. */
  readonly socket: string;
  /** Room for a value in the current generation, in bytes. */
  readonly bufferBytes: number;
  /** Revisions kept for replay. */
  readonly history: number;
  /** 'locked' when several writers may publish. */
  readonly writers: 'single' | 'locked';
}

/**
 * The topics whose socket or lock file is in the runtime directory (`dir`, as given to `Publisher.create`), live
 * ones and those a dead publisher left (`alive: false`; the next publisher takes them over, `Publisher.unlink`
 * removes them). Sorted by name.
 */
export async function listTopics(options: { dir?: string } = {}): Promise<TopicInfo[]> {
  const dir = runtimeDir(options.dir);
  const names = new Set<string>();
  for (const file of readdirSync(dir)) {
    const match = /^(.+)\.(sock|lock)$/.exec(file);
    if (match === null || match[1]!.length > MAX_TOPIC_LENGTH) continue;
    try {
      names.add(checkTopicName(match[1]));
    } catch {
      // not ours
    }
  }
  const topics: TopicInfo[] = [];
  for (const topic of [...names].sort()) {
    let segment: TopicSegment | undefined;
    try {
      segment = TopicSegment.openLatest(topic);
    } catch {
      segment = undefined; // another user's, or unreadable
    }
    const lock = lockPath(dir, topic);
    topics.push({
      topic,
      revision: segment?.head ?? 0,
      alive: TopicLock.held(lock),
      pid: lockFilePid(lock),
      generation: segment?.generation ?? 0,
      segment: segment?.name,
      socket: socketPath(dir, topic),
      bufferBytes: segment?.slotBytes ?? 0,
      history: segment?.kept ?? 0,
      writers: segment?.locked ? 'locked' : 'single',
    });
  }
  return topics;
}
