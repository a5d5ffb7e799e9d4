// verifyStore: a clean store (with compacted history, a purge and snapshots behind it) has no
// finding; each kind of damage, injected into a copy of it entry by entry, is found and named.
import { cp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { agentEventKey, agentPrefix, encodeU64, eventKey, metaKey, stateKey, TABLE_AGENT_EVENT, versionKey } from "./key-encoding.ts";
import { openEngine } from "./open-engine.ts";
import { encodeState } from "./record-codec.ts";
import type { KvOp } from "./storage/ordered-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import { verifyStore, type VerifyProgress } from "./verify-store.ts";

let clean: { dir: string; remove: () => Promise<void> };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  clean = await withTempDir();
  const clock = { now: 1_000_000 };
  const engine = await openEngine({ dataDir: clean.dir, snapshotInterval: 20, clock: () => clock.now, compactionIntervalMs: 0, compactionPauseMs: 0, idempotencyWindowMs: 10 ** 12 });
  await engine.setRetentionPolicy(null, { kind: "duration", keepMs: 5_000 });
  for (let i = 1; i <= 120; i++) {
    clock.now += 100;
    await engine.transact({
      operations: [
        { namespace: "n", agentId: "a", key: `k${i % 5}`, value: i % 9 === 0 ? null : { i } },
        ...(i % 2 === 0 ? [{ namespace: "n", agentId: "b", key: `k${i % 3}`, value: { i } }] : []),
        ...(i % 7 === 0 ? [{ namespace: "n", agentId: "gone", key: "k", value: { secret: i } }] : []),
      ],
      idempotencyKey: `req-${i}`,
    });
  }
  await engine.compactHistory();
  expect(engine.retention("n").horizonCommitTs).toBeGreaterThan(50n);
  await engine.purge({ namespace: "n", agentId: "gone" });
  await engine.close();
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await clean.remove();
});

async function damaged(mutate: (kv: RocksKv, dir: string) => Promise<void> | void): Promise<string[]> {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  await cp(clean.dir, dir, { recursive: true });
  const kv = await RocksKv.open(join(dir, "db"));
  await mutate(kv, dir);
  await kv.close();
  const report = await verifyStore(dir, { idempotencyWindowMs: 10 ** 12 });
  return report.findings.map((f) => `${f.phase}: ${f.message}`);
}

const write = (kv: RocksKv, ops: KvOp[]): void => kv.writeSync(ops, true);

it("finds nothing wrong with a clean store (compacted history, a purge, snapshots) and reports progress per phase", async () => {
  const seen = new Set<string>();
  const report = await verifyStore(clean.dir, { idempotencyWindowMs: 10 ** 12, onProgress: (p: VerifyProgress) => seen.add(p.phase) });
  expect(report.findings).toEqual([]);
  expect(report.commitTs).toBe(120);
  expect(report.logFloor).toBeGreaterThan(50);
  expect(report.counts.log).toBe(120 - report.logFloor);
  expect(report.counts.snapshots).toBeGreaterThan(0);
  expect([...seen].sort()).toEqual(["agent-events", "idempotency", "log", "snapshots", "state", "versions"]);
});

it.each<[string, (kv: RocksKv, dir: string) => Promise<void> | void, RegExp]>([
  ["an event missing from the log", (kv) => write(kv, [{ type: "del", key: eventKey(110) }]), /^log: gap in the log: commit_ts 110 missing/],
  ["a damaged event", (kv) => {
    const [raw] = kv.getManySync([eventKey(111)]);
    const bad = Buffer.from(raw as Buffer);
    bad[bad.length - 3] = (bad[bad.length - 3] ?? 0) ^ 0x20;
    write(kv, [{ type: "put", key: eventKey(111), value: bad }]);
  }, /^log: event at commit_ts 111: checksum mismatch/],
  ["a missing state entry", (kv) => write(kv, [{ type: "del", key: stateKey("n", "b", "k0") }]), /^log: state of b\/k0 missing/],
  ["a missing version entry", (kv) => write(kv, [{ type: "del", key: versionKey(stateKey("n", "a", "k0"), 24) }]), /^(log: version index entry of event 120 missing|state: state of n\/a\/k0 \(version 24\) has no matching version entry)/],
  ["a missing agent-event entry", (kv) => write(kv, [{ type: "del", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, "n", "b"), 118) }]), /^log: event 118 missing from an agent index/],
  ["a state entry newer than the log", (kv) => write(kv, [{ type: "put", key: stateKey("n", "z", "ghost"), value: encodeState(1, 500, "{}") }]), /^state: state of n\/z\/ghost was written at commit_ts 500, after the end of the log \(120\)/],
  ["an orphan version entry", (kv) => write(kv, [{ type: "put", key: versionKey(stateKey("n", "b", "k1"), 999), value: encodeU64(119) }]), /^versions: version entry n\/b\/k1@999 is not backed by event 119/],
  ["an orphan agent-event entry", (kv) => {
    const [raw] = kv.getManySync([agentEventKey(agentPrefix(TABLE_AGENT_EVENT, "n", "a"), 119)]);
    write(kv, [{ type: "put", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, "n", "ghost"), 119), value: raw as Buffer }]);
  }, /^agent-events: agent-event entry n\/ghost@119 is not backed by the log/],
  ["a commit_ts marker beyond the log", (kv) => write(kv, [{ type: "put", key: metaKey("commit_ts"), value: encodeU64(125) }]), /^log: the log ends at commit_ts 120, the commit_ts marker says 125/],
  ["a damaged snapshot file", async (_kv, dir) => {
    const files = (await readdir(join(dir, "snapshots"))).filter((f) => f.endsWith(".snap")).sort();
    await writeFile(join(dir, "snapshots", files[files.length - 1] as string), Buffer.alloc(32, 7));
  }, /^snapshots: snapshot \S*snapshot-\d+\.snap: bad header magic/],
])("finds %s", async (_what, mutate, expected) => {
  const findings = await damaged(mutate);
  expect(findings.length, findings.join("\n")).toBeGreaterThan(0);
  expect(findings.some((f) => expected.test(f)), findings.join("\n")).toBe(true);
});

it("refuses a store a daemon holds open (RocksDB's lock) instead of reading it live", async () => {
  const engine = await openEngine({ dataDir: clean.dir, snapshotInterval: 0, compactionIntervalMs: 0 });
  try {
    await expect(verifyStore(clean.dir)).rejects.toMatchObject({ code: "LOCKED" });
  } finally {
    await engine.close();
  }
});

it("finds nothing wrong with a store compacted under keep-the-last-N-versions", async () => {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  const engine = await openEngine({ dataDir: dir, compactionIntervalMs: 0, compactionPauseMs: 0 });
  await engine.setRetentionPolicy("v", { kind: "versions", keepVersions: 2 });
  for (let i = 1; i <= 30; i++) await engine.transact({ operations: [{ namespace: "v", agentId: "a", key: `k${i % 3}`, value: i % 4 === 0 ? null : { i } }] });
  await engine.compactHistory();
  expect((await engine.getAtVersion({ namespace: "v", agentId: "a", key: "k0" }, 9n)).version).toBe(9n);
  await expect(engine.getAtVersion({ namespace: "v", agentId: "a", key: "k0" }, 8n)).rejects.toMatchObject({ code: "HISTORY_COMPACTED" });
  await engine.close();
  const report = await verifyStore(dir, {});
  expect(report.findings).toEqual([]);
  expect(report.counts.versions).toBe(6);
});
