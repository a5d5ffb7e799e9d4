// --rpc-threads against the real process: the setting's validation, the
// number in the start log, connections spread over the threads (each one's
// requests in /metrics), one open-stream limit for the whole daemon, and a
// graceful stop that drains every thread. The whole daemon suite runs once
// more with STATEHOUSE_RPC_THREADS=2 (project.json); this file pins what is
// particular to threads.
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import tls from "node:tls";
import { Code } from "@connectrpc/connect";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultRpcThreads, resolveConfig } from "../config.js";
import { DaemonProcess, runDaemonToExit } from "@statehouse/test-services";
import { failure, GrpcJsDriver } from "../test-support/rpc-drivers.js";
import { TestCa } from "../test-support/test-ca.js";

const S = StatehouseService.method;

describe("--rpc-threads setting", () => {
  it("takes auto, 1..64, and names the limit for anything else", () => {
    expect(resolveConfig({ env: { STATEHOUSE_RPC_THREADS: "3" } }).rpcThreads).toBe(3);
    expect(resolveConfig({ env: { STATEHOUSE_RPC_THREADS: "auto" } }).rpcThreads).toBe(defaultRpcThreads("off"));
    expect(resolveConfig({ env: {} }).rpcThreads).toBe(defaultRpcThreads("off"));
    for (const bad of ["65", "-1", "two", "1.5", ""]) {
      expect(() => resolveConfig({ env: { STATEHOUSE_RPC_THREADS: bad } }), bad).toThrow(/STATEHOUSE_RPC_THREADS.*between 1 and 64 \(the most --rpc-threads allows\)/);
    }
  });

  it("defaults to the cores - 1, at least 1, and to 1 with auth on", () => {
    expect(defaultRpcThreads("off", 2)).toBe(1);
    expect(defaultRpcThreads("off", 1)).toBe(1);
    expect(defaultRpcThreads("off", 16)).toBe(15);
    expect(defaultRpcThreads("off", 200)).toBe(64);
    expect(defaultRpcThreads("required", 16)).toBe(1);
    expect(resolveConfig({ env: { STATEHOUSE_AUTH: "required" } }).rpcThreads).toBe(1);
  });

  it("refuses more than one thread with auth on, naming the setting", async () => {
    expect(() => resolveConfig({ env: { STATEHOUSE_AUTH: "optional", STATEHOUSE_RPC_THREADS: "2" } })).toThrow(/STATEHOUSE_RPC_THREADS 2: more than 1 RPC thread needs --auth off/);
    const exit = await runDaemonToExit({ STATEHOUSE_USE_MEMORY: "1" }, ["--rpc-threads", "2", "--auth", "required"]);
    expect(exit.code).toBe(2);
    expect(exit.output).toMatch(/more than 1 RPC thread needs --auth off/);
  });
});

