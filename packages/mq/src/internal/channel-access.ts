/**
 * The parts of a MessageQueue that MqChannel uses and users do not: symbol-keyed, so they stay out of the
 * public API. Together they are `receive` split at the point where it must make a promise.
 */
export const receiveSoon: unique symbol = Symbol('receiveSoon');
export const waitToReceive: unique symbol = Symbol('waitToReceive');
