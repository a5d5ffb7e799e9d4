// The wire format of the fast path: which HTTP/2 requests it takes (gRPC or
// Connect unary, binary, uncompressed request, no CORS origin), how it reads
// the request body, and how it writes a response — byte for byte what
// connect-node 2.3 writes for the same call (the differential test in
// fast-path.test.ts holds both paths to that). Anything this file does not
// recognise is left to connect-node before a byte of the body is read.
import http2 from "node:http2";
import type { JsonReadOptions, JsonWriteOptions } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

export type WireProtocol = "grpc" | "connect";

/** What the request headers said, for a request the fast path takes. */
export interface UnaryHead {
  protocol: WireProtocol;
  /** grpc-timeout / connect-timeout-ms in milliseconds; undefined without one. */
  timeoutMs: number | undefined;
  /** The response compression connect-node would pick from the accept list; null for none. */
  compression: Compression | null;
  /** Connect: a valid content-length, which connect-node checks before and while reading. */
  contentLength: number | undefined;
}

/** One length-prefixed gRPC message. */
export interface Envelope {
  flags: number;
  data: Uint8Array;
}

/** connect-node's defaults (connectNodeAdapter without acceptCompression / compressMinBytes). */
const ACCEPT_COMPRESSION: readonly Compression[] = [compressionGzip, compressionBrotli];
const COMPRESS_MIN_BYTES = 1024;
const COMPRESSED_FLAG = 0b0000_0001;

const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
const CONNECT_TIMEOUT = /^\d{1,10}$/;

function header(headers: http2.IncomingHttpHeaders, name: string): string | null | undefined {
  const value = headers[name];
  if (value === undefined) return null;
  // Anything but one plain string (repeated headers) is connect-node's to judge.
  return typeof value === "string" ? value : undefined;
}

/** connect's compressionNegotiate for an identity request: the first supported name in the accept list. */
function responseCompression(accepted: string | null): Compression | null {
  if (accepted === null || accepted === "") return null;
  for (const name of accepted.split(",")) {
    const found = ACCEPT_COMPRESSION.find((c) => c.name === name.trim());
    if (found !== undefined) return found;
  }
  return null;
}

/**
 * The request's protocol and options, or null when connect-node must serve it:
 * not a POST, a browser request (Origin: CORS), JSON, gRPC-Web, Connect
 * streaming or GET, a compressed request, or a deadline header connect-node
 * would reject.
 */
export function unaryHead(headers: http2.IncomingHttpHeaders): UnaryHead | null {
  if (headers[":method"] !== "POST" || headers.origin !== undefined) return null;
  const contentType = header(headers, "content-type");
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") {
    const encoding = header(headers, "grpc-encoding");
    const timeout = header(headers, "grpc-timeout");
    const accept = header(headers, "grpc-accept-encoding");
    if ((encoding !== null && encoding !== "identity") || timeout === undefined || accept === undefined) return null;
    let timeoutMs: number | undefined;
    if (timeout !== null) {
      const match = GRPC_TIMEOUT.exec(timeout);
      if (match === null) return null;
      timeoutMs = (GRPC_TIMEOUT_UNIT_MS[match[2] ?? ""] ?? 1) * Number.parseInt(match[1] ?? "", 10);
    }
    return { protocol: "grpc", timeoutMs, compression: responseCompression(accept), contentLength: undefined };
  }
  if (contentType === "application/proto") {
    const encoding = header(headers, "content-encoding");
    const timeout = header(headers, "connect-timeout-ms");
    const accept = header(headers, "accept-encoding");
    const length = header(headers, "content-length");
    if ((encoding !== null && encoding !== "identity") || timeout === undefined || accept === undefined || length === undefined) return null;
    if (timeout !== null && !CONNECT_TIMEOUT.test(timeout)) return null;
    const hint = length === null ? Number.NaN : Number.parseInt(length, 10);
    return {
      protocol: "connect",
      timeoutMs: timeout === null ? undefined : Number.parseInt(timeout, 10),
      compression: responseCompression(accept),
      contentLength: Number.isSafeInteger(hint) && hint >= 0 ? hint : undefined,
    };
  }
  return null;
}

