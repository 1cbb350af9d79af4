import {
  InvalidNameError,
  RevisionMismatchError,
  copyBytes,
  msgpackCodec,
  type Codec,
  type IpcError,
} from '@ipcx/core';
import { checkCodec } from '@ipcx/core/transport';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromNatsError } from './errors.js';

/** The one key of a topic's bucket: one key per bucket keeps the bucket's sequence the topic's revisions (1, 2, 3, …). */
export const TOPIC_KEY = 'value';

/** Bucket names are `ipcx-<topic>` unless the caller names the bucket. */
export function bucketName(topic: unknown, bucket: string | undefined): string {
  if (typeof topic !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(topic)) {
    throw new InvalidNameError(
      String(topic),
      'a NATS topic name is 1 to 200 letters, digits, _ or - (it names a KV bucket)',
    );
  }
  if (bucket !== undefined && (typeof bucket !== 'string' || !/^[A-Za-z0-9_-]{1,200}$/.test(bucket))) {
    throw new InvalidNameError(String(bucket), 'a KV bucket name is 1 to 200 letters, digits, _ or -');
  }
  return bucket ?? `ipcx-${topic}`;
}

/** The core subject on which a topic's publisher says it lives (`alive`) and that it left (`gone`). */
export function presenceSubject(bucket: string): string {
  return `_IPCX.topic.${bucket}.presence`;
}

/** The topic's codec option, checked (`msgpackCodec` when undefined). */
export function topicCodec<T>(codec: Codec<T> | undefined): Codec<T> {
  return checkCodec(codec, msgpackCodec as Codec<T>, ['encode', 'decode']);
}

/** Encoded bytes the caller owns (the client holds them until its next flush; the codec may reuse its buffer). */
export function encodeValue<T>(codec: Codec<T>, value: T): Uint8Array {
  return copyBytes(codec.encode(value));
}

/** The topic's existing KV bucket, or undefined when there is none (other failures throw). */
export async function openBucket(nc: NatsConnection, bucket: string): Promise<KV | undefined> {
  const kv = await new Kvm(nc).open(bucket);
  try {
    await kv.status();
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw error;
  }
  return kv;
}

/** True for JetStream's "wrong last sequence": a compare-and-set that lost. */
export function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Maps a failed KV write: a lost compare-and-set is `RevisionMismatchError`, the rest as `fromNatsError`. */
export function fromKvWriteError(what: string, error: unknown, expected: number | undefined, actual: number): IpcError {
  if (expected !== undefined && isWrongLastSequence(error))
    return new RevisionMismatchError(what, expected, actual, { cause: error });
  return fromNatsError(what, error);
}
