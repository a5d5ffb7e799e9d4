// Public types of the engine. No RPC, no protobuf: plain TypeScript.
import type { StoreBackup } from "./backup.ts";

/** A JSON object, the only value type a record can hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Identifies one record. */
export interface RecordRef {
  namespace: string;
  agentId: string;
  key: string;
}

/** A staged or one-shot operation. `value: null` deletes the key (writes a tombstone). */
export interface OperationInput extends RecordRef {
  value: JsonObject | null;
}

/**
 * Optimistic-concurrency guard checked atomically at commit.
 * - `expectedVersion`: the key's current version (tombstones included; 0 = never written) must equal it.
 * - `mustNotExist`: the key must not currently exist (never written, or deleted).
 */
export interface Precondition extends RecordRef {
  expectedVersion?: bigint;
  mustNotExist?: boolean;
}

export interface CommitOptions {
  /** Operations applied after the transaction's staged ones (last operation on a key wins). */
  operations?: readonly OperationInput[];
  preconditions?: readonly Precondition[];
  /**
   * Makes a retry safe. The key belongs to the namespace the transaction writes (the smallest
   * one when it writes several; "default" when it writes nothing) and to the transaction's
   * content (its operations): the same key with the same operations returns the original
   * commitTs with `duplicate: true` and applies nothing; with other operations it fails with
   * IDEMPOTENCY_KEY_REUSED. Keys are kept for `idempotencyWindowMs` (default 24 h, across
   * restarts), then purged: a retry after the window applies again.
   */
  idempotencyKey?: string;
}

export interface CommitResult {
  commitTs: bigint;
  /** True when `idempotencyKey` had already committed and nothing was applied. */
  duplicate: boolean;
}

/** Latest (or historical) state of one record. `exists=false` with version 0 for a key never written. */
export interface StateRecord {
  value: JsonObject | null;
  version: bigint;
  commitTs: bigint;
  exists: boolean;
}

export interface StateEntry {
  key: string;
  value: JsonObject;
  version: bigint;
  commitTs: bigint;
}

/** One operation of a committed event, as replayed. `value: null` = delete. */
export interface EventOperation {
  key: string;
  value: JsonObject | null;
  version: bigint;
}

/** One committed transaction as seen by one (namespace, agent): only that agent's operations. */
export interface AgentEvent {
  txnId: string;
  commitTs: bigint;
  /** Wall-clock commit time, milliseconds since the epoch. */
  committedAtMs: number;
  namespace: string;
  agentId: string;
  operations: EventOperation[];
}

export interface ReplayOptions {
  /** Inclusive. */
  startTs?: bigint;
  /** Inclusive. */
  endTs?: bigint;
  /** At most this many events (a positive integer; default: all). */
  limit?: number;
  /** Newest first: with `limit`, the last `limit` events of the range, read from the end. */
  reverse?: boolean;
  signal?: AbortSignal;
}

/** Bounds of one page of a paged read (`listKeysPage`, `scanPrefixPage`, `getAgentAsOfPage`). */
export interface PageOptions {
  /** At most this many items (a positive integer; default: no limit). */
  limit?: number;
  /** Start strictly after this key: the `nextAfter` of the previous page. */
  after?: string;
  /**
   * Stop once the page's stored bytes (keys, plus values where the page carries them)
   * reach this; a page always holds at least one item when any is left. Default: no limit.
   */
  maxBytes?: number;
}

export interface ListKeysPageOptions extends PageOptions {
  /** Only keys starting with this (default: all). */
  prefix?: string;
}

/** Bounds of a page of `listNamespaces` / `listAgents`. */
export interface CatalogPageOptions extends PageOptions {
  /** Only names starting with this (default: all). */
  prefix?: string;
}

export interface NamespaceInfo {
  namespace: string;
}

