// Every RPC and every client-reachable error code, through every transport the
// daemon serves on its one port: grpc-js (gRPC over h2c), Connect over h2c and
// HTTP/1.1 (binary and JSON), gRPC-Web over HTTP/1.1 and h2c. One real daemon
// process (RocksDB in a temp dir) for the whole file.
import { Code } from "@connectrpc/connect";
import { ErrorCode, type EventBatch, GrpcHealth, HealthCheckResponse_ServingStatus, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { allDrivers, collect, failure, type RpcDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const LIMITS = {
  STATEHOUSE_MAX_VALUE_BYTES: "4096",
  STATEHOUSE_MAX_REQUEST_BYTES: String(4096 + 65536),
  STATEHOUSE_MAX_OPERATIONS_PER_TXN: "4",
  STATEHOUSE_MAX_JSON_DEPTH: "8",
  STATEHOUSE_MAX_KEY_BYTES: "64",
};

let daemon: DaemonProcess;
let drivers: RpcDriver[];

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: LIMITS });
  drivers = allDrivers(daemon.address);
});

afterAll(async () => {
  for (const d of drivers) d.close();
  await daemon.dispose();
});

const driverNames = ["grpc-js", "connect-h2c", "connect-http1.1", "connect-json-http1.1", "grpc-web-http1.1", "grpc-web-h2c"];

