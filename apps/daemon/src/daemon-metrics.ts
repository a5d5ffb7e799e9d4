// Prometheus metrics served at /metrics. Engine events arrive through the
// EngineObserver hooks; RPC-level counts are incremented by the service.
import type { EngineObserver, EngineStats, RetentionInfo } from "@statehouse/engine";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export type ReadKind = "get_state" | "get_state_at_version" | "get_state_as_of" | "list_keys" | "scan_prefix" | "list_namespaces" | "list_agents";

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #started = this.#counter("statehouse_transactions_started_total", "Transactions begun (server-side and one-shot).");
  readonly #committed = this.#counter("statehouse_transactions_committed_total", "Transactions committed.");
  readonly #aborted = this.#counter("statehouse_transactions_aborted_total", "Transactions aborted by clients.");
  readonly #expired = this.#counter("statehouse_transactions_expired_total", "Transactions that expired before commit.");
  readonly #conflicts = this.#counter("statehouse_conflicts_total", "Commits rejected because a precondition did not hold.");
  readonly #writes = this.#counter("statehouse_writes_total", "Committed write operations.");
  readonly #deletes = this.#counter("statehouse_deletes_total", "Committed delete operations.");
  readonly #snapshots = this.#counter("statehouse_snapshots_total", "Snapshots written.");
  readonly #purges = this.#counter("statehouse_purges_total", "Purges completed (an agent or a namespace erased), resumed ones included.");
  readonly #reads: Counter<"rpc">;
  readonly #replayEvents = this.#counter("statehouse_replay_events_total", "Events sent by Replay.");
  readonly #watchEvents = this.#counter("statehouse_watch_events_total", "Events sent by Watch.");
  readonly #rpcErrors: Counter<"code">;
  /** Counted in a plain map on the hot path; the counter reads it at scrape time. */
  readonly #rpcRequests = new Map<string, number>();
  readonly #commitLatency: Histogram;
  readonly #groupSize: Histogram;
  readonly #groupDuration: Histogram;
  readonly #streams: Gauge;
  readonly #connections: Gauge;
  #engineStats: (() => EngineStats) | null = null;
  #retention: (() => RetentionInfo[]) | null = null;
  /** Counted as a plain number on the hot path; the counter reads it at scrape time. */
  #fastPathCalls = 0;
  /** Requests (RPCs and plain HTTP) this thread received. */
  #threadRequests = 0;

  /**
   * `thread`: the RPC thread this registry counts requests of ("0": the
   * engine's own; null: it serves none). `processMetrics`: Node's process and
   * event-loop metrics (false on worker threads: the process is counted once).
   */
  constructor(options: { thread?: string | null; processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const thread = options.thread === undefined ? "0" : options.thread;
    if (thread !== null) {
      const threadRequests = (): number => this.#threadRequests;
      new Counter({
        name: "statehouse_rpc_thread_requests_total",
        help: 'Requests (RPCs, /metrics, /healthz, console) received by each RPC thread ("0" = the engine\'s thread, with --rpc-threads 1).',
        labelNames: ["thread"],
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc({ thread }, threadRequests());
        },
      });
    }
    this.#reads = new Counter({ name: "statehouse_reads_total", help: "Read RPCs served, by RPC.", labelNames: ["rpc"], registers: [this.registry] });
    const rpcRequests = this.#rpcRequests;
    new Counter({
      name: "statehouse_rpc_requests_total",
      help: "statehouse.v1 RPCs received (connect-node and fast path alike), by RPC.",
      labelNames: ["rpc"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [rpc, n] of rpcRequests) this.inc({ rpc }, n);
      },
    });
    this.#rpcErrors = new Counter({ name: "statehouse_rpc_errors_total", help: "RPCs that ended in an error, by status code.", labelNames: ["code"], registers: [this.registry] });
    this.#commitLatency = new Histogram({
      name: "statehouse_commit_latency_seconds",
      help: "Time from commit request to durable commit, in the engine.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.#groupSize = new Histogram({
      name: "statehouse_group_commit_size",
      help: "Transactions per group commit (one log sync).",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [this.registry],
    });
    this.#groupDuration = new Histogram({
      name: "statehouse_group_commit_duration_seconds",
      help: "Time to write and sync one group commit.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.#streams = new Gauge({ name: "statehouse_open_streams", help: "Replay/Watch streams open now.", registers: [this.registry] });
    this.#connections = new Gauge({ name: "statehouse_open_connections", help: "TCP connections open now.", registers: [this.registry] });
    const fastPathCalls = (): number => this.#fastPathCalls;
    new Counter({
      name: "statehouse_fast_path_calls_total",
      help: "Calls served by the fast path (STATEHOUSE_FAST_PATH); every other call goes through connect-node.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(fastPathCalls());
      },
    });
    const stats = (): EngineStats | null => this.#engineStats?.() ?? null;
    new Gauge({
      name: "statehouse_open_transactions",
      help: "Server-side transactions open now.",
      registers: [this.registry],
      collect() {
        this.set(stats()?.openTransactions ?? 0);
      },
    });
    new Gauge({
      name: "statehouse_storage_memory_bytes",
      help: "RocksDB's memory now by part (memtables, block_cache, block_cache_pinned, table_readers), by its own accounting.",
      labelNames: ["part"],
      registers: [this.registry],
      collect() {
        const memory = stats()?.storageMemory;
        if (memory === null || memory === undefined) return;
        const parts = { memtables: memory.memtables, block_cache: memory.blockCache, block_cache_pinned: memory.blockCachePinned, table_readers: memory.tableReaders };
        // NaN while the store is being reopened: the part is left out of that scrape.
        for (const [part, bytes] of Object.entries(parts)) if (Number.isFinite(bytes)) this.set({ part }, bytes);
      },
    });
    new Gauge({
      name: "statehouse_version_cache_bytes",
      help: "Estimated heap bytes of the engine's cache of recently written key versions (at most STATEHOUSE_VERSION_CACHE_MB).",
      registers: [this.registry],
      collect() {
        const cache = stats()?.versionCache;
        if (cache !== undefined) this.set(cache.bytes);
      },
    });
    const retention = (): RetentionInfo[] => this.#retention?.() ?? [];
    new Gauge({
      name: "statehouse_retention_horizon_commit_ts",
      help: 'History horizon by namespace with its own retention policy ("*": the default, for every other namespace); history up to it may be compacted.',
      labelNames: ["namespace"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const info of retention()) this.set({ namespace: info.namespace ?? "*" }, Number(info.horizonCommitTs));
      },
    });
    new Counter({
      name: "statehouse_retention_compacted_events_total",
      help: "Events compacted behind retention horizons since start.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(stats()?.compactedEvents ?? 0);
      },
    });
    new Gauge({
      name: "statehouse_retention_compaction_backlog_events",
      help: "Events the running compaction pass has still to walk (estimate; 0 when none runs).",
      registers: [this.registry],
      collect() {
        this.set(stats()?.compactionBacklogEvents ?? 0);
      },
    });
    new Gauge({
      name: "statehouse_commit_ts",
      help: "The latest commit_ts.",
      registers: [this.registry],
      collect() {
        this.set(Number(stats()?.commitTs ?? 0n));
      },
    });
  }

  #counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  /** Hooks the engine calls synchronously. */
  readonly observer: EngineObserver = {
    onBegin: () => this.#started.inc(),
    onCommit: (info) => {
      this.#committed.inc();
      if (info.writes > 0) this.#writes.inc(info.writes);
      if (info.deletes > 0) this.#deletes.inc(info.deletes);
      this.#commitLatency.observe(info.latencyMs / 1000);
    },
    onGroupCommit: (info) => {
      this.#groupSize.observe(info.transactions);
      this.#groupDuration.observe(info.durationMs / 1000);
    },
    onAbort: () => this.#aborted.inc(),
    onExpire: () => this.#expired.inc(),
    onConflict: () => this.#conflicts.inc(),
    onSnapshot: () => this.#snapshots.inc(),
    onPurge: () => this.#purges.inc(),
  };

  /** Source of the open-transactions and commit_ts gauges. */
  attachEngine(stats: () => EngineStats): void {
    this.#engineStats = stats;
  }

  /** Source of the retention horizon gauge. */
  attachRetention(list: () => RetentionInfo[]): void {
    this.#retention = list;
  }

  read(kind: ReadKind): void {
    this.#reads.inc({ rpc: kind });
  }

  replayEvent(n = 1): void {
    this.#replayEvents.inc(n);
  }

  watchEvent(n = 1): void {
    this.#watchEvents.inc(n);
  }

  /** One statehouse.v1 call, by its procedure name ("Transact", "ReplayBatches", ...). */
  rpcRequest(rpc: string): void {
    this.#rpcRequests.set(rpc, (this.#rpcRequests.get(rpc) ?? 0) + 1);
  }

  /** A request reached this RPC thread. */
  threadRequest(): void {
    this.#threadRequests += 1;
  }

  fastPathCall(): void {
    this.#fastPathCalls += 1;
  }

  rpcError(code: string): void {
    this.#rpcErrors.inc({ code });
  }

  setOpenStreams(open: number): void {
    this.#streams.set(open);
  }

  setOpenConnections(open: number): void {
    this.#connections.set(open);
  }
}
