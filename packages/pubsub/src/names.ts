import { lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidNameError, PermissionError } from '@ipcx/core';
import { fromSystemError } from '@ipcx/core/transport';

/** Longest topic name, in characters: keeps `<runtime dir>/<topic>.sock` within a socket address. */
export const MAX_TOPIC_LENGTH = 64;

const TOPIC_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Checks a topic name: 1 to 64 characters from `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`
 * (it becomes part of a file name and of a POSIX shared-memory name).
 * @throws InvalidNameError saying which rule the name breaks.
 */
export function checkTopicName(topic: unknown): string {
  if (typeof topic !== 'string') throw new InvalidNameError(String(topic), 'a topic name is a string');
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidNameError(topic, `a topic name has 1 to ${MAX_TOPIC_LENGTH} characters`);
  }
  if (!TOPIC_PATTERN.test(topic)) {
    throw new InvalidNameError(
      topic,
      "a topic name has only letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'",
    );
  }
  return topic;
}

/** Where shared-memory segments of this machine are listed (a tmpfs). */
export const SHM_DIR = '/dev/shm';

const SEGMENT_PREFIX = 'ipcx-topic-';

/** The POSIX shared-memory name of one generation of a topic: `/ipcx-topic-<topic>.<generation>`. */
export function segmentName(topic: string, generation: number): string {
  return `/${SEGMENT_PREFIX}${topic}.${generation}`;
}

/**
 * Splits a file name of /dev/shm into topic and generation, or undefined when it is not a topic segment.
 * The generation is the digits after the last '.', so a topic named `a.1` (generation 2: `a.1.2`) and a topic
 * named `a` (generation 1: `a.1`) never collide.
 */
export function parseSegmentFile(file: string): { topic: string; generation: number } | undefined {
  if (!file.startsWith(SEGMENT_PREFIX)) return undefined;
  const rest = file.slice(SEGMENT_PREFIX.length);
  const dot = rest.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const digits = rest.slice(dot + 1);
  if (!/^[1-9][0-9]{0,14}$/.test(digits)) return undefined;
  const topic = rest.slice(0, dot);
  if (!TOPIC_PATTERN.test(topic) || topic.length > MAX_TOPIC_LENGTH) return undefined;
  return { topic, generation: Number(digits) };
}

/** The generations of a topic's segments present in /dev/shm, highest first. */
export function topicGenerations(topic: string): number[] {
  const found: number[] = [];
  for (const file of listShm()) {
    const parsed = parseSegmentFile(file);
    if (parsed?.topic === topic) found.push(parsed.generation);
  }
  return found.sort((a, b) => b - a);
}

/** File names in /dev/shm (empty if it cannot be read). */
export function listShm(): string[] {
  try {
    return readdirSync(SHM_DIR);
  } catch {
    return [];
  }
}

/**
 * The runtime directory holding the topics' socket and lock files: `dir` when given, else `$IPCX_RUNTIME_DIR`,
 * else `$XDG_RUNTIME_DIR/ipcx`, else `/tmp/ipcx-<uid>`. Created 0700 when missing; one that exists must be a
 * directory owned by this user (a directory another user made is never used: `PermissionError`).
 */
export function runtimeDir(dir?: string): string {
  const chosen = dir ?? defaultRuntimeDir();
  if (typeof chosen !== 'string' || chosen.length === 0) throw new TypeError('dir must be a non-empty path');
  try {
    mkdirSync(chosen, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fromSystemError(`runtime directory ${chosen}`, error);
  }
  let stat;
  try {
    stat = lstatSync(chosen);
  } catch (error) {
    throw fromSystemError(`runtime directory ${chosen}`, error);
  }
  if (!stat.isDirectory()) throw new PermissionError(`runtime directory ${chosen} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid)
    throw new PermissionError(`runtime directory ${chosen} belongs to uid ${stat.uid}, not ${uid}`);
  return chosen;
}

function defaultRuntimeDir(): string {
  const own = process.env.IPCX_RUNTIME_DIR;
  if (own) return own;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'ipcx');
  return `/tmp/ipcx-${process.getuid?.() ?? 0}`;
}

/** The socket file of a topic. */
export function socketPath(dir: string, topic: string): string {
  return join(dir, `${topic}.sock`);
}

/** The lock file whose exclusive flock the live publisher holds. */
export function lockPath(dir: string, topic: string): string {
  return join(dir, `${topic}.lock`);
}

/** The lock file that several writers (`writers: 'locked'`) take around each write. */
export function writersLockPath(dir: string, topic: string): string {
  return join(dir, `${topic}.wlock`);
}
