// The one place where transport errors become SDK errors.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, StatehouseErrorSchema } from "@statehouse/api";
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionDeniedError,
  StatehouseError,
  TransactionError,
  type StatehouseErrorCode,
} from "./errors.js";

/** Why a call's signal fired, if it did: decides what a cancellation means. */
export interface CallContext {
  /** The caller's own signal (from the method's options). */
  readonly callerSignal: AbortSignal | undefined;
  /** True once the client was closed. */
  readonly clientClosed: boolean;
}

/**
 * Connect codes that, without a Statehouse error detail, mean the daemon was
 * not reached or the connection broke: refused/reset (Unavailable), a daemon
 * killed mid-call (connect-node reports Canceled over HTTP/2 and Aborted over
 * HTTP/1.1 although the caller did not cancel), and network failures surfaced
 * by fetch or the HTTP stack (Unknown, Internal "missing trailer"/"premature
 * close", DeadlineExceeded from the HTTP layer).
 */
const CONNECTION_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.Canceled,
  Code.Aborted,
  Code.Unknown,
  Code.Internal,
  Code.DeadlineExceeded,
]);

/** The RPC status name in gRPC's spelling, e.g. Code.NotFound -> "NOT_FOUND". */
function statusName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Converts anything thrown by a Connect client call into a StatehouseError.
 * StatehouseErrors and TypeErrors raised by the SDK itself pass through.
 */
export function mapError(error: unknown, context: CallContext): StatehouseError | TypeError {
  if (error instanceof StatehouseError || error instanceof TypeError) {
    return error;
  }
  const callerSignal = context.callerSignal;
  if (callerSignal?.aborted === true) {
    return new StatehouseError("CANCELLED", "the call was cancelled by the caller", { cause: callerSignal.reason });
  }
  if (context.clientClosed) {
    return new StatehouseError("CLOSED", "the client was closed", { cause: error });
  }
  const connectError = ConnectError.from(error);
  const status = statusName(connectError.code);
  const detail = connectError.findDetails(StatehouseErrorSchema)[0];
  if (detail === undefined) {
    // A refusal without the detail: a proxy in front of the daemon, or a daemon older than it.
    if (connectError.code === Code.Unauthenticated) {
      return new AuthenticationError(connectError.rawMessage, { status, cause: error });
    }
    if (connectError.code === Code.PermissionDenied) {
      return new PermissionDeniedError(connectError.rawMessage, { status, cause: error });
    }
    if (CONNECTION_CODES.has(connectError.code)) {
      return new ConnectionError(`cannot reach the Statehouse daemon: ${connectError.message}`, {
        status,
        cause: error,
      });
    }
    return new StatehouseError("UNKNOWN", connectError.rawMessage, { status, cause: error });
  }
  const code = (ErrorCode[detail.code] ?? "UNKNOWN") as StatehouseErrorCode;
  const message = detail.message === "" ? connectError.rawMessage : detail.message;
  const options = { details: detail.details, status, cause: error };
  switch (code) {
    case "CONFLICT":
      return new ConflictError(message, options);
    case "TXN_NOT_FOUND":
    case "TXN_EXPIRED":
    case "TXN_ALREADY_COMMITTED":
    case "TXN_ABORTED":
      return new TransactionError(code, message, options);
    case "KEY_NOT_FOUND":
    case "VERSION_NOT_FOUND":
      return new NotFoundError(code, message, options);
    case "UNAVAILABLE":
      return new ConnectionError(message, options);
    case "UNAUTHENTICATED":
      return new AuthenticationError(message, options);
    case "PERMISSION_DENIED":
      return new PermissionDeniedError(message, options);
    default:
      return new StatehouseError(code, message, options);
  }
}
