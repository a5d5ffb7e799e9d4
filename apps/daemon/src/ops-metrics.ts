// Operational metrics at /metrics (issue 16): disk of the data dir, per-RPC latency by
// method and protocol (connect-node and fast path alike), the writer's queue, snapshots,
// RocksDB's stall and compaction figures, recovery, and the storage-broken state. They sit
// on DaemonMetrics' registry; the dashboard and alert rules in packaging/ query them.
import type { StatsFs } from "node:fs";
import { readdir, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import type { EngineObserver, EngineStats, RecoveryReport, StorageStatus } from "@statehouse/engine";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export type RpcProtocol = "grpc" | "grpc_web" | "connect";

/** How long a disk-usage walk of the data dir is reused (a scrape every 15 s walks at most once per 10 s). */
const DISK_WALK_TTL_MS = 10_000;

/** The protocol of a call from its content-type (a Connect GET has none). */
export function rpcProtocol(contentType: string | undefined): RpcProtocol {
  if (contentType === undefined) return "connect";
  if (contentType.startsWith("application/grpc-web")) return "grpc_web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  return "connect";
}

const STORAGE_GAUGES: readonly { name: string; help: string; part: keyof StorageStatus }[] = [
  { name: "statehouse_rocksdb_write_stopped", help: "1 while RocksDB stops writes (too many memtables or L0 files, or too much pending compaction).", part: "writeStopped" },
  { name: "statehouse_rocksdb_delayed_write_rate_bytes", help: "Bytes/s RocksDB slows writes to while it delays them (a write stall); 0 when it does not.", part: "delayedWriteRate" },
  { name: "statehouse_rocksdb_pending_compaction_bytes", help: "RocksDB's estimate of the bytes compaction must rewrite to bring every level under its target.", part: "pendingCompactionBytes" },
  { name: "statehouse_rocksdb_level0_files", help: "SST files in RocksDB's level 0 (writes slow at 20, stop at 36).", part: "level0Files" },
  { name: "statehouse_rocksdb_running_compactions", help: "RocksDB compactions running now.", part: "runningCompactions" },
  { name: "statehouse_rocksdb_running_flushes", help: "RocksDB memtable flushes running now.", part: "runningFlushes" },
  { name: "statehouse_rocksdb_sst_bytes", help: "Bytes of all of RocksDB's SST files.", part: "sstBytes" },
];

export interface OpsMetricsOptions {
  registry: Registry;
  /** The data dir (null: in-memory storage, no disk metrics). */
  dataDir: string | null;
  /** Services whose methods get their own latency series; any other path is left out. */
  services: readonly DescService[];
  clock?: () => number;
}

export class OpsMetrics {
  readonly #rpcDuration: Histogram<"service" | "method" | "protocol">;
  readonly #snapshotDuration: Histogram;
  readonly #snapshotFailures: Counter;
  readonly #methods = new Map<string, { service: string; method: string }>();
  readonly #clock: () => number;
  #stats: (() => EngineStats) | null = null;
  #recovery: RecoveryReport | null = null;
  /** Milliseconds since the epoch of the newest snapshot (null: none yet). */
  #lastSnapshotAtMs: number | null = null;
  #lastSnapshotTs: bigint | null = null;
  #diskUsed: { at: number; bytes: Promise<number> } | null = null;

  constructor(options: OpsMetricsOptions) {
    const registers = [options.registry];
    this.#clock = options.clock ?? Date.now;
    for (const service of options.services) {
      for (const method of service.methods) this.#methods.set(`/${service.typeName}/${method.name}`, { service: service.typeName, method: method.name });
    }
    this.#rpcDuration = new Histogram({
      name: "statehouse_rpc_duration_seconds",
      help: "Time from a call's arrival to the end of its response (streams: the whole stream), by service, method and protocol (grpc, grpc_web, connect); fast path included.",
      labelNames: ["service", "method", "protocol"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers,
    });
    this.#snapshotDuration = new Histogram({
      name: "statehouse_snapshot_duration_seconds",
      help: "Time to write one snapshot (checkpoint), log sync included when fsync on commit is off.",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.#snapshotFailures = new Counter({ name: "statehouse_snapshot_failures_total", help: "Snapshots that could not be written (each is logged).", registers });
    // collect() runs with the gauge as `this`: these read the instance's state.
    const stats = (): EngineStats | null => this.#stats?.() ?? null;
    const recovery = (): RecoveryReport | null => this.#recovery;
    const snapshotAgeSeconds = (): number | null => (this.#lastSnapshotAtMs === null ? null : Math.max(0, (this.#clock() - this.#lastSnapshotAtMs) / 1000));
    const lastSnapshotTs = (): bigint => this.#lastSnapshotTs ?? 0n;
    const diskUsed = (dir: string): Promise<number> => this.#diskUsedBytes(dir);
    new Gauge({
      name: "statehouse_snapshot_age_seconds",
      help: "Seconds since the newest snapshot was written (the one recovery loaded counts); absent before the first.",
      registers,
      collect() {
        this.reset();
        const age = snapshotAgeSeconds();
        if (age !== null) this.set(age);
      },
    });
    new Gauge({
      name: "statehouse_snapshot_commits_behind",
      help: "Commits since the newest snapshot (what the next start replays).",
      registers,
      collect() {
        this.reset();
        const ts = stats()?.commitTs;
        if (ts !== undefined) this.set(Number(ts - lastSnapshotTs()));
      },
    });
    new Gauge({
      name: "statehouse_commit_queue_depth",
      help: "Commits waiting for the single writer now (the next group commit's candidates; statehouse_group_commit_size is the batch size).",
      registers,
      collect() {
        this.set(stats()?.commitQueue ?? 0);
      },
    });
    new Gauge({
      name: "statehouse_storage_broken",
      help: "1 while commits are refused because storage could not be re-established after a failed write (reads are still served), else 0.",
      registers,
      collect() {
        this.set(stats()?.writable === false ? 1 : 0);
      },
    });
    new Gauge({
      name: "statehouse_recovery_duration_seconds",
      help: "How long recovery took when this process opened the engine.",
      registers,
      collect() {
        const report = recovery();
        if (report !== null) this.set(report.durationMs / 1000);
      },
    });
    new Gauge({
      name: "statehouse_recovery_events_replayed",
      help: "Events recovery replayed when this process opened the engine.",
      registers,
      collect() {
        const report = recovery();
        if (report !== null) this.set(report.eventsReplayed);
      },
    });
    for (const gauge of STORAGE_GAUGES) {
      new Gauge({
        name: gauge.name,
        help: gauge.help,
        registers,
        collect() {
          this.reset();
          const value = stats()?.storageStatus?.[gauge.part];
          // Absent for the memory backend, and NaN while RocksDB is being reopened.
          if (value !== undefined && Number.isFinite(value)) this.set(value);
        },
      });
    }
    const dataDir = options.dataDir;
    if (dataDir !== null) {
      new Gauge({
        name: "statehouse_data_dir_used_bytes",
        help: "Bytes of the files in the data dir (RocksDB, snapshots), walked at most every 10 s.",
        registers,
        async collect() {
          this.set(await diskUsed(dataDir));
        },
      });
      const filesystem: [name: string, help: string, blocks: (fs: StatsFs) => number][] = [
        ["statehouse_data_dir_free_bytes", "Bytes available to the daemon on the data dir's filesystem.", (fs) => fs.bavail],
        ["statehouse_data_dir_filesystem_bytes", "Size of the data dir's filesystem.", (fs) => fs.blocks],
      ];
      for (const [name, help, blocks] of filesystem) {
        new Gauge({
          name,
          help,
          registers,
          async collect() {
            const fs = await statfs(dataDir);
            this.set(blocks(fs) * fs.bsize);
          },
        });
      }
    }
  }

  /** The engine's stats and what recovery did (the snapshot recovery loaded starts the snapshot age). */
  async attachEngine(stats: () => EngineStats, recovery: RecoveryReport): Promise<void> {
    this.#stats = stats;
    this.#recovery = recovery;
    if (recovery.snapshotFile !== null && this.#lastSnapshotAtMs === null) {
      const info = await stat(recovery.snapshotFile).catch(() => null);
      if (info !== null) {
        this.#lastSnapshotAtMs = info.mtimeMs;
        this.#lastSnapshotTs = recovery.snapshotTs;
      }
    }
  }

  /** `observer` with the snapshot hooks this class needs added. */
  observe(observer: EngineObserver): EngineObserver {
    return {
      ...observer,
      onSnapshot: (info) => {
        observer.onSnapshot?.(info);
        this.#lastSnapshotAtMs = this.#clock();
        this.#lastSnapshotTs = info.commitTs;
        this.#snapshotDuration.observe(info.durationMs / 1000);
      },
      onSnapshotFailure: (info) => {
        observer.onSnapshotFailure?.(info);
        this.#snapshotFailures.inc();
      },
    };
  }

  /**
   * Starts timing a call to `path`; the returned function records it. Paths of services not
   * listed (404s, probes) return null: their labels would be unbounded.
   */
  startCall(path: string | undefined, contentType: string | undefined): (() => void) | null {
    const known = path === undefined ? undefined : this.#methods.get(path.split("?", 1)[0] ?? path);
    if (known === undefined) return null;
    const started = performance.now();
    const labels = { service: known.service, method: known.method, protocol: rpcProtocol(contentType) };
    return () => this.#rpcDuration.observe(labels, (performance.now() - started) / 1000);
  }

  #diskUsedBytes(dataDir: string): Promise<number> {
    const now = this.#clock();
    if (this.#diskUsed === null || now - this.#diskUsed.at > DISK_WALK_TTL_MS) {
      this.#diskUsed = { at: now, bytes: directoryBytes(dataDir) };
    }
    return this.#diskUsed.bytes;
  }
}

/** Bytes of the regular files under dir (files vanishing during the walk, as compaction deletes SSTs, are skipped). */
async function directoryBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile()) total += (await stat(path).catch(() => null))?.size ?? 0;
  }
  return total;
}
