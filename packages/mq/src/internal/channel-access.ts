/**
 * The parts of a MessageQueue that MqChannel uses and users do not: symbol-keyed, so they stay out of the
 * public API. Together they are `receive` and `send` split at the point where they must make a promise.
 */
export const receiveSoon: unique symbol = Symbol('receiveSoon');
export const waitToReceive: unique symbol = Symbol('waitToReceive');
export const sendSoon: unique symbol = Symbol('sendSoon');
export const waitToSend: unique symbol = Symbol('waitToSend');

/** What a send that did not have to wait returns: one settled promise serves them all. */
export const RESOLVED: Promise<void> = Promise.resolve();
