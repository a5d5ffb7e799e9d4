// RetentionService against the real daemon (RocksDB): policies set over the API survive a
// restart, the default comes from STATEHOUSE_RETENTION_DEFAULT, compaction moves the horizon,
// reads behind it fail with FAILED_PRECONDITION + HISTORY_COMPACTED naming it, and /metrics
// shows the horizon and the compacted events.
import { Code } from "@connectrpc/connect";
import { ErrorCode, RetentionKind, RetentionService, StatehouseService } from "@statehouse/api";
import { afterEach, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { collect, failure, GrpcJsDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const R = RetentionService.method;
const ns = "short";

const opened: { daemon: DaemonProcess; driver: GrpcJsDriver }[] = [];
afterEach(async () => {
  for (const { daemon, driver } of opened.splice(0)) {
    driver.close();
    await daemon.dispose();
  }
});

async function start(dataDir?: string): Promise<{ daemon: DaemonProcess; driver: GrpcJsDriver }> {
  const daemon = await DaemonProcess.start({ env: { STATEHOUSE_RETENTION_DEFAULT: "30d", STATEHOUSE_COMPACTION_INTERVAL_MS: "0" }, ...(dataDir === undefined ? {} : { dataDir }) });
  const driver = new GrpcJsDriver(daemon.address);
  opened.push({ daemon, driver });
  return { daemon, driver };
}

it("sets, persists and enforces a retention policy; reads behind the horizon fail naming it", async () => {
  const { daemon, driver } = await start();
  const defaults = await driver.unary(R.listRetentionPolicies, {});
  expect(defaults.retention.map((r) => [r.namespace, r.policy?.kind, r.policy?.keepDurationMs])).toEqual([["", RetentionKind.KEEP_DURATION, 30n * 86_400_000n]]);
  const bad = await failure(driver.unary(R.setRetentionPolicy, { namespace: ns, policy: { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 0n } }));
  expect([bad.code, bad.detail?.details["field"]]).toEqual([Code.InvalidArgument, "policy.keep_duration_ms"]);
  const set = await driver.unary(R.setRetentionPolicy, { namespace: ns, policy: { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 1n } });
  expect(set.retention?.explicit).toBe(true);
  for (let i = 1; i <= 5; i++) await driver.unary(S.transact, { operations: [{ namespace: ns, agentId: "a", key: "k", value: { i } }] });
  await driver.unary(S.transact, { operations: [{ namespace: "kept", agentId: "a", key: "k", value: {} }] });
  // Keep 1 ms: once the clock passed the last commit, everything is behind the horizon.
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect((await driver.unary(R.compactHistory, {})).eventsCompacted).toBe(6n);
  const horizon = await driver.unary(R.getHorizon, { namespace: ns });
  expect([horizon.horizonCommitTs, horizon.commitTs]).toEqual([6n, 6n]);
  expect((await driver.unary(R.getHorizon, { namespace: "kept" })).horizonCommitTs).toBe(0n);

  const replay = await failure(collect(driver.stream(S.replay, { namespace: ns, agentId: "a" })));
  expect([replay.code, replay.detail?.code, replay.detail?.details["horizon_commit_ts"]]).toEqual([Code.FailedPrecondition, ErrorCode.HISTORY_COMPACTED, "6"]);
  const asOf = await failure(driver.unary(S.getStateAsOf, { namespace: ns, agentId: "a", commitTs: 3n }));
  expect([asOf.code, asOf.detail?.code, asOf.detail?.details["horizon_commit_ts"]]).toEqual([Code.FailedPrecondition, ErrorCode.HISTORY_COMPACTED, "6"]);
  const version = await failure(driver.unary(S.getStateAtVersion, { namespace: ns, agentId: "a", key: "k", version: 2n }));
  expect([version.code, version.detail?.code]).toEqual([Code.FailedPrecondition, ErrorCode.HISTORY_COMPACTED]);
  // Current state and the version current at the horizon are kept.
  expect((await driver.unary(S.getState, { namespace: ns, agentId: "a", key: "k" })).version).toBe(5n);
  expect((await driver.unary(S.getStateAtVersion, { namespace: ns, agentId: "a", key: "k", version: 5n })).version).toBe(5n);
  // The other namespace follows the default (30 days): its history is all there.
  expect(await collect(driver.stream(S.replay, { namespace: "kept", agentId: "a" }))).toHaveLength(1);

  const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
  expect(metrics).toMatch(/^statehouse_retention_horizon_commit_ts\{namespace="short"\} 6$/m);
  expect(metrics).toMatch(/^statehouse_retention_horizon_commit_ts\{namespace="\*"\} 0$/m);
  expect(metrics).toMatch(/^statehouse_retention_compacted_events_total 6$/m);
  expect(metrics).toMatch(/^statehouse_retention_compaction_backlog_events 0$/m);

  // Policies and horizons survive a restart.
  await daemon.stop();
  const again = await start(daemon.dataDir);
  const after = await again.driver.unary(R.getRetentionPolicy, { namespace: ns });
  expect([after.retention?.policy?.kind, after.retention?.policy?.keepDurationMs, after.retention?.horizonCommitTs]).toEqual([RetentionKind.KEEP_DURATION, 1n, 6n]);
  expect((await again.driver.unary(S.getState, { namespace: ns, agentId: "a", key: "k" })).version).toBe(5n);
  expect((await again.driver.unary(S.transact, { operations: [{ namespace: ns, agentId: "a", key: "k", value: {} }] })).commitTs).toBe(7n);
  expect((await collect(again.driver.stream(S.replay, { namespace: ns, agentId: "a", startTs: 7n }))).map((e) => e.commitTs)).toEqual([7n]);
});

it("purges an agent over the API: gone from every read, the others untouched, an audit line without the data, counted in /metrics", async () => {
  const { daemon, driver } = await start();
  for (let i = 0; i < 3; i++) {
    await driver.unary(S.transact, {
      operations: [
        { namespace: "p", agentId: "gone", key: `k${i}`, value: { pii: "PERSONAL-DATA" } },
        { namespace: "p", agentId: "stays", key: `k${i}`, value: { i } },
      ],
      idempotencyKey: `req-${i}`,
    });
  }
  const bad = await failure(driver.unary(R.purge, { namespace: "" }));
  expect([bad.code, bad.detail?.details["field"]]).toEqual([Code.InvalidArgument, "namespace"]);
  const result = await driver.unary(R.purge, { namespace: "p", agentId: "gone" });
  expect(result.eventsRewritten).toBe(3n);
  expect((await driver.unary(S.getState, { namespace: "p", agentId: "gone", key: "k0" })).exists).toBe(false);
  expect((await driver.unary(S.listKeys, { namespace: "p", agentId: "gone" })).keys).toEqual([]);
  expect(await collect(driver.stream(S.replay, { namespace: "p", agentId: "gone" }))).toEqual([]);
  expect((await driver.unary(S.listKeys, { namespace: "p", agentId: "stays" })).keys).toEqual(["k0", "k1", "k2"]);
  expect((await collect(driver.stream(S.replay, { namespace: "p", agentId: "stays" }))).map((e) => e.commitTs)).toEqual([1n, 2n, 3n]);
  const audit = daemon.logs().filter((line) => line["audit"] === "purge");
  expect(audit.map((line) => line["msg"])).toEqual(["purge started", 'purge 1 completed: agent "gone" of namespace "p"'.replace("1", String(result.purgeId))]);
  expect(daemon.output).not.toContain("PERSONAL-DATA");
  expect(await (await fetch(`${daemon.url}/metrics`)).text()).toMatch(/^statehouse_purges_total 1$/m);
});

it("keeps the last N versions per key over the API: older versions fail HISTORY_COMPACTED naming what is kept, replay stays whole", async () => {
  const { driver } = await start();
  const bad = await failure(driver.unary(R.setRetentionPolicy, { namespace: "hot", policy: { kind: RetentionKind.KEEP_VERSIONS, keepVersions: 0n } }));
  expect([bad.code, bad.detail?.details["field"]]).toEqual([Code.InvalidArgument, "policy.keep_versions"]);
  const set = await driver.unary(R.setRetentionPolicy, { namespace: "hot", policy: { kind: RetentionKind.KEEP_VERSIONS, keepVersions: 2n } });
  expect([set.retention?.policy?.kind, set.retention?.policy?.keepVersions]).toEqual([RetentionKind.KEEP_VERSIONS, 2n]);
  for (let i = 1; i <= 5; i++) await driver.unary(S.transact, { operations: [{ namespace: "hot", agentId: "a", key: "k", value: { i } }] });
  expect((await driver.unary(R.compactHistory, {})).eventsCompacted).toBe(0n);
  const dropped = await failure(driver.unary(S.getStateAtVersion, { namespace: "hot", agentId: "a", key: "k", version: 3n }));
  expect([dropped.code, dropped.detail?.code, dropped.detail?.details["keep_versions"], dropped.detail?.details["oldest_kept_version"]]).toEqual([
    Code.FailedPrecondition,
    ErrorCode.HISTORY_COMPACTED,
    "2",
    "4",
  ]);
  expect(dropped.message).toContain("keeps the last 2 versions per key");
  expect((await driver.unary(S.getStateAtVersion, { namespace: "hot", agentId: "a", key: "k", version: 4n })).version).toBe(4n);
  expect((await driver.unary(S.getState, { namespace: "hot", agentId: "a", key: "k" })).version).toBe(5n);
  expect((await driver.unary(R.getHorizon, { namespace: "hot" })).horizonCommitTs).toBe(0n);
  expect(await collect(driver.stream(S.replay, { namespace: "hot", agentId: "a" }))).toHaveLength(5);
});
