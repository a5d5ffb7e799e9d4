// The edges of authentication against the real daemon: malformed, oversized
// and unprintable tokens (fuzz), DNS-rebinding Host headers and disallowed
// Origins on every request, per-key limits (open transactions, open streams,
// request rate), the audit log's bound under attack, and the off / optional
// modes that keep loopback development credential-free.
import http2 from "node:http2";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthFixture, type TestKey } from "../test-support/auth-fixture.js";
import { DaemonProcess } from "@statehouse/test-services";
import { h2Call } from "../test-support/raw-http.js";
import { allDrivers, collect, ConnectDriver, failure, GrpcJsDriver, type RpcDriver } from "../test-support/rpc-drivers.js";

const S = StatehouseService.method;
const A = AuthService.method;
const ref = { namespace: "a", agentId: "ag", key: "k" };

let fx: AuthFixture;
let key: TestKey;

beforeAll(async () => {
  fx = await AuthFixture.start({ args: ["--allowed-hosts", "state.example.com", "--cors-origins", "https://app.example.com"] });
  key = await fx.createKey([["a", "write"]]);
});

afterAll(async () => {
  await fx.dispose();
});

function rawH1(request: string | Buffer): Promise<string> {
  const [host, port] = [fx.daemon.address.split(":")[0], Number(fx.daemon.address.split(":")[1])];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.end(request);
    setTimeout(() => socket.destroy(), 3000);
  });
}

