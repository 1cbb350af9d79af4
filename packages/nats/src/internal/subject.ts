import { InvalidNameError } from '@ipcx/core';

/** Longest subject accepted; NATS has no hard limit, but a subject travels with every message. */
const MAX_SUBJECT_BYTES = 256;

/**
 * Checks a NATS subject that ipcx publishes to or listens on: dot-separated tokens, no empty token, no
 * whitespace, no wildcard (`*`, `>`); the `_IPCX.` prefix is ipcx's own.
 * @throws InvalidNameError
 */
export function checkSubject(subject: unknown): string {
  if (typeof subject !== 'string') throw new InvalidNameError(String(subject), 'a subject is a string');
  if (subject.length === 0) throw new InvalidNameError(subject, 'empty');
  if (Buffer.byteLength(subject) > MAX_SUBJECT_BYTES)
    throw new InvalidNameError(subject, `longer than ${MAX_SUBJECT_BYTES} bytes`);
  if (/[\s*>]/.test(subject)) throw new InvalidNameError(subject, 'no whitespace or wildcards (* >) in a subject');
  if (subject.split('.').some((token) => token.length === 0))
    throw new InvalidNameError(subject, 'an empty token (leading, trailing or double dot)');
  if (subject.startsWith('_IPCX.')) throw new InvalidNameError(subject, 'the _IPCX. prefix is reserved for ipcx');
  return subject;
}
