// Online backup and restore (backup.ts): a backup taken while commits go on holds exactly the
// store as of its commit_ts (state, versions, history), and a restore that would go back in a
// store's history is the rollback that recovery refuses unless "accept-rollback". Real RocksDB.
import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { restoreStore, type StoreBackup } from "./backup.ts";
import { expectEngineError } from "./test-support/engine-contract.ts";
import { disposableEngines } from "./test-support/disposable-engines.ts";
import type { AgentEvent, Engine } from "./types.ts";
import type { KvEntry } from "./storage/ordered-kv.ts";

const { tempDir, open } = disposableEngines({ snapshotInterval: 50, fsyncOnCommit: false });
const AGENTS = ["a0", "a1", "a2", "a3"];

async function commitSome(engine: Engine, count: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const agentId = AGENTS[i % AGENTS.length] ?? "a0";
    await engine.transact({
      operations: [
        { namespace: "default", agentId, key: `k${i % 7}`, value: { tag, i } },
        ...(i % 5 === 0 ? [{ namespace: "default", agentId, key: `k${(i + 3) % 7}`, value: null }] : []),
      ],
    });
  }
}

async function collect(backup: StoreBackup, between?: () => Promise<void>): Promise<KvEntry[][]> {
  const chunks: KvEntry[][] = [];
  for await (const chunk of backup.chunks()) {
    chunks.push(chunk);
    if (between !== undefined) await between();
  }
  return chunks;
}

async function* replayed(chunks: readonly KvEntry[][]): AsyncGenerator<KvEntry[]> {
  for (const chunk of chunks) yield chunk;
}

async function events(engine: Engine, agentId: string, endTs?: bigint): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of engine.replay("default", agentId, endTs === undefined ? {} : { endTs })) out.push(event);
  return out;
}

/** The restored engine holds exactly the source's state, versions and history as of commitTs. */
async function expectSameAsOf(restored: Engine, source: Engine, commitTs: bigint): Promise<void> {
  expect(restored.commitTs()).toBe(commitTs);
  for (const agentId of AGENTS) {
    expect(await restored.getAgentAsOf("default", agentId, commitTs)).toEqual(await source.getAgentAsOf("default", agentId, commitTs));
    expect(await restored.scanPrefix("default", agentId, "")).toEqual(await source.getAgentAsOf("default", agentId, commitTs));
    expect(await events(restored, agentId)).toEqual(await events(source, agentId, commitTs));
    const first = await restored.getAtVersion({ namespace: "default", agentId, key: "k1" }, 1n);
    expect(first).toEqual(await source.getAtVersion({ namespace: "default", agentId, key: "k1" }, 1n));
  }
}