/** An agent that committed at least once (its keys may all be deleted now). */
export interface AgentInfo {
  namespace: string;
  agentId: string;
  /** Keys that exist now. */
  keyCount: number;
  /** commit_ts of the agent's last event. */
  lastCommitTs: bigint;
  /** Wall-clock time of that commit, ms since the epoch (0: unknown, imported from the original daemon). */
  lastCommittedAtMs: number;
}

/** One page of a key-ordered read. */
export interface Page<T> {
  items: T[];
  /** The last item's key when more items follow (pass it as `after`); null when this is the last page. */
  nextAfter: string | null;
  /** Stored bytes of the page's keys (and values, where it carries them). */
  bytes: number;
}

export interface WatchOptions {
  /** First commit_ts to replay (inclusive); absent = only commits after the call. */
  startTs?: bigint;
  signal?: AbortSignal;
}

export interface RecoveryReport {
  storage: "rocksdb" | "memory" | "postgres";
  dataDir: string | null;
  /** commit_ts of the snapshot loaded, or null when none was used. */
  snapshotTs: bigint | null;
  snapshotFile: string | null;
  eventsReplayed: number;
  durationMs: number;
  commitTs: bigint;
  /** Human-readable notes: fallbacks taken, corrupt snapshots skipped, ... */
  notes: string[];
}

/** Hooks for metrics; all optional, called synchronously, must not throw. */
export interface EngineObserver {
  onBegin?(): void;
  onCommit?(info: { operations: number; writes: number; deletes: number; latencyMs: number }): void;
  onGroupCommit?(info: { transactions: number; operations: number; durationMs: number }): void;
  onAbort?(): void;
  onExpire?(): void;
  onConflict?(): void;
  onSnapshot?(info: { commitTs: bigint; records: number; durationMs: number; file: string }): void;
  /** A snapshot could not be written (logged too); the next one is tried after the next interval. */
  onSnapshotFailure?(info: { commitTs: bigint; error: unknown }): void;
  /** After each compaction batch: events compacted by it, events left in the pass (estimate). */
  onCompaction?(info: { events: number; backlog: number }): void;
  /** After each completed purge (resumed ones at open included). */
  onPurge?(info: PurgeResult): void;
}

/**
 * How much history a namespace keeps: everything (the default), the history of the last
 * `keepMs` milliseconds (older history is compacted in the background; current state stays),
 * or the last `keepVersions` versions of each key (older versions' entries in the version
 * index are compacted; the event log, replay and the namespace's horizon are not touched).
 */
export type RetentionPolicy = { kind: "all" } | { kind: "duration"; keepMs: number } | { kind: "versions"; keepVersions: number };

/** A namespace's (or, with `namespace: null`, the default's) policy and history horizon. */
export interface RetentionInfo {
  /** null for the default policy (namespaces without their own). */
  namespace: string | null;
  policy: RetentionPolicy;
  /** True when the namespace has its own policy (always true for the default). */
  explicit: boolean;
  /**
   * History up to this commit_ts may be compacted: replay and watch from it or before, as-of
   * reads of an earlier commit_ts and versions superseded by then fail with HISTORY_COMPACTED.
   * 0 = nothing compacted.
   */
  horizonCommitTs: bigint;
}

/** What `purge` did. */
export interface PurgeResult {
  /** The purge's id (in its audit log line). */
  purgeId: number;
  /** Log entries rewritten without the target's operations. */
  eventsRewritten: number;
  /** State, version, agent-event and idempotency entries deleted. */
  entriesDeleted: number;
}