/** connect's assertReadMaxBytes. */
export function readMaxBytesError(readMaxBytes: number, bytes: number, totalSizeKnown: boolean): ConnectError {
  return new ConnectError(
    totalSizeKnown ? `message size ${bytes} is larger than configured readMaxBytes ${readMaxBytes}` : `message size is larger than configured readMaxBytes ${readMaxBytes}`,
    Code.ResourceExhausted,
  );
}

/** The request body: the envelopes a gRPC unary call needs (at most two), or a Connect body. */
export interface RequestBody {
  envelopes: Envelope[];
  /** gRPC: bytes after the last whole envelope. Connect: the whole body. */
  rest: Uint8Array;
}

/**
 * Reads a unary request body the way connect-node does: gRPC envelopes until
 * the second one (connect stops there with "extra input message") or the end,
 * failing as soon as a declared message length is over readMaxBytes; a Connect
 * body until the end, failing as soon as it is over readMaxBytes or over its
 * content-length. Resolves null when the stream closed first.
 */
export function readBody(stream: http2.ServerHttp2Stream, head: UnaryHead, readMaxBytes: number): Promise<RequestBody | ConnectError | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let buffered = 0;
    const envelopes: Envelope[] = [];
    let pending: { flags: number; length: number } | null = null;
    const done = (result: RequestBody | ConnectError | null): void => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("close", onClose);
      // Stop reading what connect-node would not read either (flow control holds the client back).
      if (!stream.readableEnded) stream.pause();
      resolve(result);
    };
    const take = (n: number): Buffer => {
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      chunks.length = 0;
      if (all.length > n) chunks.push(all.subarray(n));
      buffered -= n;
      return all.subarray(0, n);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      buffered += chunk.length;
      if (head.protocol === "connect") {
        if (head.contentLength !== undefined && buffered > head.contentLength) {
          done(new ConnectError(`protocol error: promised ${head.contentLength} bytes, received ${buffered}`, Code.InvalidArgument));
        } else if (head.contentLength === undefined && buffered > readMaxBytes) {
          done(readMaxBytesError(readMaxBytes, buffered, false));
        }
        return;
      }
      for (;;) {
        if (pending === null) {
          if (buffered < 5) return;
          const prefix = take(5);
          pending = { flags: prefix[0] ?? 0, length: prefix.readUInt32BE(1) };
          if (pending.length > readMaxBytes) return done(readMaxBytesError(readMaxBytes, pending.length, true));
        }
        if (buffered < pending.length) return;
        envelopes.push({ flags: pending.flags, data: take(pending.length) });
        pending = null;
        if (envelopes.length === 2) return done({ envelopes, rest: new Uint8Array(0) });
      }
    };
    const onEnd = (): void => {
      if (head.protocol === "connect" && head.contentLength !== undefined && buffered < head.contentLength) {
        return done(new ConnectError(`protocol error: promised ${head.contentLength} bytes, received ${buffered}`, Code.InvalidArgument));
      }
      // As in connect's decoder, the prefix of a started envelope is not leftover; its bytes are.
      done({ envelopes, rest: chunks.length === 0 ? new Uint8Array(0) : take(buffered) });
    };
    const onClose = (): void => done(null);
    if (head.protocol === "connect" && head.contentLength !== undefined && head.contentLength > readMaxBytes) {
      return resolve(readMaxBytesError(readMaxBytes, head.contentLength, true));
    }
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("close", onClose);
  });
}

/**
 * The one request message of a unary call, checked in connect's order: a
 * missing message, a compressed one, a parse error of the first, leftover
 * bytes, then a second message (parsed first, as connect does).
 */