describe("online backup", () => {
  it("copies exactly the store as of its commit_ts while commits go on, and restores it", async () => {
    const sourceDir = await tempDir();
    const source = await open(sourceDir);
    await commitSome(source, 300, "before");
    // Small chunks, and commits between every chunk: the copy must not see any of them.
    const backup = await source.backup({ chunkBytes: 2048 });
    const commitTs = backup.commitTs;
    expect(commitTs).toBe(source.commitTs());
    expect(backup.storeFormat).toBe("statehouse-engine/2");
    let during = 0;
    const writers = Promise.all(AGENTS.map(async () => commitSome(source, 40, "during").then(() => (during += 40))));
    const chunks = await collect(backup, () => commitSome(source, 3, "between"));
    await writers;
    expect(during).toBe(160);
    expect(source.commitTs()).toBeGreaterThan(commitTs + 160n);
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.reduce((n, [k, v]) => n + k.length + v.length, 0) <= 2048 || chunk.length === 1).toBe(true);

    const targetDir = await tempDir();
    const progress: number[] = [];
    const report = await restoreStore({
      dataDir: targetDir,
      entries: replayed(chunks),
      commitTs,
      storeFormat: backup.storeFormat,
      onProgress: (p) => progress.push(p.entries),
    });
    expect(report.commitTs).toBe(commitTs);
    expect(report.entries).toBe(chunks.reduce((n, c) => n + c.length, 0));
    expect(report.replacedCommitTs).toBeNull();
    expect(progress.at(-1)).toBe(report.entries);
    await expectSameAsOf(await open(targetDir), source, commitTs);
  });

  it("refuses a non-empty target unless told to replace it, and a copy that does not match its claims", async () => {
    const source = await open(await tempDir());
    await commitSome(source, 20, "x");
    const backup = await source.backup();
    const chunks = await collect(backup);
    const entries = chunks.flat();

    const occupiedDir = await tempDir();
    await (await open(occupiedDir)).close();
    await expectEngineError(restoreStore({ dataDir: occupiedDir, entries: replayed(chunks), commitTs: backup.commitTs, storeFormat: backup.storeFormat }), "INVALID_ARGUMENT");

    // Cut short (the commit_ts marker is there, the events are not all): recovery finds the gap.
    const cut = entries.filter(([key]) => key[0] !== 0x02 || key.readUInt32BE(5) % 2 === 0);
    const cutDir = await tempDir();
    await expect(restoreStore({ dataDir: cutDir, entries: replayed([cut]), commitTs: backup.commitTs, storeFormat: backup.storeFormat })).rejects.toThrow();
    expect(await readdir(cutDir)).not.toContain("db");
    // A different commit_ts than claimed, or entries out of order.
    await expectEngineError(restoreStore({ dataDir: await tempDir(), entries: replayed(chunks), commitTs: backup.commitTs + 1n, storeFormat: backup.storeFormat }), "CORRUPTION");
    await expectEngineError(restoreStore({ dataDir: await tempDir(), entries: replayed([[...entries].reverse()]), commitTs: backup.commitTs, storeFormat: backup.storeFormat }), "CORRUPTION");
  });

  it("restoring an older backup over a store that went further is refused, unless the operator accepts the rollback", async () => {
    const dir = await tempDir();
    const source = await open(dir, { snapshotInterval: 0 });
    await commitSome(source, 30, "old");
    const backup = await source.backup();
    const old = backup.commitTs;
    const chunks = await collect(backup);
    await commitSome(source, 10, "newer");
    const newest = source.commitTs();
    await source.close();

    const args = { dataDir: dir, commitTs: old, storeFormat: backup.storeFormat, replace: true };
    // No snapshot of the newer commits exists (interval 0): the restore's own checkpoint is the evidence.
    await expectEngineError(restoreStore({ ...args, entries: replayed(chunks) }), "CORRUPTION");
    const untouched = await open(dir);
    expect(untouched.commitTs()).toBe(newest);
    await untouched.close();

    const report = await restoreStore({ ...args, entries: replayed(chunks), recoveryMode: "accept-rollback" });
    expect(report.replacedCommitTs).toBe(newest);
    expect(report.recovery.notes.join(" ")).toMatch(/rollback accepted/);
    expect((await readdir(dir)).filter((name) => name.startsWith("db.before-restore-"))).toHaveLength(1);
    const restored = await open(dir);
    expect(restored.commitTs()).toBe(old);
    expect((await restored.get({ namespace: "default", agentId: "a1", key: "k1" })).value).toEqual({ tag: "old", i: 29 });
    // The daemon starts on it afterwards in the default mode: the rollback was accepted once, for good.
    await restored.close();
    expect((await open(dir)).commitTs()).toBe(old);
  });

  it("a backup of the store it continues replaces it without any recovery option", async () => {
    const dir = await tempDir();
    const source = await open(dir);
    await commitSome(source, 25, "same");
    const backup = await source.backup();
    const chunks = await collect(backup);
    await source.close();
    const report = await restoreStore({ dataDir: dir, entries: replayed(chunks), commitTs: backup.commitTs, storeFormat: backup.storeFormat, replace: true });
    expect(report.replacedCommitTs).toBe(backup.commitTs);
    expect((await open(dir)).commitTs()).toBe(backup.commitTs);
  });

  it("a store whose history was compacted behind a retention horizon restores with the same horizon, state and remaining history", async () => {
    const clock = { now: 1_000_000 };
    const retention = { clock: () => clock.now, compactionIntervalMs: 0, compactionPauseMs: 0, retentionDefault: { kind: "duration" as const, keepMs: 3_000 } };
    const source = await open(await tempDir(), retention);
    for (let i = 0; i < 60; i++) {
      clock.now += 100;
      await source.transact({ operations: [{ namespace: "default", agentId: "a1", key: `k${i % 4}`, value: i % 9 === 0 ? null : { i } }] });
    }
    await source.compactHistory();
    const horizon = source.retention("default").horizonCommitTs;
    expect(horizon).toBeGreaterThan(0n);
    const backup = await source.backup();
    const chunks = await collect(backup);
    const dir = await tempDir();
    await restoreStore({ dataDir: dir, entries: replayed(chunks), commitTs: backup.commitTs, storeFormat: backup.storeFormat });
    const restored = await open(dir, retention);
    expect(restored.retention("default").horizonCommitTs).toBe(horizon);
    expect(await restored.scanPrefix("default", "a1", "")).toEqual(await source.scanPrefix("default", "a1", ""));
    const after = async (engine: Engine): Promise<AgentEvent[]> => {
      const out: AgentEvent[] = [];
      for await (const event of engine.replay("default", "a1", { startTs: horizon + 1n })) out.push(event);
      return out;
    };
    expect((await after(restored)).length).toBeGreaterThan(0);
    expect(await after(restored)).toEqual(await after(source));
    await expectEngineError(Promise.resolve().then(() => restored.replay("default", "a1", {})[Symbol.asyncIterator]().next()), "HISTORY_COMPACTED");
    await expectEngineError(restored.getAgentAsOf("default", "a1", horizon - 1n), "HISTORY_COMPACTED");
  });
});
