/**
 * The parts of a MessageQueue that MqChannel uses and users do not: symbol-keyed, so they stay out of the
 * public API: `receive` and `send` split at the point where they must make a promise, and what a duplex
 * MqChannel needs to know that the other end lives.
 */
export const receiveSoon: unique symbol = Symbol('receiveSoon');
export const waitToReceive: unique symbol = Symbol('waitToReceive');
export const sendSoon: unique symbol = Symbol('sendSoon');
export const waitToSend: unique symbol = Symbol('waitToSend');
/** Takes flock(LOCK_EX) on the queue without waiting: true if taken (it stays until the descriptor closes). */
export const lockQueue: unique symbol = Symbol('lockQueue');
/** True if another open description of the queue (another end, usually another process) holds that lock. */
export const lockedElsewhere: unique symbol = Symbol('lockedElsewhere');
/** Adds marker bits to the queue's mode (an opening end was here); see MqChannel. */
export const markOpened: unique symbol = Symbol('markOpened');
/** True if the queue's mode has the marker bits (and clears them when asked). */
export const markedOpened: unique symbol = Symbol('markedOpened');
/** The uid that owns the queue (fstat). */
export const ownerUid: unique symbol = Symbol('ownerUid');
/** Makes a MessageQueue the owner of its name (registered; unlinked by its close and destroy). */
export const own: unique symbol = Symbol('own');
/** Resolves once every send waiting now is in the queue or has failed. */
export const sendsSettled: unique symbol = Symbol('sendsSettled');
/** Rejects every waiting receive (only) with an error. */
export const failReceives: unique symbol = Symbol('failReceives');
/** Rejects every waiting receive and send with an error. */
export const failWaits: unique symbol = Symbol('failWaits');

/** What a send that did not have to wait returns: one settled promise serves them all. */
export const RESOLVED: Promise<void> = Promise.resolve();