describe("malformed tokens (fuzz)", () => {
  const valid = (): string => key.token;
  const tokens = (): string[] => [
    "",
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "bearer shk_",
    `Bearer ${valid()}x`,
    `Bearer ${valid().slice(0, -1)}`,
    `Bearer ${valid().replace(key.keyId, "aaaaaaaaaaaaaaaa")}`,
    `Bearer ${valid().slice(0, 21)}${"A".repeat(43)}`,
    `Bearer shk_${key.keyId}_${"x".repeat(2000)}`,
    `Bearer ${"shk_".repeat(3000)}`,
    `Token ${valid()}`,
    `Bearer ${valid()} extra`,
    ...Array.from({ length: 40 }, () => `Bearer ${randomBytes(1 + Math.floor(Math.random() * 90)).toString("base64url")}`),
    ...Array.from({ length: 20 }, () => `Bearer shk_${key.keyId}_${randomBytes(32).toString("base64url")}`),
  ];

  it.each(["grpc-js", "connect-h2c", "connect-http1.1", "grpc-web-http1.1"])("every one is UNAUTHENTICATED over %s, and the daemon keeps serving", async (name) => {
    for (const header of tokens()) {
      const rpc: RpcDriver =
        name === "grpc-js"
          ? new GrpcJsDriver(fx.daemon.address, {}, { token: header.replace(/^Bearer /, "") })
          : (allDrivers(fx.daemon.address).find((d) => d.name === name) as ConnectDriver);
      let f;
      if (rpc instanceof GrpcJsDriver) {
        f = await failure(rpc.unary(S.getState, ref));
        rpc.close();
      } else {
        const transport = createConnectTransport({
          baseUrl: fx.daemon.url,
          httpVersion: name.endsWith("h2c") ? "2" : "1.1",
          interceptors: [
            (next) => (req) => {
              req.header.set("authorization", header);
              return next(req);
            },
          ],
        });
        f = await failure(new ConnectDriver(name, transport).unary(S.getState, ref));
      }
      expect(f.code, JSON.stringify(header.slice(0, 80))).toBe(Code.Unauthenticated);
      // The answer never echoes what was sent.
      const sent = header.replace(/^\S+ /, "");
      if (sent.length > 24) expect(f.message).not.toContain(sent);
    }
    await new GrpcJsDriver(fx.daemon.address, {}, { token: key.token }).unary(S.getState, ref);
  });

  it("unprintable bytes and oversized headers on the wire are refused; the daemon keeps serving", async () => {
    const body = "{}";
    for (const auth of ["Bearer \u0001\u0002\u007f", "Bearer \u00ff\u00fe shk_", `Bearer ${"A".repeat(64 * 1024)}`]) {
      const response = await rawH1(
        Buffer.from(`POST /statehouse.v1.StatehouseService/GetState HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: ${auth}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, "latin1"),
      );
      expect(response).toMatch(/^HTTP\/1\.1 (400|401|431) /);
    }
    await new GrpcJsDriver(fx.daemon.address, {}, { token: key.token }).unary(S.getState, ref);
  });
});

describe("Host and Origin", () => {
  it("refuses a DNS-rebinding Host on every path and protocol (421), and serves IP literals, localhost and --allowed-hosts", async () => {
    for (const path of ["/healthz", "/metrics", "/statehouse.v1.StatehouseService/GetState", "/console/"]) {
      expect(await rawH1(`GET ${path} HTTP/1.1\r\nHost: evil.example:1234\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 421 /);
    }
    for (const host of ["127.0.0.1:1", "localhost", "app.localhost:80", "state.example.com", "[::1]:5"]) {
      expect(await rawH1(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), host).toMatch(/^HTTP\/1\.1 200 /);
    }
    // HTTP/2: :authority, on the fast path's Transact and on connect-node's ListKeys alike.
    const session = http2.connect(fx.daemon.url);
    try {
      for (const path of ["/statehouse.v1.StatehouseService/Transact", "/statehouse.v1.StatehouseService/ListKeys"]) {
        const res = await h2Call(session, path, { ":authority": "evil.example", "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key.token}` }, Buffer.alloc(5));
        expect(res.status, path).toBe(421);
      }
    } finally {
      session.close();
    }
    // grpc-js naming a rebinding authority.
    const rebinding = new GrpcJsDriver(fx.daemon.address, { "grpc.default_authority": "evil.example" }, { token: key.token });
    try {
      expect((await failure(rebinding.unary(S.getState, ref))).code).not.toBe(Code.Unauthenticated);
    } finally {
      rebinding.close();
    }
  });

  it("refuses disallowed Origins on every request, not only preflight; allows the listed and the daemon's own origin", async () => {
    const call = (origin: string): Promise<string> =>
      rawH1(`POST /statehouse.v1.AuthService/WhoAmI HTTP/1.1\r\nHost: ${fx.daemon.address}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(await call("https://evil.example")).toMatch(/^HTTP\/1\.1 403 /);
    expect(await call("null")).toMatch(/^HTTP\/1\.1 403 /);
    expect(await call("http://localhost:3000")).toMatch(/^HTTP\/1\.1 403 /); // no loopback origins by default
    expect(await call("https://app.example.com")).toMatch(/^HTTP\/1\.1 200 [^]*access-control-allow-origin: https:\/\/app.example.com/i);
    expect(await call(`http://${fx.daemon.address}`)).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe("per-key limits", () => {
  it("open transactions: a key at its limit gets RESOURCE_EXHAUSTED, others are not affected", async () => {
    const small = await fx.createKey([["a", "write"]], { maxOpenTransactions: 2 });
    const rpc = new GrpcJsDriver(fx.daemon.address, {}, { token: small.token });
    const other = new GrpcJsDriver(fx.daemon.address, {}, { token: key.token });
    try {
      const t1 = await rpc.unary(S.beginTransaction, {});
      await rpc.unary(S.beginTransaction, {});
      const f = await failure(rpc.unary(S.beginTransaction, {}));
      expect(f.code).toBe(Code.ResourceExhausted);
      expect(f.detail?.details).toMatchObject({ limit: "key_max_open_transactions", key_id: small.keyId });
      await other.unary(S.abort, { txnId: (await other.unary(S.beginTransaction, {})).txnId });
      await rpc.unary(S.commit, { txnId: t1.txnId });
      await rpc.unary(S.beginTransaction, {});
    } finally {
      rpc.close();
      other.close();
    }
  });

  it("open streams: a key at its limit gets RESOURCE_EXHAUSTED until one closes", async () => {
    const small = await fx.createKey([["a", "read"]], { maxOpenStreams: 1 });
    const rpc = new GrpcJsDriver(fx.daemon.address, {}, { token: small.token });
    const writer = new GrpcJsDriver(fx.daemon.address, {}, { token: key.token });
    try {
      await writer.unary(S.transact, { operations: [{ ...ref, value: { for: "watch" } }] });
      const controller = new AbortController();
      const watch = rpc.stream(S.watch, { namespace: "a", agentId: "ag", startTs: 1n }, { signal: controller.signal })[Symbol.asyncIterator]();
      await watch.next();
      const f = await failure(rpc.stream(S.replay, { namespace: "a", agentId: "ag" }));
      expect(f.code).toBe(Code.ResourceExhausted);
      expect(f.detail?.details["limit"]).toBe("key_max_open_streams");
      controller.abort();
      // The slot is free once the server has seen the cancel, a moment later.
      for (let i = 0; ; i++) {
        try {
          await collect(rpc.stream(S.replay, { namespace: "a", agentId: "ag" }));
          break;
        } catch (error) {
          if (i > 100) throw error;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    } finally {
      rpc.close();
      writer.close();
    }
  });

  it("request rate: a key over its token bucket gets RESOURCE_EXHAUSTED naming the limit", async () => {
    const slow = await fx.createKey([["a", "read"]], { requestsPerSecond: 0.001, burst: 3 });
    const rpc = new GrpcJsDriver(fx.daemon.address, {}, { token: slow.token });
    try {
      for (let i = 0; i < 3; i++) await rpc.unary(S.getState, ref);
      const f = await failure(rpc.unary(S.getState, ref));
      expect(f.code).toBe(Code.ResourceExhausted);
      expect(f.detail?.details).toMatchObject({ limit: "key_requests_per_second", key_id: slow.keyId });
      await new GrpcJsDriver(fx.daemon.address, {}, { token: key.token }).unary(S.getState, ref);
    } finally {
      rpc.close();
    }
  });
});

describe("audit log under attack", () => {
  it("stays bounded: 600 failed calls log at most the burst, and the rest are counted", async () => {
    const rpc = new GrpcJsDriver(fx.daemon.address, {}, { token: `shk_${key.keyId}_${"B".repeat(43)}` });
    const before = fx.daemon.logs().filter((l) => l["audit"] === "auth_failure").length;
    try {
      for (let i = 0; i < 600; i++) await failure(rpc.unary(S.getState, ref));
    } finally {
      rpc.close();
    }
    const lines = fx.daemon.logs().filter((l) => l["audit"] === "auth_failure").length - before;
    expect(lines).toBeGreaterThan(0);
    expect(lines).toBeLessThan(300);
    expect(fx.daemon.logs().some((l) => l["audit"] === "auth_failure" && l["keyId"] === key.keyId && l["reason"] === "wrong_secret")).toBe(true);
    // The dropped lines are reported (every 10 s, and at shutdown).
    await fx.daemon.stop("SIGTERM");
    const reported = fx.daemon.logs().filter((l) => l["audit"] === "suppressed" && l["kind"] === "failure");
    expect(reported.reduce((n, l) => n + Number(l["suppressed"]), 0) + lines).toBeGreaterThanOrEqual(600);
  });
});

describe("modes", () => {
  it("off (the default): loopback calls need no credential; WhoAmI says off", async () => {
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1" } });
    const rpc = new GrpcJsDriver(daemon.address);
    try {
      await rpc.unary(S.transact, { operations: [{ ...ref, value: { x: 1 } }] });
      expect((await rpc.unary(S.getState, ref)).exists).toBe(true);
      expect(await rpc.unary(A.whoAmI, {})).toMatchObject({ authenticated: false, authMode: "off" });
    } finally {
      rpc.close();
      await daemon.dispose();
    }
  });

  it("optional: no credential may do everything; a presented key is checked and limits the call", async () => {
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1" }, args: ["--auth", "optional"] });
    const anon = new GrpcJsDriver(daemon.address);
    try {
      const created = await anon.unary(A.createApiKey, { name: "reader", grants: [{ namespacePattern: "a", role: 1 }] });
      await anon.unary(S.transact, { operations: [{ namespace: "b", agentId: "ag", key: "k", value: {} }] });
      const reader = new GrpcJsDriver(daemon.address, {}, { token: created.secret });
      expect((await failure(reader.unary(S.getState, { namespace: "b", agentId: "ag", key: "k" }))).code).toBe(Code.PermissionDenied);
      await reader.unary(S.getState, ref);
      reader.close();
      const bad = new GrpcJsDriver(daemon.address, {}, { token: "shk_nope" });
      expect((await failure(bad.unary(S.getState, ref))).code).toBe(Code.Unauthenticated);
      bad.close();
    } finally {
      anon.close();
      await daemon.dispose();
    }
  });

  it("required with in-memory storage prints the first admin key once on stderr, never in the log lines", async () => {
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1" }, args: ["--auth", "required"] });
    try {
      const token = /\n(shk_[a-z2-7]{16}_[A-Za-z0-9_-]{43})\n/.exec(daemon.output)?.[1];
      expect(token).toBeDefined();
      const logLines = daemon.output.split("\n").filter((l) => l.startsWith("{"));
      expect(logLines.some((l) => l.includes(token?.slice(21) ?? "?"))).toBe(false);
      const admin = new GrpcJsDriver(daemon.address, {}, { token: token ?? "" });
      expect((await admin.unary(A.listApiKeys, {})).keys).toHaveLength(1);
      admin.close();
    } finally {
      await daemon.dispose();
    }
  });
});
