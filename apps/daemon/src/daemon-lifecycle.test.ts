// Process lifecycle of the real daemon: restart on the same data dir keeps
// everything, a second daemon on that dir is refused, SIGTERM drains and ends
// followers with UNAVAILABLE, and the daemon's own crash point
// (commit:after-sync-before-reply) loses nothing that was committed.
import { access } from "node:fs/promises";
import http2 from "node:http2";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ErrorCode, GrpcHealth, HealthCheckResponse_ServingStatus, ReplayRequestSchema, StatehouseService } from "@statehouse/api";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonProcess, runDaemonToExit } from "@statehouse/test-services";
import { collect, failure, failureOf, GrpcJsDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function start(options: Parameters<typeof DaemonProcess.start>[0] = {}): Promise<{ daemon: DaemonProcess; rpc: GrpcJsDriver }> {
  const daemon = await DaemonProcess.start(options);
  const rpc = new GrpcJsDriver(daemon.address);
  cleanup.push(() => daemon.dispose(), () => rpc.close());
  return { daemon, rpc };
}

async function write(rpc: GrpcJsDriver, agentId: string, key: string, value: Record<string, number | string> | null): Promise<bigint> {
  const { txnId } = await rpc.unary(S.beginTransaction, {});
  if (value === null) await rpc.unary(S.delete, { txnId, namespace: "default", agentId, key });
  else await rpc.unary(S.write, { txnId, namespace: "default", agentId, key, value });
  return (await rpc.unary(S.commit, { txnId })).commitTs;
}

async function snapshotOf(rpc: GrpcJsDriver, agentId: string) {
  return {
    keys: (await rpc.unary(S.listKeys, { namespace: "default", agentId })).keys,
    a: await rpc.unary(S.getState, { namespace: "default", agentId, key: "a" }),
    b: await rpc.unary(S.getState, { namespace: "default", agentId, key: "b" }),
    history: await rpc.unary(S.getStateAtVersion, { namespace: "default", agentId, key: "a", version: 1n }),
    events: (await collect(rpc.stream(S.replay, { namespace: "default", agentId }))).map((e) => ({ txnId: e.txnId, commitTs: e.commitTs, operations: e.operations })),
  };
}

describe("restart", () => {
  it("keeps every record, version, event and the commit_ts on the same data dir", async () => {
    const first = await start({ env: { STATEHOUSE_SNAPSHOT_INTERVAL: "3" } });
    for (let i = 0; i < 5; i++) await write(first.rpc, "agent", "a", { i });
    await write(first.rpc, "agent", "b", { b: 1 });
    const lastTs = await write(first.rpc, "agent", "b", null);
    await first.rpc.unary(S.transact, { operations: [{ namespace: "other", agentId: "agent", key: "c", value: { c: true } }], idempotencyKey: "restart-idem" });
    const before = await snapshotOf(first.rpc, "agent");
    expect(before.events).toHaveLength(7);
    first.rpc.close();
    expect(await first.daemon.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    await expect(access(join(first.daemon.workDir, "ready.json"))).rejects.toThrow();

    const second = await start({ dataDir: first.daemon.dataDir });
    expect(await snapshotOf(second.rpc, "agent")).toEqual(before);
    const again = await second.rpc.unary(S.transact, { operations: [{ namespace: "other", agentId: "agent", key: "c", value: { c: true } }], idempotencyKey: "restart-idem" });
    expect(again.duplicate).toBe(true);
    expect(await write(second.rpc, "agent", "a", { after: 1 })).toBe(lastTs + 2n);
    const ready = second.daemon.logs().find((l) => l["msg"] === "listening");
    expect(ready?.["address"]).toBe(second.daemon.address);
    const recovered = second.daemon.logs().find((l) => typeof l["msg"] === "string" && l["msg"].startsWith("storage ready"));
    expect(recovered).toMatchObject({ storage: "rocksdb", dataDir: first.daemon.dataDir, commitTs: String(lastTs + 1n) });
    expect(recovered).toHaveProperty("eventsReplayed");
    expect(recovered).toHaveProperty("snapshotFile");
  });

  it("refuses a second daemon on the same data dir with a clear message and a non-zero exit", async () => {
    const first = await start();
    await write(first.rpc, "agent", "a", { x: 1 });
    const second = await runDaemonToExit({ STATEHOUSE_DATA_DIR: first.daemon.dataDir, STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0" });
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.output).toContain(`data dir ${first.daemon.dataDir} is in use by another statehoused`);
    // The first daemon is unaffected.
    expect((await first.rpc.unary(S.getState, { namespace: "default", agentId: "agent", key: "a" })).value).toEqual({ x: 1 });
  });
});

describe("graceful shutdown", () => {
  it("on SIGTERM ends Watch streams with UNAVAILABLE, reports NOT_SERVING, closes the engine and exits 0", async () => {
    const { daemon, rpc } = await start();
    const ts = await write(rpc, "agent", "w", { n: 1 });
    const watch = rpc.stream(S.watch, { namespace: "default", agentId: "agent", startTs: ts })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.commitTs).toBe(ts);
    const health = rpc.stream(GrpcHealth.method.watch, { service: "" })[Symbol.asyncIterator]();
    expect((await health.next()).value?.status).toBe(HealthCheckResponse_ServingStatus.SERVING);

    const pendingWatch = watch.next().then(
      () => null,
      (error: unknown) => failureOf(error),
    );
    const pendingHealth = health.next();
    daemon.child.kill("SIGTERM");
    const ended = await pendingWatch;
    expect(ended?.code).toBe(Code.Unavailable);
    expect(ended?.detail?.code).toBe(ErrorCode.UNAVAILABLE);
    expect((await pendingHealth).value?.status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    const messages = daemon.logs().map((l) => l["msg"]);
    expect(messages).toContain("signal received");
    expect(messages.at(-1)).toBe("stopped");
    // Nothing listens any more.
    const after = await failure(new GrpcJsDriver(daemon.address).unary(S.health, {}, { timeoutMs: 2000 }));
    expect([Code.Unavailable, Code.DeadlineExceeded]).toContain(after.code);
  });

  /** Enough history (~6 MB) that a Replay blocks on flow control when its client stops reading. */
  async function replayFixture(rpc: GrpcJsDriver, events: number): Promise<void> {
    const big = "x".repeat(60_000);
    for (let i = 0; i < events; i++) {
      await rpc.unary(S.transact, { operations: [{ namespace: "default", agentId: "replay", key: `k${i}`, value: { big } }] });
    }
  }

  /**
   * A gRPC Replay over raw node:http2 that reads its first bytes and then
   * pauses: HTTP/2 flow control keeps the call in flight on the server.
   */
  async function pausedReplay(address: string) {
    const session = http2.connect(`http://${address}`);
    const request = toBinary(ReplayRequestSchema, create(ReplayRequestSchema, { namespace: "default", agentId: "replay" }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, request.length]), request]);
    const stream = session.request({ ":method": "POST", ":path": "/statehouse.v1.StatehouseService/Replay", "content-type": "application/grpc", te: "trailers" });
    stream.end(frame);
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
    let bytes = 0;
    await new Promise<void>((resolve) =>
      stream.once("data", (chunk: Buffer) => {
        bytes += chunk.length;
        stream.pause();
        resolve();
      }),
    );
    return {
      /** Reads the rest; resolves with the bytes received and the gRPC status. */
      async finish(): Promise<{ bytes: number; status: string | undefined }> {
        stream.on("data", (chunk: Buffer) => (bytes += chunk.length));
        stream.resume();
        await new Promise((resolve) => stream.once("close", resolve));
        const t = await Promise.race([trailers, new Promise<http2.IncomingHttpHeaders>((resolve) => setTimeout(() => resolve({}), 100))]);
        session.close();
        return { bytes, status: t["grpc-status"] as string | undefined };
      },
    };
  }

  it("lets an in-flight call finish within the grace period", async () => {
    const { daemon, rpc } = await start();
    await replayFixture(rpc, 100);
    const replay = await pausedReplay(daemon.address);
    daemon.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    const done = await replay.finish();
    expect(done.status).toBe("0");
    expect(done.bytes).toBeGreaterThan(100 * 60_000);
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.logs().map((l) => l["msg"])).not.toContain("grace period over: ending the remaining calls with UNAVAILABLE");
  });

  it("ends calls still running after the grace period with UNAVAILABLE", async () => {
    const { daemon, rpc } = await start({ env: { STATEHOUSE_SHUTDOWN_GRACE_MS: "200" } });
    await replayFixture(rpc, 100);
    const replay = await pausedReplay(daemon.address);
    daemon.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 600));
    const done = await replay.finish();
    expect(done.status).toBe(String(Code.Unavailable));
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.logs().map((l) => l["msg"])).toContain("grace period over: ending the remaining calls with UNAVAILABLE");
  });
});

describe("failpoint commit:after-sync-before-reply", () => {
  it("kills the daemon after the commit is durable and before the reply; the commit survives", async () => {
    const { daemon, rpc } = await start({ env: { STATEHOUSE_FAILPOINT: "commit:after-sync-before-reply@2" } });
    const first = await write(rpc, "agent", "k", { n: 1 });
    const crashed = await failure(rpc.unary(S.transact, { operations: [{ namespace: "default", agentId: "agent", key: "k", value: { n: 2 } }] }));
    expect(crashed.code).toBe(Code.Unavailable);
    expect(await daemon.exited).toEqual({ code: null, signal: "SIGKILL" });
    rpc.close();

    const restarted = await start({ dataDir: daemon.dataDir });
    const state = await restarted.rpc.unary(S.getState, { namespace: "default", agentId: "agent", key: "k" });
    expect(state).toMatchObject({ value: { n: 2 }, version: 2n, commitTs: first + 1n });
  });
});
