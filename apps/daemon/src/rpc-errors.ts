// The one place where errors become RPC errors: engine codes map to Connect
// codes, and every error the daemon returns carries a statehouse.v1
// StatehouseError detail with a stable ErrorCode.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, StatehouseErrorSchema } from "@statehouse/api";
import { type EngineErrorCode, isEngineError } from "@statehouse/engine";

const ENGINE_CODES: Readonly<Record<EngineErrorCode, readonly [Code, ErrorCode]>> = {
  TXN_NOT_FOUND: [Code.NotFound, ErrorCode.TXN_NOT_FOUND],
  TXN_EXPIRED: [Code.DeadlineExceeded, ErrorCode.TXN_EXPIRED],
  TXN_ALREADY_COMMITTED: [Code.FailedPrecondition, ErrorCode.TXN_ALREADY_COMMITTED],
  TXN_ABORTED: [Code.FailedPrecondition, ErrorCode.TXN_ABORTED],
  CONFLICT: [Code.Aborted, ErrorCode.CONFLICT],
  IDEMPOTENCY_KEY_REUSED: [Code.InvalidArgument, ErrorCode.INVALID_REQUEST],
  VERSION_NOT_FOUND: [Code.NotFound, ErrorCode.VERSION_NOT_FOUND],
  HISTORY_COMPACTED: [Code.FailedPrecondition, ErrorCode.HISTORY_COMPACTED],
  INVALID_ARGUMENT: [Code.InvalidArgument, ErrorCode.INVALID_REQUEST],
  LIMIT_EXCEEDED: [Code.ResourceExhausted, ErrorCode.LIMIT_EXCEEDED],
  STORAGE_FULL: [Code.ResourceExhausted, ErrorCode.STORAGE_FULL],
  STORAGE_ERROR: [Code.Internal, ErrorCode.STORAGE_ERROR],
  CORRUPTION: [Code.Internal, ErrorCode.STORAGE_ERROR],
  LOCKED: [Code.Internal, ErrorCode.STORAGE_ERROR],
  CLOSED: [Code.Unavailable, ErrorCode.UNAVAILABLE],
};

/** ErrorCode for errors raised by the protocol layer (parsing, size, deadlines). */
function errorCodeForConnectCode(code: Code): ErrorCode {
  switch (code) {
    case Code.InvalidArgument:
    case Code.Unimplemented:
      return ErrorCode.INVALID_REQUEST;
    case Code.ResourceExhausted:
      return ErrorCode.LIMIT_EXCEEDED;
    case Code.Unavailable:
      return ErrorCode.UNAVAILABLE;
    case Code.Internal:
      return ErrorCode.INTERNAL_ERROR;
    default:
      return ErrorCode.UNKNOWN;
  }
}

/** Creates an RPC error with its StatehouseError detail. */
export function rpcError(code: Code, errorCode: ErrorCode, message: string, details: Record<string, string> = {}, cause?: unknown): ConnectError {
  return new ConnectError(message, code, undefined, [{ desc: StatehouseErrorSchema, value: { code: errorCode, message, details } }], cause);
}

/** INVALID_ARGUMENT + INVALID_REQUEST naming the offending field. */
export function invalidRequest(field: string, message: string): ConnectError {
  return rpcError(Code.InvalidArgument, ErrorCode.INVALID_REQUEST, message, { field });
}

/** A violated documented limit: RESOURCE_EXHAUSTED + LIMIT_EXCEEDED, `details.limit` names it. */
export function limitExceeded(limit: string, message: string, details: Record<string, string> = {}): ConnectError {
  return rpcError(Code.ResourceExhausted, ErrorCode.LIMIT_EXCEEDED, message, { limit, ...details });
}

export function unavailable(message = "statehoused is shutting down"): ConnectError {
  return rpcError(Code.Unavailable, ErrorCode.UNAVAILABLE, message);
}

/** The error a call ends with after its signal aborted (deadline, client cancel, shutdown). */
export function abortReason(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) {
    decorateProtocolError(reason);
    return reason;
  }
  return rpcError(Code.Canceled, ErrorCode.UNKNOWN, "the call was canceled");
}

function hasStatehouseDetail(error: ConnectError): boolean {
  return error.details.some((d) => ("desc" in d ? d.desc.typeName : d.type) === StatehouseErrorSchema.typeName);
}