/** Minimal structured logger (pino-compatible signature). */
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface EngineOptions {
  /** Directory holding RocksDB and snapshots. Required unless `inMemory`. */
  dataDir?: string;
  /** In-memory backend (tests only): same behaviour, nothing persisted. */
  inMemory?: boolean;
  /** Default true. False acknowledges before the log is synced: unsafe on power loss. */
  fsyncOnCommit?: boolean;
  /** Commits between snapshots; 0 disables snapshots. Default 1000. */
  snapshotInterval?: number;
  /** Snapshots kept on disk. Default 3. */
  snapshotsKept?: number;
  /** RocksDB block cache in bytes (data, index and filter blocks; README "Memory"). Default 4 MiB. */
  rocksdbCacheBytes?: number;
  /** RocksDB memtable budget in bytes (write buffers of a quarter of it; README "Memory"). Default 32 MiB. */
  rocksdbMemtableBytes?: number;
  /**
   * How commits reach the disk without stopping the event loop (README "What runs where"): "wal-sync"
   * (default) writes on the calling thread and fdatasyncs RocksDB's WAL in libuv's thread pool;
   * "thread" writes and syncs on a writer thread of its own (about 16 MiB more RSS).
   */
  rocksdbWriter?: RocksWriterMode;
  /**
   * Heap budget in bytes of the commit sequencer's cache of recently written key versions (a
   * commit touching a cached key needs no storage read for its version check); 0 = no cache.
   * Estimated at 97 bytes plus the key per entry (README "Memory"). Default 1 MiB.
   */
  versionCacheBytes?: number;
  /**
   * RocksDB's own LOG file (`<dataDir>/db/LOG`): "off", or the least severe level written
   * ("fatal", "error", "warn", "info", "debug"). Default "warn": stalls, background errors
   * and the options header at each open. See rocks-kv.ts for how old LOG files are pruned.
   */
  rocksdbLogLevel?: RocksLogLevel;
  /** Default transaction timeout. Default 30000. */
  txTimeoutMs?: number;
  /**
   * "auto" (default): verify the events after the newest valid snapshot against the durable
   * indexes and rebuild only on inconsistency; evidence that acknowledged commits are missing
   * (a snapshot ahead of the log, another event at a snapshot's commit_ts, index entries newer
   * than the log) refuses to open with CORRUPTION. "rebuild": rebuild every index from the full
   * log. "accept-rollback": like auto, but such evidence is accepted (noted in the recovery
   * report, the newer snapshots removed) and the store serves the older state: commit_ts values
   * after it are issued again, so use it only when you chose to go back.
   */
  recoveryMode?: "auto" | "rebuild" | "accept-rollback";
  /** Budget in bytes for the data of all open transactions (staged and queued). Default 512 MiB. */
  maxStagedBytes?: number;
  /** Largest transaction in bytes (its operations' serialized values plus names). Default 64 MiB. */
  maxTransactionBytes?: number;
  /** How long idempotency keys are kept. Default 24 h. */
  idempotencyWindowMs?: number;
  /** How often expired idempotency keys are purged in the background (0 = never by itself). Default 60 s. */
  idempotencyPurgeIntervalMs?: number;
  /** Wall clock in milliseconds since the epoch (tests inject one). Default Date.now. */
  clock?: () => number;
  /** Largest accepted serialized value in bytes (LIMIT_EXCEEDED beyond). Default 1 MiB. */
  maxValueBytes?: number;
  /**
   * Crash point for crash tests: the process SIGKILLs itself on the `after`-th hit (default 1).
   * Names: commit:before-sync, commit:after-sync-before-reply, snapshot:mid-write, recovery:mid-replay,
   * purge:mid-purge (after each purge batch).
   */
  failpoint?: { name: string; after?: number };
  /** Default retention policy (namespaces without their own); persisted when given. Absent: keep what the store holds (initially everything). */
  retentionDefault?: RetentionPolicy;
  /** How often background history compaction runs (0 = only when compactHistory is called). Default 60 s. */
  compactionIntervalMs?: number;
  /** Events per compaction batch (each one runs between two commit batches). Default 256. */
  compactionBatchEvents?: number;
  /** Pause between compaction batches, milliseconds (bounds compaction's share of I/O). Default 20. */
  compactionPauseMs?: number;
  logger?: EngineLogger;
  observer?: EngineObserver;
}

/** What the store holds in memory, in bytes, by RocksDB's own accounting (its properties). */
export interface StorageMemory {
  memtables: number;
  blockCache: number;
  blockCachePinned: number;
  tableReaders: number;
}

