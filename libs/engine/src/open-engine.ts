import { EngineError } from "./engine-error.js";
import { Failpoints } from "./failpoints.js";
import { StatehouseEngine } from "./statehouse-engine.js";
import { MemoryKv } from "./storage/memory-kv.js";
import type { Engine, EngineOptions } from "./types.js";

export const DEFAULTS = {
  fsyncOnCommit: true,
  snapshotInterval: 1000,
  snapshotsKept: 3,
  txTimeoutMs: 30_000,
  maxValueBytes: 1_048_576,
} as const;

/** Opens (and recovers) an engine. */
export async function openEngine(options: EngineOptions): Promise<Engine> {
  if (typeof options !== "object" || options === null) throw new TypeError("openEngine options must be an object");
  const txTimeoutMs = positiveInteger(options.txTimeoutMs, "txTimeoutMs") ?? DEFAULTS.txTimeoutMs;
  const maxValueBytes = positiveInteger(options.maxValueBytes, "maxValueBytes") ?? DEFAULTS.maxValueBytes;
  const failpoints = new Failpoints(options.failpoint);
  if (options.inMemory === true) {
    const started = performance.now();
    return new StatehouseEngine({
      kv: new MemoryKv(),
      sync: false,
      lastCommitTs: 0,
      txTimeoutMs,
      maxValueBytes,
      observer: options.observer,
      failpoints,
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
  throw new EngineError("STORAGE_ERROR", "RocksDB backend not available yet");
}

function positiveInteger(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) throw new TypeError(`${what} must be a positive integer`);
  return value;
}
