import {
  AbortedError,
  ClosedError,
  NotFoundError,
  PeerGoneError,
  PermissionError,
  SystemError,
  TimeoutError,
  TooLargeError,
  isIpcError,
  type IpcError,
} from '@ipcx/core';
import { errnoError } from '@ipcx/core/transport';
import { errors } from '@nats-io/transport-node';

/**
 * Maps an error of the NATS client to the matching typed ipcx error, keeping it as `cause`. `what` names the
 * object and the operation, e.g. `topic "prices" publish`. NATS errors are told apart by class, never by message.
 */
export function fromNatsError(what: string, error: unknown): IpcError {
  if (isIpcError(error)) return error;
  const options = { cause: error };
  // A failed request wraps what happened (no responders, a timeout) in a RequestError.
  const inner = error instanceof errors.RequestError ? (error as Error).cause : undefined;
  if (inner instanceof errors.NoRespondersError)
    return new NotFoundError(`${what}: nobody listens on the subject`, options);
  if (inner instanceof errors.TimeoutError) return new TimeoutError(what, undefined, options);
  if (error instanceof errors.TimeoutError) return new TimeoutError(what, undefined, options);
  if (error instanceof errors.NoRespondersError)
    return new NotFoundError(`${what}: nobody listens on the subject`, options);
  if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
    return new ClosedError(`${what}: NATS connection`, options);
  }
  if (error instanceof errors.AuthorizationError || error instanceof errors.PermissionViolationError) {
    return new PermissionError(what, options);
  }
  if (error instanceof errors.ConnectionError) return new PeerGoneError(`${what}: NATS server`, options);
  if (error instanceof errors.InvalidArgumentError && /max_payload/.test(String((error as Error).message))) {
    return new TooLargeError(`${what}: message (the server's max_payload)`, undefined, undefined, options);
  }
  // A socket error of the connection to the server (ECONNREFUSED, ECONNRESET, …): core's one errno mapping.
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code))
    return errnoError(error, `${what}: NATS server`, { stage: 'connected' });
  if ((error as Error | undefined)?.name === 'AbortError') return new AbortedError(what, options);
  return new SystemError(what, options);
}