export interface EngineStats {
  openTransactions: number;
  commitTs: bigint;
  /** Storage batches written since open (one per group commit). */
  groupCommits?: number;
  /** Transactions committed since open (duplicates and conflicts excluded). */
  committedTransactions?: number;
  /** Bytes charged to the staged-data budget now. */
  stagedBytes?: number;
  /** False once commits are refused because storage's state could not be re-established (reads go on). */
  writable?: boolean;
  /** Why commits are refused, or null. */
  haltReason?: string | null;
  /** Watch streams waiting for a commit to their agent. */
  watchersWaiting?: number;
  /** Times a waiting watcher was woken by a batch that touched its agent, since open. */
  watcherWakeups?: number;
  /** Events left in the running history compaction pass (estimate; 0 when none runs). */
  compactionBacklogEvents?: number;
  /** Events compacted since open. */
  compactedEvents?: number;
  /** RocksDB's memory now (memtables, block cache, pinned blocks, table readers), bytes; null for the memory backend. */
  storageMemory?: StorageMemory | null;
  /** The commit sequencer's version cache now: entries and estimated heap bytes (at most versionCacheBytes). */
  versionCache?: { entries: number; bytes: number };
  /** Commits waiting for the single writer now. */
  commitQueue?: number;
  /** RocksDB's write-stall and compaction figures now; null for the memory backend. */
  storageStatus?: StorageStatus | null;
}

export type RocksLogLevel = "off" | "fatal" | "error" | "warn" | "info" | "debug";

/** How a RocksDB store makes a batch durable without stopping the event loop (storage/rocks-kv.ts). */
export type RocksWriterMode = "wal-sync" | "thread";

/** RocksDB's own figures (its properties); NaN while the store is being reopened. */
export interface StorageStatus {
  /** 1 while RocksDB stops writes (too many memtables or L0 files, or too much pending compaction), else 0. */
  writeStopped: number;
  /** Bytes/s RocksDB slows writes to while it delays them; 0 when it does not. */
  delayedWriteRate: number;
  /** Bytes compaction would have to rewrite to bring every level under its target. */
  pendingCompactionBytes: number;
  /** SST files in level 0 (RocksDB slows writes at 20, stops them at 36 by default). */
  level0Files: number;
  runningCompactions: number;
  runningFlushes: number;
  /** Bytes of all SST files, and of the WAL files. */
  sstBytes: number;
}

/** The engine: one logical writer, many readers. Obtain one with `openEngine`. */
export interface Engine {
  /** What recovery did when the engine opened. */
  readonly recovery: RecoveryReport;

  /** Starts a server-side transaction; returns its engine-assigned id. */
  begin(options?: { timeoutMs?: number }): string;
  /** Stages a write (validated at once). Last operation on a key inside one transaction wins. */
  stageWrite(txnId: string, ref: RecordRef, value: JsonObject): void;
  /** Stages a delete. */
  stageDelete(txnId: string, ref: RecordRef): void;
  /** Commits the transaction's staged operations plus `options.operations`, atomically and durably. */
  commit(txnId: string, options?: CommitOptions): Promise<CommitResult>;
  /**
   * Reads the latest state through the transaction and records the version seen; the commit
   * fails with CONFLICT if that key changed before it (optimistic concurrency).
   */
  read(txnId: string, ref: RecordRef): Promise<StateRecord>;
  /** Aborts; idempotent (unknown, expired, aborted ids are fine; a committed one too). */
  abort(txnId: string): void;
  /** One-shot transaction: operations + preconditions + idempotency key. */
  transact(options: CommitOptions): Promise<CommitResult>;

