// The fast path against connect-node, in process: two daemons (in-memory
// engine), one with the fast path and one without, get the same sequence of
// raw HTTP/2 requests — successes, every error class, malformed bodies,
// deadlines, compression, CORS, fall-through cases — and must answer with the
// same status, headers (but `date`), body bytes, trailers and error metrics.
// A fast-path call counter shows which requests the fast path really took.
import http2 from "node:http2";
import { create, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../config.js";
import { startDaemon, type Daemon } from "../daemon.js";
import { createLogger } from "../logger.js";
import { envelope, h2Call, type RawResponse } from "../test-support/raw-http.js";

const S = StatehouseService.method;
const PREFIX = "/statehouse.v1.StatehouseService/";
const GRPC = { "content-type": "application/grpc", te: "trailers" };
const CONNECT = { "content-type": "application/proto" };
// maxRequestBytes is at least max value bytes + 64 KiB.
const MAX_REQUEST_BYTES = 8192 + 65_536;

interface Side {
  name: string;
  daemon: Daemon;
  session: http2.ClientHttp2Session;
  /** Transaction ids this side's daemon handed out, replaced by a placeholder before comparing. */
  txnIds: string[];
}

let fast: Side;
let slow: Side;

async function side(name: string, fastPath: boolean): Promise<Side> {
  const config = resolveConfig({
    env: {
      STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0",
      STATEHOUSE_USE_MEMORY: "1",
      STATEHOUSE_MAX_VALUE_BYTES: "8192",
      STATEHOUSE_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
      STATEHOUSE_FAST_PATH: fastPath ? "1" : "0",
      STATEHOUSE_SHUTDOWN_GRACE_MS: "1000",
    },
  });
  const daemon = await startDaemon(config, createLogger("silent", { pretty: false }));
  return { name, daemon, session: http2.connect(`http://${daemon.address}`), txnIds: [] };
}

beforeAll(async () => {
  fast = await side("fast path", true);
  slow = await side("connect-node", false);
});

afterAll(async () => {
  for (const s of [fast, slow]) {
    s.session.close();
    await s.daemon.close();
  }
});

function bin<I extends DescMessage>(schema: I, init: MessageInitShape<I>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

function normalized(s: Side, res: RawResponse): object {
  const scrub = (text: string): string => s.txnIds.reduce((t, id) => t.replaceAll(id, "<txn>"), text);
  const fields = (h: Record<string, string>): Record<string, string> =>
    Object.fromEntries(
      Object.entries(h)
        .filter(([k]) => k !== "date")
        .map(([k, v]) => [k, scrub(k === "grpc-status-details-bin" ? Buffer.from(v, "base64").toString("latin1") : v)]),
    );
  // Connect error details carry the StatehouseError in base64 too.
  const body = (res.headers["content-type"] ?? "").includes("json")
    ? scrub(res.body.toString("utf8").replace(/"value":"([A-Za-z0-9+/]*)"/g, (_, b64: string) => `"value":${JSON.stringify(Buffer.from(b64, "base64").toString("latin1"))}`))
    : scrub(res.body.toString("latin1"));
  return { status: res.status, headers: fields(res.headers), trailers: fields(res.trailers), body };
}

type Request = { path: string; headers: Record<string, string>; body: Uint8Array | ((s: Side) => Uint8Array) };

/** Sends the request to both daemons and expects the same answer; returns the fast path's response. */
async function same(request: Request, before?: (responses: RawResponse[]) => void): Promise<RawResponse[]> {
  const out: RawResponse[] = [];
  for (const s of [fast, slow]) {
    const body = typeof request.body === "function" ? request.body(s) : request.body;
    out.push(await h2Call(s.session, request.path, request.headers, body));
  }
  before?.(out);
  const [a, b] = out as [RawResponse, RawResponse];
  expect(normalized(fast, a)).toEqual(normalized(slow, b));
  return out;
}

async function metrics(s: Side): Promise<string[]> {
  return (await (await fetch(`http://${s.daemon.address}/metrics`)).text()).split("\n");
}

async function fastPathCalls(s: Side): Promise<number> {
  const line = (await metrics(s)).find((l) => l.startsWith("statehouse_fast_path_calls_total "));
  return Number(line?.split(" ")[1]);
}

async function errorMetrics(s: Side): Promise<string[]> {
  return (await metrics(s)).filter((l) => l.startsWith("statehouse_rpc_errors_total{"));
}

/** Expects the fast path to have taken (or left) exactly the requests in `fn`. */
async function taken(expected: number, fn: () => Promise<unknown>): Promise<void> {
  const before = await fastPathCalls(fast);
  await fn();
  expect(await fastPathCalls(fast)).toBe(before + expected);
  expect(await fastPathCalls(slow)).toBe(0);
}

const bigValue = { text: "x".repeat(3000) };
const write = (key: string, value: object = { v: 1 }) => bin(S.transact.input, { operations: [{ namespace: "fp", agentId: "a", key, value: value as never }] });

for (const [protocol, headers, frame] of [
  ["gRPC", GRPC, (b: Uint8Array) => envelope(b)],
  ["Connect", CONNECT, (b: Uint8Array) => b],
] as const) {
  describe(`over ${protocol}`, () => {
    it("answers successes the same: Health, Transact, GetState (found, missing, large and compressed)", async () => {
      await taken(7, async () => {
        await same({ path: `${PREFIX}Health`, headers, body: frame(bin(S.health.input, {})) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(write(`${protocol}-k`)) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(write(`${protocol}-big`, bigValue)) });
        await same({ path: `${PREFIX}GetState`, headers, body: frame(bin(S.getState.input, { namespace: "fp", agentId: "a", key: `${protocol}-k` })) });
        await same({ path: `${PREFIX}GetState`, headers, body: frame(bin(S.getState.input, { agentId: "a", key: "never-written" })) });
        const accept = protocol === "gRPC" ? { "grpc-accept-encoding": "identity,deflate,gzip" } : { "accept-encoding": "gzip, br" };
        const [compressed] = await same({ path: `${PREFIX}GetState`, headers: { ...headers, ...accept }, body: frame(bin(S.getState.input, { namespace: "fp", agentId: "a", key: `${protocol}-big` })) });
        expect(compressed?.headers[protocol === "gRPC" ? "grpc-encoding" : "content-encoding"]).toBe("gzip");
        await same({ path: `${PREFIX}Health`, headers: { ...headers, ...accept }, body: frame(bin(S.health.input, {})) });
      });
    });

    it("answers a server-side transaction the same: Begin, Write, Delete, Commit, Abort and their errors", async () => {
      const begin = async (): Promise<void> => {
        await same({ path: `${PREFIX}BeginTransaction`, headers, body: frame(bin(S.beginTransaction.input, { timeoutMs: 60_000n })) }, (responses) => {
          for (const [i, s] of [fast, slow].entries()) {
            const id = /[0-9a-f-]{36}/.exec(responses[i]?.body.toString("latin1") ?? "")?.[0];
            expect(id).toBeDefined();
            s.txnIds.push(id ?? "");
          }
        });
      };
      const txn = (s: Side): string => s.txnIds.at(-1) ?? "";
      await taken(10, async () => {
        await begin();
        await same({ path: `${PREFIX}Write`, headers, body: (s) => frame(bin(S.write.input, { txnId: txn(s), namespace: "fp", agentId: "a", key: "t", value: { n: 1 } })) });
        await same({ path: `${PREFIX}Delete`, headers, body: (s) => frame(bin(S.delete.input, { txnId: txn(s), namespace: "fp", agentId: "a", key: "gone" })) });
        await same({ path: `${PREFIX}Commit`, headers, body: (s) => frame(bin(S.commit.input, { txnId: txn(s) })) });
        // Committed already; unknown id; Abort of both (idempotent).
        await same({ path: `${PREFIX}Commit`, headers, body: (s) => frame(bin(S.commit.input, { txnId: txn(s) })) });
        await same({ path: `${PREFIX}Commit`, headers, body: frame(bin(S.commit.input, { txnId: "no-such-txn" })) });
        await same({ path: `${PREFIX}Write`, headers, body: frame(bin(S.write.input, { txnId: "no-such-txn", agentId: "a", key: "t", value: {} })) });
        await same({ path: `${PREFIX}Abort`, headers, body: frame(bin(S.abort.input, { txnId: "no-such-txn" })) });
        await begin();
        await same({ path: `${PREFIX}Abort`, headers, body: (s) => frame(bin(S.abort.input, { txnId: txn(s) })) });
      });
    });

    it("answers validation, limit, conflict and engine errors the same, with their StatehouseError detail", async () => {
      const conflict = bin(S.transact.input, { operations: [{ agentId: "a", key: "c", value: {} }], preconditions: [{ agentId: "a", key: "c", expectedVersion: 7n }] });
      const deep = { a: {} } as Record<string, unknown>;
      let at = deep;
      for (let i = 0; i < 40; i++) at = (at["a"] = { a: {} }) as Record<string, unknown>;
      await taken(8, async () => {
        await same({ path: `${PREFIX}Transact`, headers, body: frame(conflict) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(bin(S.transact.input, { operations: [{ agentId: "", key: "k", value: {} }] })) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(bin(S.transact.input, { operations: [{ agentId: "a", key: "k", value: deep as never }] })) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(write("too-big", { text: "y".repeat(9000) })) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(bin(S.transact.input, { operations: [{ agentId: "a", key: "k" }] })) });
        await same({ path: `${PREFIX}GetState`, headers, body: frame(bin(S.getState.input, { agentId: "a", key: "k".repeat(2000) })) });
        await same({ path: `${PREFIX}BeginTransaction`, headers, body: frame(bin(S.beginTransaction.input, { timeoutMs: 10n ** 12n })) });
        await same({ path: `${PREFIX}GetState`, headers, body: frame(bin(S.getState.input, { agentId: "a\ud800", key: "k" })) });
      });
    });

    it("answers undecodable and oversized bodies the same", async () => {
      const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
      const oversized = new Uint8Array(MAX_REQUEST_BYTES + 10);
      await taken(protocol === "gRPC" ? 8 : 3, async () => {
        await same({ path: `${PREFIX}Transact`, headers, body: frame(garbage) });
        await same({ path: `${PREFIX}Transact`, headers, body: frame(oversized) });
        await same({ path: `${PREFIX}Health`, headers, body: new Uint8Array(0) });
        if (protocol === "gRPC") {
          const health = bin(S.health.input, {});
          await same({ path: `${PREFIX}Health`, headers, body: Buffer.concat([envelope(health), envelope(health)]) });
          await same({ path: `${PREFIX}Health`, headers, body: envelope(health).subarray(0, 3) });
          await same({ path: `${PREFIX}Transact`, headers, body: envelope(write("k")).subarray(0, 12) });
          await same({ path: `${PREFIX}Health`, headers, body: envelope(health, 1) });
          await same({ path: `${PREFIX}Health`, headers, body: envelope(new Uint8Array(0), 0, MAX_REQUEST_BYTES + 1) });
        }
      });
    });

    it("honours deadlines and leaves what it does not serve to connect-node", async () => {
      const timeout = protocol === "gRPC" ? "grpc-timeout" : "connect-timeout-ms";
      const health = frame(bin(S.health.input, {}));
      await taken(2, async () => {
        await same({ path: `${PREFIX}Health`, headers: { ...headers, [timeout]: protocol === "gRPC" ? "5S" : "5000" }, body: health });
        await same({ path: `${PREFIX}Transact`, headers: { ...headers, [timeout]: protocol === "gRPC" ? "0n" : "0" }, body: frame(write("deadline")) });
      });
      await taken(0, async () => {
        await same({ path: `${PREFIX}Health`, headers: { ...headers, [timeout]: "soon" }, body: health });
        await same({ path: `${PREFIX}Health`, headers: { ...headers, origin: "http://localhost:3000" }, body: health });
        await same({ path: `${PREFIX}Health`, headers: { ...headers, origin: "https://evil.example.com" }, body: health });
        await same({ path: `${PREFIX}ListKeys`, headers, body: frame(bin(S.listKeys.input, { agentId: "a" })) });
        await same({ path: `${PREFIX}NoSuchMethod`, headers, body: health });
        await same({ path: `${PREFIX}Health`, headers: { ...headers, [protocol === "gRPC" ? "grpc-encoding" : "content-encoding"]: "snappy" }, body: health });
        await same({ path: `${PREFIX}Health`, headers: { "content-type": protocol === "gRPC" ? "application/grpc+json" : "application/json" }, body: Buffer.from(protocol === "gRPC" ? envelope(Buffer.from("{}")) : "{}") });
      });
    });
  });
}

it("counts a call the client resets mid-request the same way", async () => {
  const before = await Promise.all([fast, slow].map((s) => errorMetrics(s)));
  for (const s of [fast, slow]) {
    const stream = s.session.request({ ":method": "POST", ":path": `${PREFIX}Transact`, ...GRPC });
    stream.on("error", () => undefined);
    stream.write(envelope(write("reset")).subarray(0, 8));
    await new Promise((r) => setTimeout(r, 50));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => stream.once("close", r));
  }
  // The server sees the reset a moment after the client has closed its end;
  // Node ends the request body on it, so connect counts an incomplete envelope.
  let after: string[][] = before;
  for (let attempt = 0; attempt < 100 && after.some((m, i) => m.join() === before[i]?.join()); attempt++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await Promise.all([fast, slow].map((s) => errorMetrics(s)));
  }
  expect(after[0]).not.toEqual(before[0]);
  expect(after[0]).toEqual(after[1]);
});

it("counts errors the same way in statehouse_rpc_errors_total", async () => {
  expect(await errorMetrics(fast)).toEqual(await errorMetrics(slow));
  expect((await errorMetrics(fast)).length).toBeGreaterThan(3);
});

it("serves gRPC-Web and HTTP/1.1 through connect-node only", async () => {
  await taken(0, async () => {
    await same({ path: `${PREFIX}Health`, headers: { "content-type": "application/grpc-web+proto" }, body: envelope(bin(S.health.input, {})) });
    await same({ path: `${PREFIX}Health`, headers: { "content-type": "application/connect+proto" }, body: envelope(bin(S.health.input, {})) });
  });
});
