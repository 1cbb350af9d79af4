/** A server's hook on a channel it accepted: told once how the connection ended, when it ended with an error. */
export const observeEnd: unique symbol = Symbol('observeEnd');