  get(ref: RecordRef): Promise<StateRecord>;
  /** Throws EngineError VERSION_NOT_FOUND when that version never existed. */
  getAtVersion(ref: RecordRef, version: bigint): Promise<StateRecord>;
  /** State of one key as of commitTs (its latest version with commit_ts <= commitTs). */
  getAsOf(ref: RecordRef, commitTs: bigint): Promise<StateRecord>;
  // As-of reads (getAsOf, getAgentAsOf, getAgentAsOfPage) of a commitTs beyond the current one fail with INVALID_ARGUMENT.
  /** Every key of the agent that existed as of commitTs, in key order. */
  getAgentAsOf(namespace: string, agentId: string, commitTs: bigint): Promise<StateEntry[]>;
  /** Existing keys of the agent, in key order. */
  listKeys(namespace: string, agentId: string): Promise<string[]>;
  /** Existing records of the agent whose key starts with prefix, in key order. */
  scanPrefix(namespace: string, agentId: string, prefix: string): Promise<StateEntry[]>;
  /**
   * One page of the agent's existing keys (optionally only those with `prefix`), in key order;
   * values are never decoded. Each page reads one consistent view; a key that exists through
   * the whole paging appears exactly once.
   */
  listKeysPage(namespace: string, agentId: string, options?: ListKeysPageOptions): Promise<Page<string>>;
  /** One page of `scanPrefix`. */
  scanPrefixPage(namespace: string, agentId: string, prefix: string, options?: PageOptions): Promise<Page<StateEntry>>;
  /** One page of `getAgentAsOf`: history does not change, so the pages of one commitTs are one consistent view. */
  getAgentAsOfPage(namespace: string, agentId: string, commitTs: bigint, options?: PageOptions): Promise<Page<StateEntry>>;
  /** One page of the namespaces that hold an agent's history, in byte order; `after` is the last namespace of the previous page. */
  listNamespaces(options?: CatalogPageOptions): Promise<Page<NamespaceInfo>>;
  /** One page of a namespace's agents (every agent that ever committed) with key counts and last commit, in byte order. */
  listAgents(namespace: string, options?: CatalogPageOptions): Promise<Page<AgentInfo>>;
  /**
   * The agent's committed events in commit_ts order (newest first with `reverse`); constant
   * memory, backpressure by pull.
   */
  replay(namespace: string, agentId: string, options?: ReplayOptions): AsyncIterable<AgentEvent>;
  /** Replay from startTs, then follow new commits live; no gap, no duplicate at the switch. Ends on signal or close. */
  watch(namespace: string, agentId: string, options?: WatchOptions): AsyncIterable<AgentEvent>;

  /**
   * A consistent copy of the whole store as of the current commit_ts, read lazily from one
   * storage snapshot while commits go on (backup.ts; restore it with restoreStore).
   */
  backup(options?: { chunkBytes?: number }): Promise<StoreBackup>;

  /** Deletes idempotency keys older than the window now (it also runs by itself); resolves to the number deleted. */
  purgeIdempotencyKeys(): Promise<number>;

  /** The retention policy and horizon that govern a namespace (its own, or the default's). */
  retention(namespace: string): RetentionInfo;
  /** The default and every namespace with its own policy. */
  listRetention(): RetentionInfo[];
  /**
   * Sets a namespace's policy (`null`: the default), durably. A namespace's horizon never moves
   * back: history already compacted stays gone when the policy keeps more.
   */
  setRetentionPolicy(namespace: string | null, policy: RetentionPolicy): Promise<RetentionInfo>;
  /**
   * Erases an agent (or, without agentId, a whole namespace): its state, history, indexes and
   * idempotency keys. Durable and crash-safe: once it started, commits that touch the target
   * are refused (CONFLICT, details.reason "purge_in_progress") and reads answer as if it were
   * gone; an interrupted purge completes at the next open, before the engine serves.
   */
  purge(target: { namespace: string; agentId?: string }): Promise<PurgeResult>;
  /** Runs a history compaction pass now (it also runs by itself); resolves to the events compacted. */
  compactHistory(): Promise<number>;

  /** The latest commit_ts (0 when nothing was ever committed). */
  commitTs(): bigint;
  stats(): EngineStats;
  /** Waits for in-flight commits, stops the reaper and closes storage. Idempotent. */
  close(): Promise<void>;
}
