// The one mapping from engine errors to RPC errors: every engine code, plus
// plain errors (logged with their cause, INTERNAL + INTERNAL_ERROR) and
// protocol-layer errors (given a StatehouseError detail).
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode, StatehouseErrorSchema } from "@statehouse/api";
import { ENGINE_ERROR_CODES, EngineError } from "@statehouse/engine";
import { expect, it } from "vitest";
import { decorateProtocolError, toRpcError } from "./rpc-errors.js";

const EXPECTED: Record<(typeof ENGINE_ERROR_CODES)[number], [Code, ErrorCode]> = {
  TXN_NOT_FOUND: [Code.NotFound, ErrorCode.TXN_NOT_FOUND],
  TXN_EXPIRED: [Code.DeadlineExceeded, ErrorCode.TXN_EXPIRED],
  TXN_ALREADY_COMMITTED: [Code.FailedPrecondition, ErrorCode.TXN_ALREADY_COMMITTED],
  TXN_ABORTED: [Code.FailedPrecondition, ErrorCode.TXN_ABORTED],
  CONFLICT: [Code.Aborted, ErrorCode.CONFLICT],
  IDEMPOTENCY_KEY_REUSED: [Code.InvalidArgument, ErrorCode.INVALID_REQUEST],
  VERSION_NOT_FOUND: [Code.NotFound, ErrorCode.VERSION_NOT_FOUND],
  INVALID_ARGUMENT: [Code.InvalidArgument, ErrorCode.INVALID_REQUEST],
  LIMIT_EXCEEDED: [Code.ResourceExhausted, ErrorCode.LIMIT_EXCEEDED],
  STORAGE_FULL: [Code.ResourceExhausted, ErrorCode.STORAGE_FULL],
  STORAGE_ERROR: [Code.Internal, ErrorCode.STORAGE_ERROR],
  CORRUPTION: [Code.Internal, ErrorCode.STORAGE_ERROR],
  LOCKED: [Code.Internal, ErrorCode.STORAGE_ERROR],
  CLOSED: [Code.Unavailable, ErrorCode.UNAVAILABLE],
};

function recordingLogger() {
  const logged: { obj: object; msg: string | undefined }[] = [];
  return { logged, log: { error: (obj: object, msg?: string) => logged.push({ obj, msg }) } };
}

it.each(ENGINE_ERROR_CODES)("maps engine %s to its status and ErrorCode detail", (engineCode) => {
  const { log } = recordingLogger();
  const error = toRpcError(new EngineError(engineCode, `boom ${engineCode}`, { details: { txnId: "t1" } }), log, "Test");
  const [code, errorCode] = EXPECTED[engineCode];
  expect(error.code).toBe(code);
  const detail = error.findDetails(StatehouseErrorSchema)[0];
  expect(detail?.code).toBe(errorCode);
  expect(detail?.message).toBe(`boom ${engineCode}`);
  expect(detail?.details).toMatchObject({ txnId: "t1", engine_code: engineCode });
});

it("logs a plain Error with its cause and returns INTERNAL + INTERNAL_ERROR without leaking it", () => {
  const { log, logged } = recordingLogger();
  const cause = new TypeError("cannot read properties of undefined");
  const error = toRpcError(new Error("handler bug", { cause }), log, "GetState");
  expect(error.code).toBe(Code.Internal);
  expect(error.rawMessage).toBe("internal error");
  expect(error.findDetails(StatehouseErrorSchema)[0]?.code).toBe(ErrorCode.INTERNAL_ERROR);
  expect(logged).toHaveLength(1);
  expect(logged[0]?.obj).toMatchObject({ procedure: "GetState", err: { message: "handler bug", cause } });
});

it("gives protocol errors a detail and names max_request_bytes for oversized messages", () => {
  const parse = new ConnectError("parse binary: premature EOF", Code.Internal);
  decorateProtocolError(parse);
  expect(parse.code).toBe(Code.InvalidArgument);
  expect(parse.findDetails(StatehouseErrorSchema)[0]?.code).toBe(ErrorCode.INVALID_REQUEST);
  const deadline = new ConnectError("the operation timed out", Code.DeadlineExceeded);
  decorateProtocolError(deadline);
  expect(deadline.findDetails(StatehouseErrorSchema)[0]?.code).toBe(ErrorCode.UNKNOWN);
  const size = new ConnectError("message size 5000000 is larger than configured readMaxBytes 4194304", Code.ResourceExhausted);
  decorateProtocolError(size);
  decorateProtocolError(size);
  const details = size.findDetails(StatehouseErrorSchema);
  expect(details).toHaveLength(1);
  expect(details[0]).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED, details: { limit: "max_request_bytes" } });
  expect(size.rawMessage).toContain("max_request_bytes");
});
