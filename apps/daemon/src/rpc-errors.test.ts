// The one mapping from engine errors to RPC errors: every engine code, plus
// plain errors (logged with their cause, INTERNAL + INTERNAL_ERROR) and
// protocol-layer errors (given a StatehouseError detail).
import { gzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressedFlag, createMethodSerializationLookup, envelopeDecompress, readAllBytes, transformSplitEnvelope } from "@connectrpc/connect/protocol";
import { compressionGzip } from "@connectrpc/connect-node";
import { ErrorCode, StatehouseErrorSchema, StatehouseService } from "@statehouse/api";
import { ENGINE_ERROR_CODES, EngineError } from "@statehouse/engine";
import { expect, it } from "vitest";
import { decorateProtocolError, protocolErrorKind, toRpcError } from "./rpc-errors.js";

const EXPECTED: Record<(typeof ENGINE_ERROR_CODES)[number], [Code, ErrorCode]> = {
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

/** Runs `fn` and returns the ConnectError it throws or rejects with. */
async function connectErrorOf(fn: () => unknown): Promise<ConnectError> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof ConnectError) return error;
    throw error;
  }
  throw new Error("expected connect to raise an error");
}

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* parts;
}

it("recognises connect's own undecodable and oversized request errors (fails when connect's wording changes)", async () => {
  const serialization = createMethodSerializationLookup(StatehouseService.method.transact, undefined, undefined, { readMaxBytes: 100, writeMaxBytes: 100 });
  const undecodable = [
    await connectErrorOf(() => serialization.getI(true).parse(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))),
    await connectErrorOf(() => envelopeDecompress({ flags: compressedFlag, data: new Uint8Array(3) }, null, 100)),
  ];
  for (const error of undecodable) {
    expect(protocolErrorKind(error), error.rawMessage).toEqual({ kind: "undecodable" });
    decorateProtocolError(error);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.findDetails(StatehouseErrorSchema)[0]).toMatchObject({ code: ErrorCode.INVALID_REQUEST, details: { field: "request" } });
  }
  const envelopeHeader = new Uint8Array([0, 0, 0, 0, 200]);
  const tooLarge = [
    await connectErrorOf(() => readAllBytes(chunks(new Uint8Array(200)), 100, "200")),
    await connectErrorOf(() => readAllBytes(chunks(new Uint8Array(60), new Uint8Array(60)), 100, null)),
    await connectErrorOf(async () => {
      for await (const _ of transformSplitEnvelope(100)(chunks(envelopeHeader, new Uint8Array(200)))) {
        // the header alone is over the limit
      }
    }),
    await connectErrorOf(async () => compressionGzip.decompress(gzipSync(new Uint8Array(1000)), 100)),
  ];
  for (const error of tooLarge) {
    expect(protocolErrorKind(error), error.rawMessage).toEqual({ kind: "too_large", limit: "100" });
    decorateProtocolError(error);
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe("request message exceeds the max_request_bytes limit (STATEHOUSE_MAX_REQUEST_BYTES = 100)");
    expect(error.findDetails(StatehouseErrorSchema)[0]).toMatchObject({ code: ErrorCode.LIMIT_EXCEEDED, details: { limit: "max_request_bytes" } });
  }
  // Same codes, other causes: left as they are.
  for (const error of [new ConnectError("serialize binary: bad", Code.Internal), new ConnectError("too many streams", Code.ResourceExhausted), new ConnectError("parse binary: x", Code.Unknown)]) {
    expect(protocolErrorKind(error)).toEqual({ kind: "other" });
  }
});
