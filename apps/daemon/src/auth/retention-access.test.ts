// RetentionService under --auth required: reads (GetHorizon, GetRetentionPolicy) need read on the
// namespace, the default policy and the list need read on "*"; SetRetentionPolicy, CompactHistory
// and Purge need admin (on the namespace; on "*" for the default policy and compaction).
import { Code } from "@connectrpc/connect";
import { ErrorCode, RetentionKind, RetentionService, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AuthFixture } from "../test-support/auth-fixture.js";
import { failure, type RpcDriver } from "../test-support/rpc-drivers.js";

const R = RetentionService.method;
let fx: AuthFixture;
let readA: RpcDriver;
let adminA: RpcDriver;

beforeAll(async () => {
  fx = await AuthFixture.start();
  const first = (drivers: RpcDriver[]): RpcDriver => drivers[0] as RpcDriver;
  readA = first(fx.drivers({ token: (await fx.createKey([["a", "read"]])).token }));
  adminA = first(fx.drivers({ token: (await fx.createKey([["a", "admin"]])).token }));
  await fx.adminRpc.unary(StatehouseService.method.transact, { operations: [{ namespace: "a", agentId: "x", key: "k", value: { v: 1 } }] });
});

afterAll(async () => {
  await fx.dispose();
});

const denied = async (call: Promise<unknown>): Promise<void> => {
  const f = await failure(call);
  expect([f.code, f.detail?.code]).toEqual([Code.PermissionDenied, ErrorCode.PERMISSION_DENIED]);
};
const keepDay = { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 86_400_000n };

it("lets read keys read a namespace's horizon and policy, and only admins change or purge", async () => {
  expect((await readA.unary(R.getHorizon, { namespace: "a" })).horizonCommitTs).toBe(0n);
  expect((await readA.unary(R.getRetentionPolicy, { namespace: "a" })).retention?.policy?.kind).toBe(RetentionKind.KEEP_ALL);
  await denied(readA.unary(R.getHorizon, { namespace: "b" }));
  await denied(readA.unary(R.getRetentionPolicy, { namespace: "" }));
  await denied(readA.unary(R.listRetentionPolicies, {}));
  await denied(readA.unary(R.setRetentionPolicy, { namespace: "a", policy: keepDay }));
  await denied(readA.unary(R.purge, { namespace: "a", agentId: "x" }));
  await denied(adminA.unary(R.setRetentionPolicy, { namespace: "", policy: keepDay }));
  await denied(adminA.unary(R.compactHistory, {}));
  await denied(adminA.unary(R.purge, { namespace: "b" }));
  expect((await adminA.unary(R.setRetentionPolicy, { namespace: "a", policy: keepDay })).retention?.explicit).toBe(true);
  expect((await adminA.unary(R.purge, { namespace: "a", agentId: "x" })).eventsRewritten).toBe(1n);
  expect((await fx.adminRpc.unary(R.listRetentionPolicies, {})).retention).toHaveLength(2);
  expect((await fx.adminRpc.unary(R.compactHistory, {})).eventsCompacted).toBe(0n);
});
