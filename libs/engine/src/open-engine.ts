import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Failpoints } from "./failpoints.ts";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { EngineError } from "./engine-error.ts";
import { decodeU64 } from "./key-encoding.ts";
import { loadPurgeIntents } from "./purge.ts";
import { FORMAT, META_FORMAT, recover, type RecoveryMode } from "./recovery.ts";
import { checkPolicy, RetentionTable } from "./retention.ts";
import { SnapshotScheduler } from "./snapshot-scheduler.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { StatehouseEngine, type EngineCoreOptions } from "./statehouse-engine.ts";
import { MemoryKv } from "./storage/memory-kv.ts";
import type { OrderedKv, SharedKv } from "./storage/ordered-kv.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import type { Engine, EngineOptions, RocksLogLevel } from "./types.ts";

export const DEFAULTS = {
  fsyncOnCommit: true,
  snapshotInterval: 1000,
  snapshotsKept: 3,
  txTimeoutMs: 30_000,
  maxValueBytes: 1_048_576,
  // Sized for the systemd unit's MemoryMax=2G: a quarter of it for staged transaction data.
  maxStagedBytes: 512 * 1024 * 1024,
  // Well under V8's string limit (~512 MiB): a transaction's event is encoded as one string.
  maxTransactionBytes: 64 * 1024 * 1024,
  idempotencyWindowMs: 24 * 60 * 60 * 1000,
  idempotencyPurgeIntervalMs: 60_000,
  compactionIntervalMs: 60_000,
  compactionBatchEvents: 256,
  compactionPauseMs: 20,
  // ~8k entries of 28-byte keys (125 bytes each); more buys hits only for a hot set that large (README "Memory").
  versionCacheBytes: 1024 * 1024,
} as const;

/** The largest maxTransactionBytes accepted: an event's JSON must stay far below V8's string limit. */
const MAX_TRANSACTION_BYTES_CEILING = 256 * 1024 * 1024;
const RECOVERY_MODES: readonly RecoveryMode[] = ["auto", "rebuild", "accept-rollback"];
const ROCKS_LOG_LEVELS: readonly RocksLogLevel[] = ["off", "fatal", "error", "warn", "info", "debug"];

type Common = Omit<EngineCoreOptions, "kv" | "sync" | "lastCommitTs" | "recovery" | "retention" | "afterBatch" | "beforeClose">;