describe("a daemon with --rpc-threads 2", () => {
  let daemon: DaemonProcess;

  beforeAll(async () => {
    daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1", STATEHOUSE_MAX_STREAMING_CALLS: "2" }, args: ["--rpc-threads", "2"] });
  });

  afterAll(async () => {
    await daemon.dispose();
  });

  it("logs the number of threads at start", () => {
    const listening = daemon.logs().find((l) => l["msg"] === "listening");
    expect(listening?.["rpcThreads"]).toBe(2);
  });

  it("serves connections on both threads and counts each thread's requests in /metrics", async () => {
    // 16 connections: the kernel puts all on one thread with probability 2^-15.
    const sessions = Array.from({ length: 16 }, () => http2.connect(daemon.url));
    try {
      for (const [i, session] of sessions.entries()) {
        const body = await new Promise<string>((resolve, reject) => {
          const stream = session.request({ ":path": "/healthz" });
          let text = "";
          stream.setEncoding("utf8").on("data", (c: string) => (text += c));
          stream.once("end", () => resolve(text));
          stream.once("error", reject);
          stream.end();
        });
        expect(body, `connection ${i}`).toBe("ok\n");
      }
    } finally {
      for (const session of sessions) session.close();
    }
    const client = new GrpcJsDriver(daemon.address);
    for (let i = 0; i < 8; i++) await client.unary(S.transact, { operations: [{ namespace: "t", agentId: "a", key: `k${i}`, value: { i } }] });
    expect((await client.unary(S.getState, { namespace: "t", agentId: "a", key: "k7" })).version).toBe(1n);
    client.close();
    const text = await (await fetch(`${daemon.url}/metrics`)).text();
    const perThread = new Map([...text.matchAll(/^statehouse_rpc_thread_requests_total\{thread="(\d+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect([...perThread.keys()].sort()).toEqual(["1", "2"]);
    for (const [thread, n] of perThread) expect(n, `thread ${thread}`).toBeGreaterThan(0);
    expect([...perThread.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(16 + 9);
    expect(text).toMatch(/^statehouse_engine_calls_pending\{thread="1"\} \d+$/m);
    expect(text).toMatch(/^statehouse_engine_calls_pending\{thread="2"\} \d+$/m);
    // Counted by the threads, added up once: 8 Transacts.
    expect(text).toMatch(/^statehouse_rpc_requests_total\{rpc="Transact"\} 8$/m);
    expect(text).toMatch(/^process_start_time_seconds \d+/m);
  });

  it("holds max_streaming_calls for the whole daemon, whichever thread a stream is on", async () => {
    // Two Watches on two connections (on two threads or one) take both slots; a Replay on a third is refused.
    const [a, b, c] = [new GrpcJsDriver(daemon.address), new GrpcJsDriver(daemon.address), new GrpcJsDriver(daemon.address)];
    const clients = [a, b, c];
    const controllers = [new AbortController(), new AbortController()];
    const watches = controllers.map((ctl, i) => clients[i]?.stream(S.watch, { namespace: "t", agentId: "w" }, { signal: ctl.signal })[Symbol.asyncIterator]());
    const pending = watches.map((w) => w?.next().catch(() => null));
    try {
      // Both watches are open once a commit reaches them.
      await c.unary(S.transact, { operations: [{ namespace: "t", agentId: "w", key: "k", value: { n: 1 } }] });
      await Promise.all(pending);
      const refused = await failure(c.stream(S.replay, { namespace: "t", agentId: "w" }));
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(refused.detail?.details["limit"]).toBe("max_streaming_calls");
    } finally {
      for (const ctl of controllers) ctl.abort();
      for (const w of watches) await w?.return?.().catch(() => undefined);
      for (const client of clients) client.close();
    }
  });
});

describe("SIGHUP with --rpc-threads 2", () => {
  /** The serial number of the certificate a new TLS connection is shown. */
  function servedSerial(address: string, caPem: Buffer): Promise<string> {
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port, ca: caPem, servername: "localhost", ALPNProtocols: ["h2"] }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      });
      socket.on("error", reject);
    });
  }

  it("hands the new certificate to every thread", async () => {
    const ca = TestCa.create();
    const server = ca.server();
    const daemon = await DaemonProcess.start({ env: { STATEHOUSE_USE_MEMORY: "1" }, args: ["--rpc-threads", "2", "--tls-cert", server.cert, "--tls-key", server.key] });
    try {
      const next = ca.server("server-2");
      writeFileSync(server.cert, readFileSync(next.cert));
      writeFileSync(server.key, readFileSync(next.key));
      const logged = daemon.logs().length;
      process.kill(daemon.pid, "SIGHUP");
      for (let i = 0; i < 200 && !daemon.logs().slice(logged).some((l) => l["msg"] === "reloaded: TLS certificate and API keys"); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      // 16 new connections (on both threads but with probability 2^-15): every one is shown the new certificate.
      const serials = await Promise.all(Array.from({ length: 16 }, () => servedSerial(daemon.address, ca.caPem)));
      expect(new Set(serials)).toEqual(new Set([new X509Certificate(readFileSync(next.cert)).serialNumber]));
    } finally {
      await daemon.dispose();
      ca.dispose();
    }
  });
});