export function singleMessage<T>(head: UnaryHead, body: RequestBody, parse: (data: Uint8Array) => T): T {
  if (head.protocol === "connect") return parse(body.rest);
  const [first, second] = body.envelopes;
  if (first === undefined) {
    if (body.rest.length > 0) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  const message = parse(uncompressed(first));
  if (second === undefined) {
    if (body.rest.length > 0) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    return message;
  }
  parse(uncompressed(second));
  throw new ConnectError("protocol error: received extra input message for unary method", Code.Unimplemented);
}

function uncompressed(envelope: Envelope): Uint8Array {
  if ((envelope.flags & COMPRESSED_FLAG) !== 0) throw new ConnectError("received compressed envelope, but do not know how to decompress", Code.Internal);
  return envelope.data;
}

function plainHeaders(headers: Headers): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** connect-node resets a stream the client is still sending on with NO_ERROR once the response is out. */
function closeIfClientSending(stream: http2.ServerHttp2Stream): void {
  setImmediate(() => {
    if (!stream.closed && stream.state.remoteClose === 0) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}

/**
 * Writes the response: the serialized output message, or the error (which
 * carries its StatehouseError detail already). Does nothing once the stream
 * is gone (the client cancelled).
 */
export async function writeResponse(
  stream: http2.ServerHttp2Stream,
  head: UnaryHead,
  result: Uint8Array | ConnectError,
  jsonOptions: Partial<JsonReadOptions & JsonWriteOptions> | undefined,
): Promise<void> {
  if (head.protocol === "grpc") {
    const headers: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc+proto" };
    if (head.compression !== null) headers["grpc-encoding"] = head.compression.name;
    let body: Uint8Array | null = null;
    let flags = 0;
    if (!(result instanceof ConnectError)) {
      body = result;
      if (head.compression !== null && body.length >= COMPRESS_MIN_BYTES) {
        body = await head.compression.compress(body);
        flags = COMPRESSED_FLAG;
      }
    }
    const trailers = result instanceof ConnectError ? plainHeaders(setTrailerStatus(new Headers(), result)) : { "grpc-status": "0" };
    if (stream.closed || stream.destroyed) return;
    stream.respond(headers, { waitForTrailers: true });
    stream.once("wantTrailers", () => {
      stream.sendTrailers(trailers);
      closeIfClientSending(stream);
    });
    if (body === null) {
      stream.end();
      return;
    }
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = flags;
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    stream.end(frame);
    return;
  }
  let status = 200;
  let body = result instanceof ConnectError ? errorToJsonBytes(result, jsonOptions) : result;
  const headers: http2.OutgoingHttpHeaders = { "content-type": result instanceof ConnectError ? "application/json" : "application/proto" };
  if (result instanceof ConnectError) status = codeToHttpStatus(result.code);
  if (head.compression !== null && body.length >= COMPRESS_MIN_BYTES) {
    body = await head.compression.compress(body);
    headers["content-encoding"] = head.compression.name;
  }
  headers["content-length"] = String(body.length);
  headers[":status"] = status;
  if (stream.closed || stream.destroyed) return;
  stream.respond(headers);
  stream.end(body, () => closeIfClientSending(stream));
}

/** connect-node's mapping of a client's RST_STREAM code to the error a call's signal is aborted with. */
export function resetError(rstCode: number): ConnectError | undefined {
  const c = http2.constants;
  const message = `http/2 stream closed with error code ${H2_CODE_NAMES[rstCode] ?? ""} (0x${rstCode.toString(16)})`;
  switch (rstCode) {
    case c.NGHTTP2_PROTOCOL_ERROR:
    case c.NGHTTP2_INTERNAL_ERROR:
    case c.NGHTTP2_FLOW_CONTROL_ERROR:
    case c.NGHTTP2_SETTINGS_TIMEOUT:
    case c.NGHTTP2_FRAME_SIZE_ERROR:
    case c.NGHTTP2_COMPRESSION_ERROR:
    case c.NGHTTP2_CONNECT_ERROR:
      return new ConnectError(message, Code.Internal);
    case c.NGHTTP2_REFUSED_STREAM:
      return new ConnectError(message, Code.Unavailable);
    case c.NGHTTP2_CANCEL:
      return new ConnectError(message, Code.Canceled);
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return new ConnectError(message, Code.ResourceExhausted);
    case c.NGHTTP2_INADEQUATE_SECURITY:
    case c.NGHTTP2_HTTP_1_1_REQUIRED:
      return new ConnectError(message, Code.PermissionDenied);
    default:
      return undefined;
  }
}

const H2_CODE_NAMES: Readonly<Record<number, string>> = {
  0x1: "PROTOCOL_ERROR",
  0x2: "INTERNAL_ERROR",
  0x3: "FLOW_CONTROL_ERROR",
  0x4: "SETTINGS_TIMEOUT",
  0x6: "FRAME_SIZE_ERROR",
  0x7: "REFUSED_STREAM",
  0x8: "CANCEL",
  0x9: "COMPRESSION_ERROR",
  0xa: "CONNECT_ERROR",
  0xb: "ENHANCE_YOUR_CALM",
  0xc: "INADEQUATE_SECURITY",
  0xd: "HTTP_1_1_REQUIRED",
};
