import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Failpoints } from "./failpoints.ts";
import { recover, type RecoveryMode } from "./recovery.ts";
import { SnapshotScheduler } from "./snapshot-scheduler.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { StatehouseEngine } from "./statehouse-engine.ts";
import { MemoryKv } from "./storage/memory-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import type { Engine, EngineOptions } from "./types.ts";

export const DEFAULTS = {
  fsyncOnCommit: true,
  snapshotInterval: 1000,
  snapshotsKept: 3,
  txTimeoutMs: 30_000,
  maxValueBytes: 1_048_576,
} as const;

/** Opens (and, for RocksDB, recovers) an engine. */
export async function openEngine(options: EngineOptions): Promise<Engine> {
  if (typeof options !== "object" || options === null) throw new TypeError("openEngine options must be an object");
  const txTimeoutMs = integer(options.txTimeoutMs, "txTimeoutMs", 1) ?? DEFAULTS.txTimeoutMs;
  const maxValueBytes = integer(options.maxValueBytes, "maxValueBytes", 1) ?? DEFAULTS.maxValueBytes;
  const snapshotInterval = integer(options.snapshotInterval, "snapshotInterval", 0) ?? DEFAULTS.snapshotInterval;
  const snapshotsKept = integer(options.snapshotsKept, "snapshotsKept", 1) ?? DEFAULTS.snapshotsKept;
  const mode: RecoveryMode = options.recoveryMode ?? "auto";
  if (mode !== "auto" && mode !== "rebuild") throw new TypeError(`recoveryMode must be "auto" or "rebuild"`);
  if (options.fsyncOnCommit !== undefined && typeof options.fsyncOnCommit !== "boolean") throw new TypeError("fsyncOnCommit must be a boolean");
  if (options.inMemory !== undefined && typeof options.inMemory !== "boolean") throw new TypeError("inMemory must be a boolean");
  const failpoints = new Failpoints(options.failpoint);
  const started = performance.now();
  const common = { txTimeoutMs, maxValueBytes, observer: options.observer, failpoints };

  if (options.inMemory === true) {
    return new StatehouseEngine({
      ...common,
      kv: new MemoryKv(),
      sync: false,
      lastCommitTs: 0,
      recovery: {
        storage: "memory",
        dataDir: null,
        snapshotTs: null,
        snapshotFile: null,
        eventsReplayed: 0,
        durationMs: performance.now() - started,
        commitTs: 0n,
        notes: ["in-memory storage: nothing to recover, nothing persisted"],
      },
    });
  }

  if (typeof options.dataDir !== "string" || options.dataDir.length === 0) {
    throw new TypeError("dataDir is required unless inMemory is true");
  }
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const kv = await RocksKv.open(join(dataDir, "db"));
  const store = new SnapshotStore(join(dataDir, "snapshots"), snapshotsKept, failpoints);
  let result;
  try {
    result = await recover(kv, store, failpoints, mode);
  } catch (error) {
    await kv.close();
    throw error;
  }
  const scheduler = new SnapshotScheduler(kv, store, snapshotInterval, result.snapshot?.commitTs ?? 0, options.logger, options.observer);
  const recovery = {
    storage: "rocksdb" as const,
    dataDir,
    snapshotTs: result.snapshot === null ? null : BigInt(result.snapshot.commitTs),
    snapshotFile: result.snapshot?.file ?? null,
    eventsReplayed: result.eventsReplayed,
    durationMs: performance.now() - started,
    commitTs: BigInt(result.lastCommitTs),
    notes: result.notes,
  };
  options.logger?.info(
    {
      dataDir,
      snapshotTs: recovery.snapshotTs?.toString() ?? null,
      eventsReplayed: recovery.eventsReplayed,
      commitTs: recovery.commitTs.toString(),
      durationMs: Math.round(recovery.durationMs),
      notes: recovery.notes,
    },
    "engine recovered",
  );
  return new StatehouseEngine({
    ...common,
    kv,
    sync: options.fsyncOnCommit ?? DEFAULTS.fsyncOnCommit,
    lastCommitTs: result.lastCommitTs,
    recovery,
    afterBatch: (batch) => scheduler.onBatch(batch),
    beforeClose: () => scheduler.stop(),
  });
}

function integer(value: unknown, what: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) throw new TypeError(`${what} must be an integer >= ${min}`);
  return value;
}
