// Connection- and daemon-wide limits: open transactions, streaming calls,
// HTTP/2 concurrent streams, idle connections. Each violation names its limit
// and leaves the daemon serving. (Per-request limits are in rpc-conformance.)
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ErrorCode, StatehouseService, WatchRequestSchema } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { failure, GrpcJsDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const IDLE_MS = 400;

let daemon: DaemonProcess;
let rpc: GrpcJsDriver;

beforeAll(async () => {
  daemon = await DaemonProcess.start({
    env: {
      STATEHOUSE_USE_MEMORY: "1",
      STATEHOUSE_MAX_OPEN_TRANSACTIONS: "3",
      STATEHOUSE_MAX_STREAMING_CALLS: "2",
      STATEHOUSE_MAX_CONCURRENT_STREAMS: "5",
      STATEHOUSE_IDLE_TIMEOUT_MS: String(IDLE_MS),
    },
  });
  rpc = new GrpcJsDriver(daemon.address);
});

afterAll(async () => {
  rpc.close();
  await daemon.dispose();
});

describe("max_open_transactions", () => {
  it("refuses BeginTransaction beyond the limit until one finishes", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await rpc.unary(S.beginTransaction, {})).txnId);
    const refused = await failure(rpc.unary(S.beginTransaction, {}));
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.detail?.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(refused.detail?.details["limit"]).toBe("max_open_transactions");
    expect(refused.message).toContain("max_open_transactions");
    // One-shot transactions do not hold a slot.
    await rpc.unary(S.transact, { operations: [{ namespace: "n", agentId: "a", key: "k", value: {} }] });
    await rpc.unary(S.abort, { txnId: ids[0] ?? "" });
    const again = await rpc.unary(S.beginTransaction, {});
    for (const txnId of [...ids.slice(1), again.txnId]) await rpc.unary(S.abort, { txnId });
  });
});

describe("max_streaming_calls", () => {
  it("refuses a Replay/Watch beyond the limit and accepts again once one ends", async () => {
    const controllers = [new AbortController(), new AbortController()];
    const watches = controllers.map((c) => rpc.stream(S.watch, { namespace: "n", agentId: "w" }, { signal: c.signal })[Symbol.asyncIterator]());
    const pending = watches.map((w) => w.next().catch(() => null));
    // Both watches are open once a commit reaches them.
    await rpc.unary(S.transact, { operations: [{ namespace: "n", agentId: "w", key: "k", value: { n: 1 } }] });
    await Promise.all(pending);
    const refused = await failure(rpc.stream(S.replay, { namespace: "n", agentId: "w" }));
    expect(refused.code).toBe(Code.ResourceExhausted);
    expect(refused.detail?.details["limit"]).toBe("max_streaming_calls");
    controllers[0]?.abort();
    await watches[0]?.return?.();
    let replayed: number | null = null;
    for (let attempt = 0; attempt < 50 && replayed === null; attempt++) {
      try {
        replayed = 0;
        for await (const _ of rpc.stream(S.replay, { namespace: "n", agentId: "w" })) replayed += 1;
      } catch {
        replayed = null;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect(replayed).toBe(1);
    controllers[1]?.abort();
    await watches[1]?.return?.();
  });
});

describe("connections", () => {
  it("advertises max_concurrent_streams in the HTTP/2 settings", async () => {
    const session = http2.connect(daemon.url);
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    expect(settings.maxConcurrentStreams).toBe(5);
    session.close();
  });

  it("closes HTTP/2 connections idle for idle_timeout_ms, but not ones with a quiet Watch open", async () => {
    const idle = http2.connect(daemon.url);
    const busy = http2.connect(daemon.url);
    const idleClosed = new Promise<void>((resolve) => idle.once("close", resolve));
    let busyClosed = false;
    busy.once("close", () => (busyClosed = true));
    busy.on("error", () => undefined);
    const watch = busy.request({ ":method": "POST", ":path": "/statehouse.v1.StatehouseService/Watch", "content-type": "application/grpc", te: "trailers" });
    watch.on("error", () => undefined);
    const request = toBinary(WatchRequestSchema, create(WatchRequestSchema, { namespace: "n", agentId: "quiet" }));
    watch.end(Buffer.concat([Buffer.from([0, 0, 0, 0, request.length]), request]));
    // connect sends the Watch's response headers with its first event: none comes here.
    await idleClosed;
    await new Promise((r) => setTimeout(r, IDLE_MS * 2));
    expect(busyClosed).toBe(false);
    watch.close();
    busy.close();
  });

  it("closes idle HTTP/1.1 keep-alive connections after idle_timeout_ms", async () => {
    const [host, port] = daemon.address.split(":");
    const socket = net.connect({ host: host ?? "", port: Number(port) });
    let response = "";
    socket.on("data", (c: Buffer) => (response += c.toString("latin1")));
    socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
    const closedBy = await new Promise<string>((resolve) => {
      socket.once("close", () => resolve("server"));
      setTimeout(() => resolve("nobody"), IDLE_MS * 10);
    });
    expect(response).toContain("200 OK");
    expect(response.toLowerCase()).toContain("connection: keep-alive");
    expect(closedBy).toBe("server");
    socket.destroy();
  });
});
