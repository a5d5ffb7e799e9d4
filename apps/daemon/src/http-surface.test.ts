// The HTTP surface around the RPCs, on the same port: /metrics, /healthz,
// CORS for browsers, the protocol sniffer's limits, and the default
// loopback-only dual-stack listener.
import http from "node:http";
import net from "node:net";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { GrpcJsDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;

function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(" ").at(-1));
}

let daemon: DaemonProcess;
let rpc: GrpcJsDriver;

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_CORS_ORIGINS: "https://app.example.com,http://localhost:*", STATEHOUSE_HEADER_TIMEOUT_MS: "300" } });
  rpc = new GrpcJsDriver(daemon.address);
});

afterAll(async () => {
  rpc.close();
  await daemon.dispose();
});

describe("/metrics", () => {
  it("serves Prometheus text with transaction, read, event and process metrics", async () => {
    const { txnId } = await rpc.unary(S.beginTransaction, {});
    await rpc.unary(S.write, { txnId, namespace: "m", agentId: "a", key: "k", value: { v: 1 } });
    await rpc.unary(S.commit, { txnId });
    const aborted = await rpc.unary(S.beginTransaction, {});
    await rpc.unary(S.abort, { txnId: aborted.txnId });
    await rpc.unary(S.transact, { operations: [{ namespace: "m", agentId: "a", key: "k", delete: true }] });
    await rpc.unary(S.transact, { operations: [{ namespace: "m", agentId: "a", key: "k", value: {} }], preconditions: [{ namespace: "m", agentId: "a", key: "k", expectedVersion: 9n }] }).catch(() => undefined);
    await rpc.unary(S.getState, { namespace: "m", agentId: "a", key: "k" });
    for await (const _ of rpc.stream(S.replay, { namespace: "m", agentId: "a" })) {
      // count replay events
    }
    const open = await rpc.unary(S.beginTransaction, {});

    const res = await get(`${daemon.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.body;
    expect(metricValue(text, "statehouse_transactions_started_total")).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "statehouse_transactions_committed_total")).toBe(2);
    expect(metricValue(text, "statehouse_transactions_aborted_total")).toBe(1);
    expect(metricValue(text, "statehouse_conflicts_total")).toBe(1);
    expect(metricValue(text, "statehouse_writes_total")).toBe(1);
    expect(metricValue(text, "statehouse_deletes_total")).toBe(1);
    expect(metricValue(text, "statehouse_reads_total")).toBe(1);
    expect(metricValue(text, "statehouse_replay_events_total")).toBe(2);
    expect(metricValue(text, "statehouse_open_transactions")).toBe(1);
    expect(metricValue(text, "statehouse_commit_ts")).toBe(2);
    expect(metricValue(text, "statehouse_commit_latency_seconds_count")).toBe(2);
    expect(metricValue(text, "statehouse_group_commit_size_count")).toBeGreaterThanOrEqual(1);
    expect(text).toContain('statehouse_rpc_errors_total{code="Aborted"} 1');
    // RocksDB's own accounting: the memtables hold the commits above, the cache is within its 8 MiB.
    const storage = (part: string): number => Number(new RegExp(`^statehouse_storage_memory_bytes\\{part="${part}"\\} (\\S+)$`, "m").exec(text)?.[1]);
    expect(storage("memtables")).toBeGreaterThan(0);
    expect(storage("block_cache")).toBeGreaterThanOrEqual(0);
    expect(storage("block_cache")).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(storage("table_readers")).toBeGreaterThanOrEqual(0);
    // The version cache holds the key just written, within the default 4 MiB budget.
    expect(metricValue(text, "statehouse_version_cache_bytes")).toBeGreaterThan(0);
    expect(metricValue(text, "statehouse_version_cache_bytes")).toBeLessThanOrEqual(4 * 1024 * 1024);
    for (const name of ["statehouse_transactions_expired_total", "statehouse_watch_events_total", "process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds"]) {
      expect(text).toContain(`\n${name}`);
    }
    await rpc.unary(S.abort, { txnId: open.txnId });
  });

  it("STATEHOUSE_VERSION_CACHE_MB=0 reaches the engine: no versions cached", async () => {
    const uncached = await DaemonProcess.start({ env: { STATEHOUSE_VERSION_CACHE_MB: "0" } });
    const client = new GrpcJsDriver(uncached.address);
    try {
      for (let version = 1; version <= 3; version++) {
        await client.unary(S.transact, { operations: [{ namespace: "m", agentId: "a", key: "k", value: { version } }] });
      }
      expect((await client.unary(S.getState, { namespace: "m", agentId: "a", key: "k" })).version).toBe(3n);
      expect(metricValue((await get(`${uncached.url}/metrics`)).body, "statehouse_version_cache_bytes")).toBe(0);
    } finally {
      client.close();
      await uncached.dispose();
    }
  });

  it("answers /healthz and 404 for other paths", async () => {
    expect(await get(`${daemon.url}/healthz`)).toMatchObject({ status: 200, body: "ok\n" });
    expect((await get(`${daemon.url}/nope`)).status).toBe(404);
  });
});

describe("CORS", () => {
  it("answers preflights of allowed origins with connect's headers", async () => {
    const res = await get(
      `${daemon.url}/statehouse.v1.StatehouseService/GetState`,
      { origin: "http://localhost:5173", "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version" },
      "OPTIONS",
    );
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(res.headers["access-control-allow-methods"]).toContain("POST");
    expect(res.headers["access-control-allow-headers"]?.toLowerCase()).toContain("connect-protocol-version");
    expect(res.headers["access-control-allow-headers"]?.toLowerCase()).toContain("x-grpc-web");
  });

  it("exposes the error headers on responses to allowed origins", async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${daemon.url}/statehouse.v1.StatehouseService/GetState`, {
        method: "POST",
        headers: { origin: "https://app.example.com", "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      });
      req.on("response", resolve).on("error", reject);
      req.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    res.resume();
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example.com");
    const exposed = res.headers["access-control-expose-headers"]?.toLowerCase() ?? "";
    for (const header of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) expect(exposed).toContain(header);
  });

  it("refuses preflights of other origins", async () => {
    const res = await get(`${daemon.url}/statehouse.v1.StatehouseService/GetState`, { origin: "https://evil.example", "access-control-request-method": "POST" }, "OPTIONS");
    expect(res.status).toBe(403);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("protocol sniffer", () => {
  function closedAfter(bytes: Buffer): Promise<string> {
    return new Promise((resolve) => {
      const [host, port] = daemon.address.split(":");
      const socket = net.connect({ host: host ?? "", port: Number(port) }, () => socket.write(bytes));
      let data = "";
      socket.on("data", (c) => (data += c.toString("latin1")));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(data));
    });
  }

  it("closes connections that send nothing, or half a preface, after the header timeout", async () => {
    expect(await closedAfter(Buffer.alloc(0))).toBe("");
    expect(await closedAfter(Buffer.from("PRI * HTTP/2.0\r\n"))).toBe("");
    // ... and keeps serving.
    expect((await rpc.unary(S.health, {})).status).toBe("ok");
  });

  it("answers garbage that is not HTTP with 400 and closes", async () => {
    expect(await closedAfter(Buffer.from("\x16\x03\x01 definitely not http\r\n\r\n", "latin1"))).toContain("400 Bad Request");
    expect((await rpc.unary(S.health, {})).status).toBe("ok");
  });
});

describe("default listen address", () => {
  it("localhost binds 127.0.0.1 and ::1 on the same port, loopback only", async () => {
    const local = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1", STATEHOUSE_LISTEN_ADDR: "localhost:0" } });
    try {
      const port = local.address.split(":").at(-1) ?? "";
      expect(local.address).toBe(`127.0.0.1:${port}`);
      const listening = local.logs().find((l) => l["msg"] === "listening");
      expect(listening?.["addresses"]).toEqual([`127.0.0.1:${port}`, `[::1]:${port}`]);
      for (const address of [`127.0.0.1:${port}`, `[::1]:${port}`, `localhost:${port}`]) {
        const client = new GrpcJsDriver(address);
        expect((await client.unary(S.health, {})).status).toBe("ok");
        client.close();
      }
    } finally {
      await local.dispose();
    }
  });
});
