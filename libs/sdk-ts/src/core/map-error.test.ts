// The mapping table itself (the real daemon's errors are covered by the
// client tests; here every row, including ones hard to provoke for real).
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, StatehouseErrorSchema } from "@statehouse/api";
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  NotFoundError,
  PermissionDeniedError,
  StatehouseError,
  TransactionError,
} from "./errors.js";
import { mapError } from "./map-error.js";

const notCancelled = { callerSignal: undefined, clientClosed: false };

function withDetail(code: Code, errorCode: ErrorCode, details: Record<string, string> = {}): ConnectError {
  return new ConnectError("rpc failed", code, undefined, [
    { desc: StatehouseErrorSchema, value: { code: errorCode, message: "from daemon", details } },
  ]);
}

describe("mapError", () => {
  it.each([
    [Code.Aborted, ErrorCode.CONFLICT, ConflictError, "CONFLICT"],
    [Code.NotFound, ErrorCode.TXN_NOT_FOUND, TransactionError, "TXN_NOT_FOUND"],
    [Code.DeadlineExceeded, ErrorCode.TXN_EXPIRED, TransactionError, "TXN_EXPIRED"],
    [Code.FailedPrecondition, ErrorCode.TXN_ALREADY_COMMITTED, TransactionError, "TXN_ALREADY_COMMITTED"],
    [Code.FailedPrecondition, ErrorCode.TXN_ABORTED, TransactionError, "TXN_ABORTED"],
    [Code.NotFound, ErrorCode.VERSION_NOT_FOUND, NotFoundError, "VERSION_NOT_FOUND"],
    [Code.NotFound, ErrorCode.KEY_NOT_FOUND, NotFoundError, "KEY_NOT_FOUND"],
    [Code.Unavailable, ErrorCode.UNAVAILABLE, ConnectionError, "UNAVAILABLE"],
    [Code.InvalidArgument, ErrorCode.INVALID_REQUEST, StatehouseError, "INVALID_REQUEST"],
    [Code.ResourceExhausted, ErrorCode.LIMIT_EXCEEDED, StatehouseError, "LIMIT_EXCEEDED"],
    [Code.ResourceExhausted, ErrorCode.STORAGE_FULL, StatehouseError, "STORAGE_FULL"],
    [Code.Internal, ErrorCode.STORAGE_ERROR, StatehouseError, "STORAGE_ERROR"],
    [Code.Internal, ErrorCode.INTERNAL_ERROR, StatehouseError, "INTERNAL_ERROR"],
    [Code.Unauthenticated, ErrorCode.UNAUTHENTICATED, AuthenticationError, "UNAUTHENTICATED"],
    [Code.PermissionDenied, ErrorCode.PERMISSION_DENIED, PermissionDeniedError, "PERMISSION_DENIED"],
  ])("status %s with detail %s -> %o", (code, errorCode, type, expected) => {
    const mapped = mapError(withDetail(code, errorCode, { limit: "x" }), notCancelled);
    expect(mapped).toBeInstanceOf(type);
    expect(mapped).toMatchObject({ code: expected, message: "from daemon", details: { limit: "x" } });
    if (type === StatehouseError) {
      expect(mapped).not.toBeInstanceOf(TransactionError);
      expect(mapped).not.toBeInstanceOf(ConnectionError);
    }
  });

  it.each([Code.Unavailable, Code.Canceled, Code.Aborted, Code.Unknown, Code.Internal, Code.DeadlineExceeded])(
    "status %s without a detail (a broken connection) -> ConnectionError",
    (code) => {
      const mapped = mapError(new ConnectError("socket hang up", code), notCancelled);
      expect(mapped).toBeInstanceOf(ConnectionError);
      expect(mapped).toMatchObject({ code: "UNAVAILABLE" });
    },
  );

  it.each([
    [Code.Unauthenticated, AuthenticationError, "UNAUTHENTICATED"],
    [Code.PermissionDenied, PermissionDeniedError, "PERMISSION_DENIED"],
  ])("status %s without a detail (a proxy's refusal) -> %o", (code, type, expected) => {
    const mapped = mapError(new ConnectError("no entry", code), notCancelled);
    expect(mapped).toBeInstanceOf(type);
    expect(mapped).not.toBeInstanceOf(ConnectionError);
    expect(mapped).toMatchObject({ code: expected, message: "no entry" });
  });

  it("a plain network error (e.g. fetch failed) -> ConnectionError", () => {
    expect(mapError(new Error("fetch failed"), notCancelled)).toBeInstanceOf(ConnectionError);
  });

  it("other statuses without a detail -> StatehouseError UNKNOWN with the status", () => {
    const mapped = mapError(new ConnectError("no such method", Code.Unimplemented), notCancelled);
    expect(mapped).not.toBeInstanceOf(ConnectionError);
    expect(mapped).toMatchObject({ code: "UNKNOWN", status: "UNIMPLEMENTED" });
  });

  it("the caller's own abort -> CANCELLED, the client's close -> CLOSED", () => {
    const controller = new AbortController();
    controller.abort(new Error("user gave up"));
    const cancelled = mapError(new ConnectError("canceled", Code.Canceled), { callerSignal: controller.signal, clientClosed: false });
    expect(cancelled).toMatchObject({ code: "CANCELLED" });
    expect(cancelled).not.toBeInstanceOf(ConnectionError);
    const closed = mapError(new ConnectError("canceled", Code.Canceled), { callerSignal: undefined, clientClosed: true });
    expect(closed).toMatchObject({ code: "CLOSED" });
  });

  it("passes SDK errors and TypeErrors through unchanged", () => {
    const own = new TransactionError("TXN_ABORTED", "x");
    const misuse = new TypeError("bad");
    expect(mapError(own, notCancelled)).toBe(own);
    expect(mapError(misuse, notCancelled)).toBe(misuse);
  });
});
