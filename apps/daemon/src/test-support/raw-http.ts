// Test helper: raw HTTP/1.1 and HTTP/2 requests with arbitrary bodies, and a
// decoder for what gRPC, gRPC-Web and Connect responses say (status, error
// code, whether a statehouse.v1.StatehouseError detail came along).
import http from "node:http";
import http2 from "node:http2";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

const CALL_TIMEOUT_MS = 15_000;

function flatten(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !k.startsWith(":")) out[k] = Array.isArray(v) ? v.join(", ") : String(v);
  return out;
}

export function h2Call(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Uint8Array, method = "POST"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": method, ":path": path, ...headers });
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`h2 ${path}: no complete response after ${CALL_TIMEOUT_MS} ms`));
    }, CALL_TIMEOUT_MS);
    let status = 0;
    let responseHeaders: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      responseHeaders = flatten(h);
    });
    stream.on("trailers", (t) => (trailers = flatten(t)));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => undefined);
    stream.on("close", () => {
      clearTimeout(timer);
      if (status === 0) reject(new Error(`h2 ${path}: stream closed without a response (code ${stream.rstCode})`));
      else resolve({ status, headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(body);
  });
}

export function h1Call(agent: http.Agent, origin: string, path: string, headers: Record<string, string>, body: Uint8Array, method = "POST"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${path}`, { method, headers: { ...headers, "content-length": String(body.length) }, agent, timeout: CALL_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flatten(res.headers), trailers: {}, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`h1 ${path}: no response after ${CALL_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** One length-prefixed message (gRPC, gRPC-Web, Connect streaming). */
export function envelope(data: Uint8Array, flags = 0, declaredLength = data.length): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flags, 0);
  header.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([header, data]);
}

function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const flags = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    out.push({ flags, data: body.subarray(at + 5, at + 5 + length) });
    at += 5 + length;
  }
  return out;
}

export interface Outcome {
  /** "ok" or the error code: a gRPC status number or a Connect code string, or "http-<status>". */
  code: string;
  error: boolean;
  /** A statehouse.v1.StatehouseError detail was present. */
  detail: boolean;
  /** The response could not be understood as the protocol's answer. */
  malformed?: string;
}

const DETAIL_TYPE = "statehouse.v1.StatehouseError";

function grpcOutcome(fields: Record<string, string>): Outcome {
  const status = fields["grpc-status"];
  if (status === undefined) return { code: "missing", error: true, detail: false, malformed: "no grpc-status" };
  if (status === "0") return { code: "ok", error: false, detail: false };
  const details = fields["grpc-status-details-bin"] ?? "";
  return { code: status, error: true, detail: Buffer.from(details, "base64").includes(DETAIL_TYPE) };
}

function parseHeaderBlock(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

function connectErrorOutcome(json: unknown): Outcome {
  const error = json as { code?: string; details?: { type?: string }[] };
  return { code: error.code ?? "missing", error: true, detail: (error.details ?? []).some((d) => d.type === DETAIL_TYPE) };
}

export type ProtocolKind = "grpc" | "grpc-web" | "connect-unary" | "connect-stream";

/** What the response says, per protocol. HTTP-level refusals (404, 405, 415...) are errors without a detail. */
export function outcomeOf(kind: ProtocolKind, res: RawResponse): Outcome {
  try {
    switch (kind) {
      case "grpc":
        if (res.status !== 200) return { code: `http-${res.status}`, error: true, detail: false };
        return grpcOutcome({ ...res.headers, ...res.trailers });
      case "grpc-web": {
        if (res.status !== 200) return { code: `http-${res.status}`, error: true, detail: false };
        if (res.headers["grpc-status"] !== undefined) return grpcOutcome(res.headers);
        const trailer = envelopes(res.body).find((e) => (e.flags & 0x80) !== 0);
        if (trailer === undefined) return { code: "missing", error: true, detail: false, malformed: "no trailer frame" };
        return grpcOutcome(parseHeaderBlock(trailer.data.toString("utf8")));
      }
      case "connect-unary":
        if (res.status === 200) return { code: "ok", error: false, detail: false };
        if (!(res.headers["content-type"] ?? "").includes("json")) return { code: `http-${res.status}`, error: true, detail: false };
        return connectErrorOutcome(JSON.parse(res.body.toString("utf8")));
      case "connect-stream": {
        if (res.status !== 200) {
          if (!(res.headers["content-type"] ?? "").includes("json")) return { code: `http-${res.status}`, error: true, detail: false };
          return connectErrorOutcome(JSON.parse(res.body.toString("utf8")));
        }
        const end = envelopes(res.body).find((e) => (e.flags & 0x02) !== 0);
        if (end === undefined) return { code: "missing", error: true, detail: false, malformed: "no end-stream message" };
        const parsed = JSON.parse(end.data.toString("utf8")) as { error?: unknown };
        return parsed.error === undefined ? { code: "ok", error: false, detail: false } : connectErrorOutcome(parsed.error);
      }
    }
  } catch (error) {
    return { code: "unparsable", error: true, detail: false, malformed: String(error) };
  }
}
