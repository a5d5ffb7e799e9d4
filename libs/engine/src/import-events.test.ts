// importEvents: history with its own commit_ts, versions and txn ids goes into a real RocksDB
// store through indexEntries(), resumes after an interruption, re-runs as a no-op and refuses
// a store that holds other data; openOriginalStore reads an original 0.1.x data directory
// (a fixture written with the same RocksDB binding, in the original's key and JSON layout).
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isEngineError } from "./engine-error.ts";
import { gapTxnId, importEvents, type ImportEvent } from "./import-events.ts";
import { openEngine } from "./open-engine.ts";
import { hasOriginalStore, openOriginalStore } from "./original-store.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { AgentEvent, Engine } from "./types.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tempDir(): Promise<string> {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  return dir;
}

async function opened(dataDir: string): Promise<Engine> {
  const engine = await openEngine({ dataDir });
  cleanups.unshift(() => engine.close());
  return engine;
}

const HISTORY: ImportEvent[] = [
  {
    txnId: "txn-a",
    commitTs: 1,
    committedAtMs: 0,
    operations: [
      { namespace: "default", agentId: "agent-1", key: "memory", version: 1, value: { fact: "Paris" } },
      { namespace: "default", agentId: "agent-2", key: "plan", version: 1, value: { steps: ["a"] } },
    ],
  },
  { txnId: "txn-b", commitTs: 2, committedAtMs: 0, operations: [{ namespace: "default", agentId: "agent-1", key: "memory", version: 2, value: { fact: "Lyon" } }] },
  // commit_ts 3 is missing in the source: the engine's log is dense, so an empty event fills it.
  { txnId: "txn-d", commitTs: 4, committedAtMs: 0, operations: [{ namespace: "default", agentId: "agent-1", key: "memory", version: 3, value: null }] },
  { txnId: "txn-e", commitTs: 5, committedAtMs: 0, operations: [{ namespace: "ops", agentId: "agent-1", key: "tool/x", version: 1, value: { n: 1 } }] },
];