/**
 * What a protocol-layer error from connect is. Branches on the code first;
 * only within INTERNAL and RESOURCE_EXHAUSTED does it read the message,
 * because connect marks an undecodable request (INTERNAL) and an oversized
 * one (RESOURCE_EXHAUSTED) in no other way. This is the only place that
 * depends on connect's wording: rpc-errors.test.ts makes these errors with
 * connect's own code and fails when the wording changes.
 */
export type ProtocolErrorKind = { kind: "undecodable" } | { kind: "too_large"; limit: string } | { kind: "other" };

const CONNECT_UNDECODABLE = /^(parse binary:|received compressed envelope, but do not know how to decompress)/;
const CONNECT_READ_MAX_BYTES = /larger than configured readMaxBytes (\d+)/;

export function protocolErrorKind(error: ConnectError): ProtocolErrorKind {
  switch (error.code) {
    case Code.Internal:
      return CONNECT_UNDECODABLE.test(error.rawMessage) ? { kind: "undecodable" } : { kind: "other" };
    case Code.ResourceExhausted: {
      const limit = CONNECT_READ_MAX_BYTES.exec(error.rawMessage)?.[1];
      return limit === undefined ? { kind: "other" } : { kind: "too_large", limit };
    }
    default:
      return { kind: "other" };
  }
}

/**
 * Changes the code or wire message of an error connect raised, in place:
 * connect serializes the very object it aborted the call with, and offers no
 * hook between parsing a request and answering it, so a copy would not reach
 * the wire. (`code` and `rawMessage` are readonly only in connect's typings.)
 */
function rewrite(error: ConnectError, change: { code?: Code; rawMessage?: string }): void {
  if (change.code !== undefined) Object.defineProperty(error, "code", { value: change.code });
  if (change.rawMessage !== undefined) Object.defineProperty(error, "rawMessage", { value: change.rawMessage });
}

/**
 * Gives an error raised by the protocol layer (parse errors, readMaxBytes,
 * deadlines) its StatehouseError detail, in place; undecodable requests
 * become INVALID_ARGUMENT instead of connect's INTERNAL. Errors that already
 * carry a detail are left alone.
 */
export function decorateProtocolError(error: ConnectError): void {
  if (hasStatehouseDetail(error)) return;
  const details: Record<string, string> = {};
  let message = error.rawMessage;
  const kind = protocolErrorKind(error);
  if (kind.kind === "undecodable") {
    // connect reports undecodable requests as INTERNAL; they are the client's fault.
    rewrite(error, { code: Code.InvalidArgument });
    details["field"] = "request";
  } else if (kind.kind === "too_large") {
    details["limit"] = "max_request_bytes";
    // Name our setting instead of connect's option.
    message = `request message exceeds the max_request_bytes limit (STATEHOUSE_MAX_REQUEST_BYTES = ${kind.limit})`;
    rewrite(error, { rawMessage: message });
  }
  error.details.push({ desc: StatehouseErrorSchema, value: { code: errorCodeForConnectCode(error.code), message, details } });
}

export interface ErrorLogger {
  error(obj: object, msg?: string): void;
}

/**
 * Converts anything a handler threw into an RPC error: engine errors by code,
 * ConnectErrors get their detail, anything else is logged with its cause and
 * becomes INTERNAL + INTERNAL_ERROR.
 */
export function toRpcError(error: unknown, log: ErrorLogger, procedure: string): ConnectError {
  if (error instanceof ConnectError) {
    decorateProtocolError(error);
    return error;
  }
  if (isEngineError(error)) {
    const [code, errorCode] = ENGINE_CODES[error.code];
    if (code === Code.Internal) log.error({ err: error, procedure }, "storage error");
    const details: Record<string, string> = { ...error.details, engine_code: error.code };
    if (error.code === "LIMIT_EXCEEDED" && details["limit"] === undefined && details["maxValueBytes"] !== undefined) details["limit"] = "max_value_bytes";
    return rpcError(code, errorCode, error.message, details, error);
  }
  log.error({ err: error, procedure }, "internal error in handler");
  return rpcError(Code.Internal, ErrorCode.INTERNAL_ERROR, "internal error", {}, error);
}