/** Opens (and, for RocksDB, recovers) an engine. */
export async function openEngine(options: EngineOptions): Promise<Engine> {
  const common = commonOptions(options);
  if (options.inMemory === true) {
    const retention = new RetentionTable();
    if (options.retentionDefault !== undefined) retention.defaultEntry = { policy: checkPolicy(options.retentionDefault), horizon: 0 };
    return new StatehouseEngine({
      ...common,
      retention,
      kv: new MemoryKv(),
      sync: false,
      lastCommitTs: 0,
      recovery: {
        storage: "memory",
        dataDir: null,
        snapshotTs: null,
        snapshotFile: null,
        eventsReplayed: 0,
        durationMs: 0,
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
  if (options.rocksdbLogLevel !== undefined && !ROCKS_LOG_LEVELS.includes(options.rocksdbLogLevel)) {
    throw new TypeError(`rocksdbLogLevel must be one of ${ROCKS_LOG_LEVELS.map((l) => `"${l}"`).join(", ")}`);
  }
  const memory = { blockCacheBytes: options.rocksdbCacheBytes, memtableBudgetBytes: options.rocksdbMemtableBytes, logLevel: options.rocksdbLogLevel, writer: options.rocksdbWriter };
  return openEngineOn(await RocksKv.open(join(dataDir, "db"), memory), dataDir, options);
}

/**
 * Recovers and opens an engine over an already opened store whose snapshots live in
 * `<dataDir>/snapshots` (openEngine's RocksDB path; tests wrap the store, e.g. to inject faults).
 * Closes the store when recovery fails.
 */
export async function openEngineOn(kv: OrderedKv, dataDir: string, options: EngineOptions): Promise<Engine> {
  const common = commonOptions(options);
  const started = performance.now();
  const snapshotsKept = integer(options.snapshotsKept, "snapshotsKept", 1) ?? DEFAULTS.snapshotsKept;
  const snapshotInterval = integer(options.snapshotInterval, "snapshotInterval", 0) ?? DEFAULTS.snapshotInterval;
  const mode: RecoveryMode = options.recoveryMode ?? "auto";
  const sync = options.fsyncOnCommit ?? DEFAULTS.fsyncOnCommit;
  const store = new SnapshotStore(join(dataDir, "snapshots"), snapshotsKept, common.failpoints);
  let result;
  try {
    result = await recover({ kv, snapshots: store, failpoints: common.failpoints, mode, now: common.clock(), idempotencyWindowMs: common.idempotencyWindowMs });
  } catch (error) {
    await kv.close();
    throw error;
  }
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
      snapshotFile: recovery.snapshotFile,
      eventsReplayed: recovery.eventsReplayed,
      commitTs: recovery.commitTs.toString(),
      durationMs: Math.round(recovery.durationMs),
      notes: recovery.notes,
    },
    "engine recovered",
  );
  const retention = result.retention;
  if (options.retentionDefault !== undefined) {
    const policy = checkPolicy(options.retentionDefault);
    if (JSON.stringify(policy) !== JSON.stringify(retention.defaultEntry.policy)) {
      retention.defaultEntry = { ...retention.defaultEntry, policy };
      kv.writeSync([retention.entryOp(null, retention.defaultEntry)], true);
    }
  }
  let scheduler: SnapshotScheduler | null = null;
  const engine: StatehouseEngine = new StatehouseEngine({
    ...common,
    kv,
    sync,
    lastCommitTs: result.lastCommitTs,
    recovery,
    retention,
    afterBatch: (batch) => scheduler?.onBatch(batch),
    beforeClose: async () => scheduler?.stop(),
  });
  // A purge interrupted by a crash completes before anyone can read its target.
  const intents = await loadPurgeIntents(kv);
  if (intents.length > 0) {
    try {
      await engine.resumePurges(intents);
    } catch (error) {
      await engine.close();
      throw error;
    }
  }
  scheduler = new SnapshotScheduler({
    kv,
    store,
    interval: snapshotInterval,
    lastSnapshotTs: result.snapshot?.commitTs ?? 0,
    // With fsync off, a snapshot may only claim what a synced write made durable.
    syncLog: sync ? null : () => engine.syncLog(),
    clock: common.clock,
    logger: options.logger,
    observer: options.observer,
  });
  return engine;
}

/**
 * Opens an engine over a shared store (PostgreSQL, opened and migrated by
 * @statehouse/storage-postgres) that other engines may be writing at the same time. Nothing
 * is recovered in this process: the database's own crash recovery makes every commit whole
 * or absent, and the commit_ts marker is read under the store's commit lock for every batch.
 * `dataDir`, snapshots and the RocksDB options do not apply; the store is closed on failure.
 */
export async function openSharedEngine(kv: SharedKv, options: Omit<EngineOptions, "dataDir" | "inMemory"> = {}): Promise<Engine> {
  const started = performance.now();
  let lastCommitTs: number;
  const notes: string[] = [];
  try {
    const common = commonOptions(options);
    if (options.retentionDefault !== undefined && checkPolicy(options.retentionDefault).kind !== "all") {
      throw new EngineError("INVALID_ARGUMENT", "history retention is not available on a shared (PostgreSQL) store yet: it keeps every event", { details: { field: "retentionDefault" } });
    }
    const locked = await kv.lock([META_FORMAT, META_COMMIT_TS]);
    const [format, rawTs] = locked.values;
    lastCommitTs = rawTs === undefined ? 0 : decodeU64(rawTs);
    if (format === undefined) {
      await locked.commit([{ type: "put", key: META_FORMAT, value: FORMAT }], null);
      notes.push("new shared store: format marker written");
    } else {
      await locked.release();
      if (!format.equals(FORMAT)) throw new EngineError("STORAGE_ERROR", `unsupported store format ${format.toString("utf8")} (this engine writes ${FORMAT.toString("utf8")})`);
    }
    const recovery = {
      storage: "postgres" as const,
      dataDir: null,
      snapshotTs: null,
      snapshotFile: null,
      eventsReplayed: 0,
      durationMs: performance.now() - started,
      commitTs: BigInt(lastCommitTs),
      notes: [...notes, "shared store: the database recovers itself; this engine holds no state of its own"],
    };
    options.logger?.info({ storage: "postgres", commitTs: String(lastCommitTs), notes: recovery.notes }, "engine opened on a shared store");
    // A shared store keeps every event: history retention and compaction are for local stores.
    return new StatehouseEngine({ ...common, kv, sync: true, lastCommitTs, recovery, retention: new RetentionTable(), compactionIntervalMs: 0 });
  } catch (error) {
    await kv.close();
    throw error;
  }
}

function commonOptions(options: EngineOptions): Common {
  if (typeof options !== "object" || options === null) throw new TypeError("openEngine options must be an object");
  if (options.recoveryMode !== undefined && !RECOVERY_MODES.includes(options.recoveryMode)) {
    throw new TypeError(`recoveryMode must be one of ${RECOVERY_MODES.map((m) => `"${m}"`).join(", ")}`);
  }
  if (options.fsyncOnCommit !== undefined && typeof options.fsyncOnCommit !== "boolean") throw new TypeError("fsyncOnCommit must be a boolean");
  if (options.inMemory !== undefined && typeof options.inMemory !== "boolean") throw new TypeError("inMemory must be a boolean");
  if (options.clock !== undefined && typeof options.clock !== "function") throw new TypeError("clock must be a function");
  const maxTransactionBytes = integer(options.maxTransactionBytes, "maxTransactionBytes", 1) ?? DEFAULTS.maxTransactionBytes;
  if (maxTransactionBytes > MAX_TRANSACTION_BYTES_CEILING) throw new TypeError(`maxTransactionBytes must be at most ${MAX_TRANSACTION_BYTES_CEILING}`);
  return {
    txTimeoutMs: integer(options.txTimeoutMs, "txTimeoutMs", 1) ?? DEFAULTS.txTimeoutMs,
    maxValueBytes: integer(options.maxValueBytes, "maxValueBytes", 1) ?? DEFAULTS.maxValueBytes,
    maxStagedBytes: integer(options.maxStagedBytes, "maxStagedBytes", 1) ?? DEFAULTS.maxStagedBytes,
    maxTransactionBytes,
    idempotencyWindowMs: integer(options.idempotencyWindowMs, "idempotencyWindowMs", 1) ?? DEFAULTS.idempotencyWindowMs,
    idempotencyPurgeIntervalMs: integer(options.idempotencyPurgeIntervalMs, "idempotencyPurgeIntervalMs", 0) ?? DEFAULTS.idempotencyPurgeIntervalMs,
    clock: options.clock ?? Date.now,
    versionCacheBytes: integer(options.versionCacheBytes, "versionCacheBytes", 0) ?? DEFAULTS.versionCacheBytes,
    compactionIntervalMs: integer(options.compactionIntervalMs, "compactionIntervalMs", 0) ?? DEFAULTS.compactionIntervalMs,
    compaction: {
      batchEvents: integer(options.compactionBatchEvents, "compactionBatchEvents", 1) ?? DEFAULTS.compactionBatchEvents,
      pauseMs: integer(options.compactionPauseMs, "compactionPauseMs", 0) ?? DEFAULTS.compactionPauseMs,
    },
    observer: options.observer,
    logger: options.logger,
    failpoints: new Failpoints(options.failpoint),
  };
}

function integer(value: unknown, what: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) throw new TypeError(`${what} must be an integer >= ${min}`);
  return value;
}