async function all(events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

async function expectImported(engine: Engine): Promise<void> {
  expect(engine.commitTs()).toBe(5n);
  expect(await engine.get({ namespace: "default", agentId: "agent-1", key: "memory" })).toEqual({ value: null, version: 3n, commitTs: 4n, exists: false });
  expect(await engine.getAtVersion({ namespace: "default", agentId: "agent-1", key: "memory" }, 1n)).toMatchObject({ value: { fact: "Paris" }, commitTs: 1n });
  expect(await engine.get({ namespace: "default", agentId: "agent-2", key: "plan" })).toEqual({ value: { steps: ["a"] }, version: 1n, commitTs: 1n, exists: true });
  const replayed = await all(engine.replay("default", "agent-1"));
  expect(replayed.map((e) => [e.txnId, e.commitTs, e.operations])).toEqual([
    ["txn-a", 1n, [{ key: "memory", value: { fact: "Paris" }, version: 1n }]],
    ["txn-b", 2n, [{ key: "memory", value: { fact: "Lyon" }, version: 2n }]],
    ["txn-d", 4n, [{ key: "memory", value: null, version: 3n }]],
  ]);
  expect(await engine.listKeys("ops", "agent-1")).toEqual(["tool/x"]);
}

describe("importEvents", () => {
  it("keeps commit_ts, versions and txn ids, fills gaps with empty events, and the engine then commits after them", async () => {
    const dir = await tempDir();
    const progress = await importEvents(dir, HISTORY);
    expect(progress).toEqual({ commitTs: 5, imported: 4, alreadyPresent: 0, gapsFilled: 1 });
    const engine = await opened(dir);
    await expectImported(engine);
    expect(gapTxnId(3)).toBe("import-gap-3");
    const next = await engine.transact({ operations: [{ namespace: "default", agentId: "agent-1", key: "memory", value: { fact: "Nice" } }] });
    expect(next.commitTs).toBe(6n);
    expect((await engine.get({ namespace: "default", agentId: "agent-1", key: "memory" })).version).toBe(4n);
  });

  it("is a no-op when run again, and resumes after an interrupted run", async () => {
    const dir = await tempDir();
    async function* interrupted(): AsyncIterable<ImportEvent> {
      yield* HISTORY.slice(0, 2);
      throw new Error("killed");
    }
    await expect(importEvents(dir, interrupted(), { batchEvents: 1 })).rejects.toThrow("killed");
    const again = await importEvents(dir, HISTORY, { batchEvents: 1 });
    expect(again).toEqual({ commitTs: 5, imported: 2, alreadyPresent: 2, gapsFilled: 1 });
    expect(await importEvents(dir, HISTORY)).toEqual({ commitTs: 5, imported: 0, alreadyPresent: 4, gapsFilled: 0 });
    await expectImported(await opened(dir));
  });

  it("refuses a store that holds other data, events out of order, and a store an engine has open", async () => {
    const dir = await tempDir();
    const engine = await openEngine({ dataDir: dir });
    await engine.transact({ operations: [{ namespace: "default", agentId: "someone", key: "k", value: { v: 1 } }] });
    const locked = await importEvents(dir, HISTORY).catch((error: unknown) => error);
    expect(isEngineError(locked) && locked.code).toBe("LOCKED");
    await engine.close();
    const other = await importEvents(dir, HISTORY).catch((error: unknown) => error);
    expect(isEngineError(other) && other.code).toBe("INVALID_ARGUMENT");
    expect(String(other)).toContain("different event at commit_ts 1");
    const unordered = await importEvents(await tempDir(), [HISTORY[1], HISTORY[0]] as ImportEvent[]).catch((error: unknown) => error);
    expect(isEngineError(unordered) && unordered.code).toBe("INVALID_ARGUMENT");
  });
});

/** Writes an original daemon's data directory: the keys and JSON values of its RocksStorage. */
async function writeOriginalFixture(dataDir: string, events: ImportEvent[]): Promise<void> {
  const kv = await RocksKv.open(join(dataDir, "rocksdb"));
  const ops: { type: "put"; key: Buffer; value: Buffer }[] = [];
  const put = (key: string, value: unknown): void => {
    ops.push({ type: "put", key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) });
  };
  for (const event of events) {
    const operations = event.operations.map((op) => ({ namespace: op.namespace, agent_id: op.agentId, key: op.key, value: op.value, version: op.version }));
    put(`event:${String(event.commitTs).padStart(20, "0")}`, { txn_id: event.txnId, commit_ts: event.commitTs, operations });
    for (const op of event.operations) {
      const record = { namespace: op.namespace, agent_id: op.agentId, key: op.key, value: op.value, version: op.version, commit_ts: event.commitTs, deleted: op.value === null };
      put(`state:${op.namespace}:${op.agentId}:${op.key}`, record);
      put(`version:${op.namespace}:${op.agentId}:${op.key}:${String(op.version).padStart(20, "0")}`, record);
    }
  }
  kv.writeSync(ops, true);
  await kv.close();
}

describe("openOriginalStore", () => {
  it("reads an original data directory's events in commit_ts order and its latest records", async () => {
    const source = await tempDir();
    expect(hasOriginalStore(source)).toBe(false);
    await writeOriginalFixture(source, HISTORY);
    expect(hasOriginalStore(source)).toBe(true);
    const store = await openOriginalStore(source);
    cleanups.unshift(() => store.close());
    const events: ImportEvent[] = [];
    for await (const event of store.events()) events.push(event);
    expect(events).toEqual(HISTORY);
    const records = [];
    for await (const record of store.records()) records.push(record);
    expect(records.map((r) => [r.namespace, r.agentId, r.key, r.version, r.commitTs, r.deleted])).toEqual([
      ["default", "agent-1", "memory", 3, 4, true],
      ["default", "agent-2", "plan", 1, 1, false],
      ["ops", "agent-1", "tool/x", 1, 5, false],
    ]);
    const target = await tempDir();
    expect((await importEvents(target, store.events())).imported).toBe(4);
    await expectImported(await opened(target));
  });

  it("is refused by the engine when it sits where the engine's own store would be (keys, no format marker)", async () => {
    const dir = await tempDir();
    await writeOriginalFixture(join(dir, "fake"), HISTORY);
    await rename(join(dir, "fake", "rocksdb"), join(dir, "db"));
    const error = await openEngine({ dataDir: dir }).catch((e: unknown) => e);
    expect(isEngineError(error) && error.code).toBe("STORAGE_ERROR");
    expect(String(error)).toContain("statehoused import-original");
    // Nothing was stamped: it is still refused, and still readable as the original database it is.
    expect(isEngineError(await openEngine({ dataDir: dir }).catch((e: unknown) => e))).toBe(true);
  });

  it("refuses a directory without an original database", async () => {
    const error = await openOriginalStore(await tempDir()).catch((e: unknown) => e);
    expect(isEngineError(error) && error.code).toBe("INVALID_ARGUMENT");
  });
});