describe.each(driverNames)("over %s", (name) => {
  const rpc = (): RpcDriver => {
    const d = drivers.find((x) => x.name === name);
    if (d === undefined) throw new Error(`no driver ${name}`);
    return d;
  };
  const agent = `agent-${name}`;
  const ns = "conformance";

  async function commitWrite(agentId: string, key: string, value: Record<string, unknown>): Promise<bigint> {
    const { txnId } = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.write, { txnId, namespace: ns, agentId, key, value: value as never });
    return (await rpc().unary(S.commit, { txnId })).commitTs;
  }

  it("Health, Version and grpc.health.v1 Check", async () => {
    expect((await rpc().unary(S.health, {})).status).toBe("ok");
    const version = await rpc().unary(S.version, {});
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(version.gitSha).not.toBe("");
    expect((await rpc().unary(GrpcHealth.method.check, { service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await rpc().unary(GrpcHealth.method.check, { service: StatehouseService.typeName })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await failure(rpc().unary(GrpcHealth.method.check, { service: "nope" }))).code).toBe(Code.NotFound);
    const watch = rpc().stream(GrpcHealth.method.watch, { service: "" }, { signal: AbortSignal.timeout(2000) });
    for await (const status of watch) {
      expect(status.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      break;
    }
  });

  it("Begin/Write/Delete/Commit, GetState with versions, tombstones and never-written keys", async () => {
    const never = await rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "never" });
    expect(never).toMatchObject({ exists: false, version: 0n, commitTs: 0n });
    expect(never.value).toBeUndefined();

    const { txnId } = await rpc().unary(S.beginTransaction, { timeoutMs: 60_000n });
    expect(txnId).not.toBe("");
    await rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "a", value: { n: 1, nested: { list: [1, "two", null, true] } } });
    await rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "b", value: { n: 2 } });
    // Staged server-side: invisible until commit.
    expect((await rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "a" })).exists).toBe(false);
    const { commitTs } = await rpc().unary(S.commit, { txnId });
    expect(commitTs).toBeGreaterThan(0n);

    const a = await rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "a" });
    expect(a).toMatchObject({ exists: true, version: 1n, commitTs, value: { n: 1, nested: { list: [1, "two", null, true] } } });

    const del = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.delete, { txnId: del.txnId, namespace: ns, agentId: agent, key: "b" });
    const deletedAt = (await rpc().unary(S.commit, { txnId: del.txnId })).commitTs;
    expect(deletedAt).toBeGreaterThan(commitTs);
    const b = await rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "b" });
    expect(b).toMatchObject({ exists: false, version: 2n, commitTs: deletedAt });
    expect(b.value).toBeUndefined();
  });

  it("GetStateAtVersion returns history and NOT_FOUND/VERSION_NOT_FOUND for a missing version", async () => {
    const key = "versions";
    const ts1 = await commitWrite(agent, key, { v: 1 });
    const ts2 = await commitWrite(agent, key, { v: 2 });
    const v1 = await rpc().unary(S.getStateAtVersion, { namespace: ns, agentId: agent, key, version: 1n });
    expect(v1).toMatchObject({ exists: true, version: 1n, commitTs: ts1, value: { v: 1 } });
    const v2 = await rpc().unary(S.getStateAtVersion, { namespace: ns, agentId: agent, key, version: 2n });
    expect(v2).toMatchObject({ exists: true, version: 2n, commitTs: ts2, value: { v: 2 } });
    const missing = await failure(rpc().unary(S.getStateAtVersion, { namespace: ns, agentId: agent, key, version: 3n }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.detail?.code).toBe(ErrorCode.VERSION_NOT_FOUND);
  });

  it("ListKeys and ScanPrefix in key order without deleted keys", async () => {
    const agentId = `${agent}-list`;
    for (const key of ["tool/2", "note/1", "tool/1", "gone"]) await commitWrite(agentId, key, { key });
    const { txnId } = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.delete, { txnId, namespace: ns, agentId, key: "gone" });
    await rpc().unary(S.commit, { txnId });
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId })).keys).toEqual(["note/1", "tool/1", "tool/2"]);
    const scan = await rpc().unary(S.scanPrefix, { namespace: ns, agentId, prefix: "tool/" });
    expect(scan.entries.map((e) => [e.key, e.value, e.version])).toEqual([
      ["tool/1", { key: "tool/1" }, 1n],
      ["tool/2", { key: "tool/2" }, 1n],
    ]);
    expect((await rpc().unary(S.scanPrefix, { namespace: ns, agentId, prefix: "" })).entries).toHaveLength(3);
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId: "nobody" })).keys).toEqual([]);
  });

  it("Replay: only this agent, commit_ts order, inclusive range, committed_at/namespace/agent_id", async () => {
    const agentId = `${agent}-replay`;
    const tss: bigint[] = [];
    for (let i = 1; i <= 4; i++) tss.push(await commitWrite(agentId, `k${i % 2}`, { i }));
    await commitWrite(`${agentId}-other`, "k", { other: true });
    const all = await collect(rpc().stream(S.replay, { namespace: ns, agentId }));
    expect(all.map((e) => e.commitTs)).toEqual(tss);
    expect(all[0]?.operations).toEqual([expect.objectContaining({ key: "k1", value: { i: 1 }, version: 1n })]);
    expect(all.every((e) => e.namespace === ns && e.agentId === agentId && e.txnId !== "")).toBe(true);
    const committedAt = Number(all[0]?.committedAt?.seconds ?? 0n) * 1000;
    expect(Math.abs(committedAt - Date.now())).toBeLessThan(10 * 60_000);
    const range = await collect(rpc().stream(S.replay, { namespace: ns, agentId, startTs: tss[1], endTs: tss[2] }));
    expect(range.map((e) => e.commitTs)).toEqual([tss[1], tss[2]]);
    expect(await collect(rpc().stream(S.replay, { namespace: ns, agentId: "nobody" }))).toEqual([]);
  });

  it("ReplayBatches: the same events as Replay, in batches, for ranges, limit and reverse", async () => {
    const agentId = `${agent}-replay-batches`;
    const tss: bigint[] = [];
    for (let i = 1; i <= 5; i++) tss.push(await commitWrite(agentId, `k${i % 2}`, { i }));
    await commitWrite(`${agentId}-other`, "k", { other: true });
    const requests = [
      { namespace: ns, agentId },
      { namespace: ns, agentId, startTs: tss[1], endTs: tss[3] },
      { namespace: ns, agentId, limit: 2 },
      { namespace: ns, agentId, limit: 2, reverse: true },
      { namespace: ns, agentId, reverse: true },
      { namespace: ns, agentId: "nobody" },
    ];
    for (const req of requests) {
      const single = await collect(rpc().stream(S.replay, req));
      const batches = await collect(rpc().stream(S.replayBatches, req));
      expect(batches.every((b) => b.events.length > 0)).toBe(true);
      expect(batches.flatMap((b) => b.events)).toEqual(single);
    }
    const reversed = await collect(rpc().stream(S.replayBatches, { namespace: ns, agentId, limit: 2, reverse: true }));
    expect(reversed.flatMap((b) => b.events.map((e) => e.commitTs))).toEqual([tss[4], tss[3]]);
  });

  it("Transact: one-shot, with a server-side txn, preconditions (CONFLICT) and idempotency", async () => {
    const agentId = `${agent}-transact`;
    const one = await rpc().unary(S.transact, {
      operations: [{ namespace: ns, agentId, key: "x", value: { x: 1 } }],
      preconditions: [{ namespace: ns, agentId, key: "x", expectedVersion: 0n }],
      idempotencyKey: `idem-${name}`,
    });
    expect(one.duplicate).toBe(false);
    // A retry of the same content is the original commit; other content under the key is refused, naming it.
    const again = await rpc().unary(S.transact, { operations: [{ namespace: ns, agentId, key: "x", value: { x: 1 } }], idempotencyKey: `idem-${name}` });
    expect(again).toMatchObject({ commitTs: one.commitTs, duplicate: true });
    const reused = await failure(rpc().unary(S.transact, { operations: [{ namespace: ns, agentId, key: "x", value: { x: 99 } }], idempotencyKey: `idem-${name}` }));
    expect(reused.code).toBe(Code.InvalidArgument);
    expect(reused.detail?.code).toBe(ErrorCode.INVALID_REQUEST);
    expect(reused.detail?.details).toMatchObject({ engine_code: "IDEMPOTENCY_KEY_REUSED", idempotencyKey: `idem-${name}`, commitTs: String(one.commitTs) });
    expect((await rpc().unary(S.getState, { namespace: ns, agentId, key: "x" })).value).toEqual({ x: 1 });

    const { txnId } = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.write, { txnId, namespace: ns, agentId, key: "staged", value: { s: true } });
    const withTxn = await rpc().unary(S.transact, {
      txnId,
      operations: [{ namespace: ns, agentId, key: "x", delete: true }],
      preconditions: [{ namespace: ns, agentId, key: "x", expectedVersion: 1n }],
    });
    expect((await rpc().unary(S.getState, { namespace: ns, agentId, key: "staged" })).commitTs).toBe(withTxn.commitTs);
    expect(await rpc().unary(S.getState, { namespace: ns, agentId, key: "x" })).toMatchObject({ exists: false, version: 2n });

    const conflict = await failure(
      rpc().unary(S.transact, {
        operations: [{ namespace: ns, agentId, key: "x", value: { x: 3 } }],
        preconditions: [{ namespace: ns, agentId, key: "x", expectedVersion: 1n }],
      }),
    );
    expect(conflict.code).toBe(Code.Aborted);
    expect(conflict.detail?.code).toBe(ErrorCode.CONFLICT);
    const mustNotExist = await failure(
      rpc().unary(S.transact, {
        operations: [{ namespace: ns, agentId, key: "staged", value: {} }],
        preconditions: [{ namespace: ns, agentId, key: "staged", mustNotExist: true }],
      }),
    );
    expect(mustNotExist.detail?.code).toBe(ErrorCode.CONFLICT);
  });

  it("Watch replays from start_ts and then follows live commits", async () => {
    const agentId = `${agent}-watch`;
    const first = await commitWrite(agentId, "w", { n: 1 });
    const controller = new AbortController();
    const it = rpc().stream(S.watch, { namespace: ns, agentId, startTs: first }, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.commitTs).toBe(first);
    const second = await commitWrite(agentId, "w", { n: 2 });
    const live = await it.next();
    expect(live.value?.commitTs).toBe(second);
    expect(live.value?.operations[0]).toMatchObject({ key: "w", value: { n: 2 }, version: 2n });
    controller.abort();
    await it.return?.();
  });

  it("WatchBatches replays from start_ts in batches and then sends each live commit without waiting for more", async () => {
    const agentId = `${agent}-watch-batches`;
    const first = await commitWrite(agentId, "w", { n: 1 });
    const second = await commitWrite(agentId, "w", { n: 2 });
    const controller = new AbortController();
    const it = rpc().stream(S.watchBatches, { namespace: ns, agentId, startTs: first }, { signal: controller.signal })[Symbol.asyncIterator]();
    const next = async (): Promise<EventBatch> => {
      const r: IteratorResult<EventBatch> = await it.next();
      if (r.done === true) throw new Error("WatchBatches ended");
      return r.value;
    };
    const seen: bigint[] = [];
    while (seen.length < 2) {
      const batch = await next();
      expect(batch.events.length).toBeGreaterThan(0);
      seen.push(...batch.events.map((e) => e.commitTs));
    }
    expect(seen).toEqual([first, second]);
    const third = await commitWrite(agentId, "w", { n: 3 });
    const live = await next();
    expect(live.events.map((e) => e.commitTs)).toEqual([third]);
    expect(live.events[0]?.operations[0]).toMatchObject({ key: "w", value: { n: 3 }, version: 3n });
    controller.abort();
    await it.return?.();
  });

  it("GetStateAsOf: one key or the whole agent at a commit_ts", async () => {
    const agentId = `${agent}-asof`;
    const t1 = await commitWrite(agentId, "k", { v: 1 });
    await commitWrite(agentId, "j", { v: 1 });
    await commitWrite(agentId, "k", { v: 2 });
    const key = await rpc().unary(S.getStateAsOf, { namespace: ns, agentId, key: "k", commitTs: t1 });
    expect(key).toMatchObject({ exists: true, version: 1n, commitTs: t1, value: { v: 1 } });
    const before = await rpc().unary(S.getStateAsOf, { namespace: ns, agentId, key: "k", commitTs: t1 - 1n });
    expect(before).toMatchObject({ exists: false, version: 0n });
    const whole = await rpc().unary(S.getStateAsOf, { namespace: ns, agentId, commitTs: t1 });
    expect(whole.entries.map((e) => [e.key, e.value])).toEqual([["k", { v: 1 }]]);
  });

  it("Abort is idempotent; the transaction is then TXN_ABORTED; commit twice is TXN_ALREADY_COMMITTED", async () => {
    const { txnId } = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "aborted", value: { a: 1 } });
    await rpc().unary(S.abort, { txnId });
    await rpc().unary(S.abort, { txnId });
    await rpc().unary(S.abort, { txnId: "never-existed" });
    const afterAbort = await failure(rpc().unary(S.commit, { txnId }));
    expect(afterAbort.code).toBe(Code.FailedPrecondition);
    expect(afterAbort.detail?.code).toBe(ErrorCode.TXN_ABORTED);
    expect((await rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "aborted" })).exists).toBe(false);

    const t = await rpc().unary(S.beginTransaction, {});
    await rpc().unary(S.commit, { txnId: t.txnId });
    const twice = await failure(rpc().unary(S.commit, { txnId: t.txnId }));
    expect(twice.code).toBe(Code.FailedPrecondition);
    expect(twice.detail?.code).toBe(ErrorCode.TXN_ALREADY_COMMITTED);
  });

  it("unknown and expired transactions: NOT_FOUND/TXN_NOT_FOUND, DEADLINE_EXCEEDED/TXN_EXPIRED", async () => {
    const unknown = await failure(rpc().unary(S.write, { txnId: "no-such-txn", namespace: ns, agentId: agent, key: "k", value: {} }));
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.detail?.code).toBe(ErrorCode.TXN_NOT_FOUND);
    const { txnId } = await rpc().unary(S.beginTransaction, { timeoutMs: 20n });
    await new Promise((r) => setTimeout(r, 120));
    const expired = await failure(rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "k", value: {} }));
    expect(expired.code).toBe(Code.DeadlineExceeded);
    expect(expired.detail?.code).toBe(ErrorCode.TXN_EXPIRED);
  });

  it("invalid requests: INVALID_ARGUMENT/INVALID_REQUEST naming the field", async () => {
    const cases = [
      () => rpc().unary(S.getState, { namespace: ns, agentId: "", key: "k" }),
      () => rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "" }),
      () => rpc().unary(S.write, { txnId: "", namespace: ns, agentId: agent, key: "k", value: {} }),
      () => rpc().unary(S.transact, { operations: [{ namespace: ns, agentId: agent, key: "k" }] }),
      () => rpc().unary(S.transact, { operations: [{ namespace: ns, agentId: agent, key: "k", value: {}, delete: true }] }),
      () => rpc().unary(S.transact, { preconditions: [{ namespace: ns, agentId: agent, key: "k" }] }),
      () => rpc().stream(S.replay, { namespace: ns, agentId: "" }),
      () => rpc().stream(S.watch, { namespace: ns, agentId: "" }),
      () => rpc().stream(S.replayBatches, { namespace: ns, agentId: "" }),
      () => rpc().stream(S.watchBatches, { namespace: ns, agentId: "" }),
    ];
    for (const call of cases) {
      const f = await failure(call());
      expect(f.code).toBe(Code.InvalidArgument);
      expect(f.detail?.code).toBe(ErrorCode.INVALID_REQUEST);
      expect(f.detail?.details["field"]).toBeTruthy();
    }
  });

  it("limits: RESOURCE_EXHAUSTED/LIMIT_EXCEEDED naming the limit", async () => {
    const { txnId } = await rpc().unary(S.beginTransaction, {});
    const cases: [() => Promise<unknown>, string][] = [
      [() => rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "big", value: { s: "x".repeat(5000) } }), "max_value_bytes"],
      [() => rpc().unary(S.getState, { namespace: ns, agentId: agent, key: "k".repeat(65) }), "max_key_bytes"],
      [() => rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: "deep", value: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } }), "max_json_depth"],
      [() => rpc().unary(S.transact, { operations: Array.from({ length: 5 }, (_, i) => ({ namespace: ns, agentId: agent, key: `k${i}`, value: {} })) }), "max_operations_per_txn"],
      [() => rpc().unary(S.beginTransaction, { timeoutMs: 10n ** 12n }), "max_txn_timeout_ms"],
      [() => rpc().unary(S.transact, { operations: [{ namespace: ns, agentId: agent, key: "k", value: { s: "y".repeat(80_000) } }] }), "max_request_bytes"],
    ];
    for (const [call, limit] of cases) {
      const f = await failure(call());
      expect(f.code, limit).toBe(Code.ResourceExhausted);
      expect(f.detail?.code, limit).toBe(ErrorCode.LIMIT_EXCEEDED);
      expect(f.detail?.details["limit"]).toBe(limit);
      expect(f.message).toContain(limit);
    }
    for (let i = 0; i < 4; i++) await rpc().unary(S.write, { txnId, namespace: ns, agentId: agent, key: `op${i}`, value: {} });
    const fifth = await failure(rpc().unary(S.delete, { txnId, namespace: ns, agentId: agent, key: "op4" }));
    expect(fifth.detail?.details["limit"]).toBe("max_operations_per_txn");
    // The daemon is unaffected.
    expect((await rpc().unary(S.health, {})).status).toBe("ok");
  });
});
