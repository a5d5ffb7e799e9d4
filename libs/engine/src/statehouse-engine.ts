// The storage-agnostic engine: transactions, commit sequencing, reads, replay and watch
// over an ordered key-value store. Every backend (memory, RocksDB, a shared PostgreSQL) runs exactly this code.
import { openStoreBackup, type StoreBackup } from "./backup.ts";
import { randomUUID } from "node:crypto";
import { agentId as agentIdOf, CommitSequencer, type AppliedBatch, type CommitRequest, type NormalizedPrecondition } from "./commit-sequencer.ts";
import { EngineError } from "./engine-error.ts";
import type { Failpoints } from "./failpoints.ts";
import { compactHistory, type CompactionLimits } from "./history-compaction.ts";
import { isSharedKv } from "./storage/ordered-kv.ts";
import { WriteBarrier } from "./write-barrier.ts";
import { purgeExpiredIdempotencyKeys } from "./idempotency-purge.ts";
import { CatalogReads } from "./catalog-reads.ts";
import { intentOp, refusal, runPurge, touches, type PurgeIntent } from "./purge.ts";
import { PagedReads } from "./paged-reads.ts";
import {
  agentEventKey,
  agentPrefix,
  decodeU64,
  stateKey as stateKeyOf,
  unpooled,
  TABLE_AGENT_EVENT,
  versionKey,
} from "./key-encoding.ts";
import { decodeEvent, decodeStateHeader, decodeStateValue, type StoredEvent } from "./record-codec.ts";
import type { EngineKv, OrderedKv, ReadableKv } from "./storage/ordered-kv.ts";
import { checkPolicy, RetentionTable, type RetentionEntry } from "./retention.ts";
import { compactVersions } from "./version-compaction.ts";
import { operationBytes, StagedBudget } from "./staged-budget.ts";
import { TransactionManager, type RecordedRead, type StagedOperation } from "./transaction-manager.ts";
import type {
  AgentEvent,
  AgentInfo,
  CatalogPageOptions,
  CommitOptions,
  CommitResult,
  Engine,
  EngineLogger,
  EngineObserver,
  EngineStats,
  JsonObject,
  ListKeysPageOptions,
  NamespaceInfo,
  OperationInput,
  Page,
  PageOptions,
  Precondition,
  PurgeResult,
  RecordRef,
  RecoveryReport,
  ReplayOptions,
  RetentionInfo,
  RetentionPolicy,
  StateEntry,
  StateRecord,
  WatchOptions,
} from "./types.ts";
import { checkName, checkRef, checkTimeout, checkTimestamp, serializeValue, toSafeNumber } from "./validation.ts";

export interface EngineCoreOptions {
  kv: EngineKv;
  sync: boolean;
  lastCommitTs: number;
  txTimeoutMs: number;
  maxValueBytes: number;
  observer: EngineObserver | undefined;
  failpoints: Failpoints;
  recovery: RecoveryReport;
  maxStagedBytes: number;
  maxTransactionBytes: number;
  idempotencyWindowMs: number;
  /** How often expired idempotency keys are purged (0 = only when purgeIdempotencyKeys is called). */
  idempotencyPurgeIntervalMs: number;
  clock: () => number;
  /** Heap budget of the commit sequencer's version cache in bytes (0 = none). */
  versionCacheBytes: number;
  logger: EngineLogger | undefined;
  /** Policies and horizons as recovery found them (a fresh table for a new or in-memory store). */
  retention: RetentionTable;
  /** How often history compaction runs by itself (0 = only when compactHistory is called). */
  compactionIntervalMs: number;
  compaction: CompactionLimits;
  /** Called after each applied batch (snapshot scheduling). */
  afterBatch?: (batch: AppliedBatch) => void;
  /** Called during close, after the last commit settled and before storage closes. */
  beforeClose?: () => Promise<void>;
}

const REPLAY_CHUNK = 512;
/** Bytes of events one replay chunk reads from storage, about (large transactions make fewer per chunk). */
const REPLAY_CHUNK_BYTES = 4 * 1024 * 1024;
const EMPTY_STAGED: ReadonlyMap<string, StagedOperation> = new Map();
const EMPTY_READS: ReadonlyMap<string, RecordedRead> = new Map();
const NOT_FOUND: StateRecord = { value: null, version: 0n, commitTs: 0n, exists: false };

export class StatehouseEngine implements Engine {
  readonly recovery: RecoveryReport;
  private readonly kv: EngineKv;
  /** `kv` for reads: on a local store held back while a batch write is in flight (WriteBarrier). */
  private readonly reads: ReadableKv;
  private readonly barrier = new WriteBarrier();
  private readonly txns: TransactionManager;
  private readonly sequencer: CommitSequencer;
  private readonly observer: EngineObserver | undefined;
  private readonly maxValueBytes: number;
  private readonly beforeClose: (() => Promise<void>) | undefined;
  private readonly pages: PagedReads;
  private readonly catalog: CatalogReads;
  private readonly budget: StagedBudget;
  private readonly clock: () => number;
  private readonly idempotencyWindowMs: number;
  private readonly purgeTimer: NodeJS.Timeout | null;
  private purging: Promise<number> | null = null;
  private readonly retentionTable: RetentionTable;
  private readonly logger: EngineLogger | undefined;
  private readonly compaction: CompactionLimits;
  private readonly compactTimer: NodeJS.Timeout | null;
  /** Compaction passes and policy changes, one at a time. */
  private retentionQueue: Promise<unknown> = Promise.resolve();
  private compacting: Promise<number> | null = null;
  private compactionBacklog = 0;
  private compactedEvents = 0;
  private passEvents = 0;
  /** Purges started and not finished: their targets read as gone and refuse commits. */
  private readonly activePurges = new Map<number, PurgeIntent>();
  private lastPurgeId = 0;
  private readonly failpoints: Failpoints;
  /** Watchers waiting for a batch that touches their agent, by agentId(namespace, agent). */
  /** Live watchers waiting for a batch that touches their agent; woken with that batch's first commit_ts. */
  private readonly watchers = new Map<string, Set<(firstTs?: number) => void>>();
  private closing: Promise<void> | null = null;
  private closed = false;
  private groupCommits = 0;
  private committedTransactions = 0;
  private watcherWakeups = 0;

  constructor(options: EngineCoreOptions) {
    this.kv = options.kv;
    this.reads = isSharedKv(options.kv) ? options.kv : this.barrier.guard(options.kv);
    this.recovery = options.recovery;
    this.observer = options.observer;
    this.maxValueBytes = options.maxValueBytes;
    this.beforeClose = options.beforeClose;
    this.catalog = new CatalogReads(this.reads);
    this.pages = new PagedReads(this.reads, async (namespace, agentId, picks) => {
      // The keys of one transaction share its event: load and decode each event once.
      const timestamps = [...new Set(picks.map((p) => p.ts))];
      const events = await this.loadAgentEvents(namespace, agentId, timestamps);
      const byTs = new Map(timestamps.map((ts, i) => [ts, events[i] as StoredEvent]));
      return picks.map((pick) => findOperation(byTs.get(pick.ts) as StoredEvent, namespace, agentId, pick.key)?.value ?? null);
    });
    this.budget = new StagedBudget(options.maxStagedBytes, options.maxTransactionBytes);
    this.clock = options.clock;
    this.idempotencyWindowMs = options.idempotencyWindowMs;
    this.txns = new TransactionManager(options.txTimeoutMs, this.budget, () => this.observer?.onExpire?.());
    const afterBatch = options.afterBatch;
    this.sequencer = new CommitSequencer({
      kv: options.kv,
      barrier: this.barrier,
      sync: options.sync,
      lastCommitTs: options.lastCommitTs,
      failpoints: options.failpoints,
      clock: options.clock,
      idempotencyWindowMs: options.idempotencyWindowMs,
      versionCacheBytes: options.versionCacheBytes,
      logger: options.logger,
      wantsFollowedAgents: () => this.watchers.size > 0,
      refuse: (request) => (this.activePurges.size === 0 ? null : refusal(this.activePurges.values(), request)),
      onApplied: (batch) => {
        this.groupCommits++;
        this.committedTransactions += batch.transactions;
        this.observer?.onGroupCommit?.({ transactions: batch.transactions, operations: batch.operations, durationMs: batch.durationMs });
        this.wakeWatchers(batch.agents, batch.firstTs);
        afterBatch?.(batch);
      },
    });
    const every = options.idempotencyPurgeIntervalMs;
    this.purgeTimer = every > 0 ? setInterval(() => void this.purgeIdempotencyKeys().catch(() => undefined), every) : null;
    this.purgeTimer?.unref();
    this.retentionTable = options.retention;
    this.failpoints = options.failpoints;
    this.logger = options.logger;
    this.compaction = options.compaction;
    const compactEvery = options.compactionIntervalMs;
    this.compactTimer = compactEvery > 0 ? setInterval(() => void this.compactHistory().catch((err: unknown) => options.logger?.warn({ err }, "history compaction failed")), compactEvery) : null;
    this.compactTimer?.unref();
  }

  // ---- transactions -------------------------------------------------------------------

  begin(options: { timeoutMs?: number } = {}): string {
    this.assertOpen();
    const timeout = options.timeoutMs === undefined ? undefined : checkTimeout(options.timeoutMs, "timeoutMs");
    const txn = this.txns.begin(timeout);
    this.observer?.onBegin?.();
    return txn.id;
  }

  stageWrite(txnId: string, ref: RecordRef, value: JsonObject): void {
    this.assertOpen();
    const txn = this.txns.requireOpen(txnId);
    if (value === null) throw new TypeError("stageWrite needs a JSON object value; use stageDelete to delete");
    this.txns.stage(txn, this.stagedOperation(ref, value));
  }

  stageDelete(txnId: string, ref: RecordRef): void {
    this.assertOpen();
    const txn = this.txns.requireOpen(txnId);
    this.txns.stage(txn, this.stagedOperation(ref, null));
  }

  /**
   * Reads the latest state through the transaction and records the version seen: the
   * commit then fails with CONFLICT if that key changed meanwhile (optimistic concurrency).
   */
  async read(txnId: string, ref: RecordRef): Promise<StateRecord> {
    this.assertOpen();
    const txn = this.txns.requireOpen(txnId);
    const checked = checkRef(ref);
    const key = stateKeyOf(checked.namespace, checked.agentId, checked.key);
    const record = await this.get(checked);
    const id = key.toString("latin1");
    // Held until the transaction ends: a key of its own, not a slice that pins a pool slab.
    if (!txn.reads.has(id)) txn.reads.set(id, { ref: checked, stateKey: unpooled(key), id, version: Number(record.version) });
    return record;
  }

  async commit(txnId: string, options: CommitOptions = {}): Promise<CommitResult> {
    this.assertOpen();
    const txn = this.txns.requireOpen(txnId);
    let request: CommitRequest;
    try {
      request = this.commitRequest(txn.id, txn.staged, txn.reads, options);
    } catch (error) {
      this.txns.finish(txn, "aborted");
      throw error;
    }
    txn.status = "committing";
    try {
      const result = await this.submit(request, txn.bytes);
      this.txns.finish(txn, "committed");
      return result;
    } catch (error) {
      this.txns.finish(txn, "aborted");
      throw error;
    }
  }

  abort(txnId: string): void {
    this.assertOpen();
    if (this.txns.abort(txnId)) this.observer?.onAbort?.();
  }

  async transact(options: CommitOptions): Promise<CommitResult> {
    this.assertOpen();
    if (typeof options !== "object" || options === null) throw new TypeError("transact options must be an object");
    // One-shot: nobody else knows the id, so it never enters the transaction table.
    const request = this.commitRequest(randomUUID(), EMPTY_STAGED, EMPTY_READS, options);
    return this.submit(request, 0);
  }

  // ---- reads -----------------------------------------------------------------------------

  async get(ref: RecordRef): Promise<StateRecord> {
    this.assertOpen();
    const { namespace, agentId, key } = checkRef(ref);
    if (this.beingPurged(namespace, agentId)) return NOT_FOUND;
    // Not through `reads`: a record the sequencer has acknowledged needs no wait for the write in flight.
    const [raw] = await this.kv.getMany([stateKeyOf(namespace, agentId, key)]);
    if (raw === undefined) return NOT_FOUND;
    const header = decodeStateHeader(raw);
    // Written by the batch in flight (storage shows it before the write returned): answer once it is acknowledged.
    if (header.commitTs > this.sequencer.committedTs) await this.barrier.settled();
    return { value: decodeStateValue(raw), version: BigInt(header.version), commitTs: BigInt(header.commitTs), exists: header.exists };
  }

  async getAtVersion(ref: RecordRef, version: bigint): Promise<StateRecord> {
    this.assertOpen();
    const checked = checkRef(ref);
    checkTimestamp(version, "version");
    const key = stateKeyOf(checked.namespace, checked.agentId, checked.key);
    const record = version === 0n || this.beingPurged(checked.namespace, checked.agentId) ? undefined : await this.versionRecord(checked, key, toSafeNumber(version));
    if (record === undefined && version > 0n && this.mayMissVersions(checked.namespace)) {
      // A version below the key's current one whose entry is gone was compacted.
      const current = await this.get(checked);
      if (current.version > version) throw this.versionCompactedError(checked, `version ${version}`, current.version);
    }
    if (record === undefined) {
      throw new EngineError("VERSION_NOT_FOUND", `version ${version} of ${checked.agentId}/${checked.key} not found`, {
        details: { namespace: checked.namespace, agentId: checked.agentId, key: checked.key, version: String(version) },
      });
    }
    return record;
  }

  async getAsOf(ref: RecordRef, commitTs: bigint): Promise<StateRecord> {
    this.assertOpen();
    const checked = checkRef(ref);
    const asOf = await this.asOfTs(commitTs);
    this.checkAsOfHorizon(checked.namespace, asOf);
    const record = await this.readAsOf(checked, asOf);
    // Compaction may have passed asOf during the read: then the answer cannot be trusted.
    this.checkAsOfHorizon(checked.namespace, asOf);
    return record;
  }

  private async readAsOf(checked: RecordRef, asOf: number): Promise<StateRecord> {
    if (this.beingPurged(checked.namespace, checked.agentId)) return NOT_FOUND;
    const key = stateKeyOf(checked.namespace, checked.agentId, checked.key);
    const [raw] = await this.reads.getMany([key]);
    if (raw === undefined) return NOT_FOUND;
    const latest = decodeStateHeader(raw);
    if (latest.commitTs <= asOf) {
      return { value: decodeStateValue(raw), version: BigInt(latest.version), commitTs: BigInt(latest.commitTs), exists: latest.exists };
    }
    // Versions and their commit_ts grow together: binary search the version index. A version
    // entry compacted away was superseded at or before the horizon (<= asOf), and the version
    // current at the horizon is kept, so a missing entry counts as "at or before asOf".
    // Keep-versions compaction drops a prefix of the versions too, so the same holds; but there
    // the version current at asOf may be one of them: then the answer is unknown (HISTORY_COMPACTED).
    const compacted = this.mayMissVersions(checked.namespace);
    let lo = 1;
    let hi = latest.version - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const [ts] = await this.reads.getMany([versionKey(key, mid)]);
      if (ts === undefined && compacted) {
        found = mid;
        lo = mid + 1;
        continue;
      }
      if (ts === undefined) throw corruptIndex(`version ${mid} of ${checked.agentId}/${checked.key} missing`);
      if (decodeU64(ts) <= asOf) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found === 0) return NOT_FOUND;
    const record = await this.versionRecord(checked, key, found);
    if (record === undefined && compacted) throw this.versionCompactedError(checked, `an as-of read at commit_ts ${asOf}`, BigInt(latest.version));
    return record ?? NOT_FOUND;
  }

  async getAgentAsOf(namespace: string, agentId: string, commitTs: bigint): Promise<StateEntry[]> {
    return (await this.getAgentAsOfPage(namespace, agentId, commitTs)).items;
  }

  async listKeys(namespace: string, agentId: string): Promise<string[]> {
    return (await this.listKeysPage(namespace, agentId)).items;
  }

  async scanPrefix(namespace: string, agentId: string, prefix: string): Promise<StateEntry[]> {
    return (await this.scanPrefixPage(namespace, agentId, prefix)).items;
  }

  listKeysPage(namespace: string, agentId: string, options?: ListKeysPageOptions): Promise<Page<string>> {
    this.assertOpen();
    if (this.beingPurged(namespace, agentId)) return Promise.resolve(emptyPage<string>());
    return this.pages.listKeys(namespace, agentId, options);
  }

  scanPrefixPage(namespace: string, agentId: string, prefix: string, options?: PageOptions): Promise<Page<StateEntry>> {
    this.assertOpen();
    if (this.beingPurged(namespace, agentId)) return Promise.resolve(emptyPage<StateEntry>());
    return this.pages.scanPrefix(namespace, agentId, prefix, options);
  }

  async getAgentAsOfPage(namespace: string, agentId: string, commitTs: bigint, options?: PageOptions): Promise<Page<StateEntry>> {
    this.assertOpen();
    const asOf = await this.asOfTs(commitTs);
    checkName(namespace, "namespace");
    this.checkAsOfHorizon(namespace, asOf);
    if (this.beingPurged(namespace, agentId)) return emptyPage<StateEntry>();
    const compacted =
      this.retentionTable.entryOf(namespace).versionsDropped === true
        ? (key: string, oldestKept: number) => this.keptVersionsError({ namespace, agentId, key }, `an as-of read at commit_ts ${asOf}`, oldestKept)
        : undefined;
    const page = await this.pages.agentAsOf(namespace, agentId, asOf, options, compacted);
    this.checkAsOfHorizon(namespace, asOf);
    return page;
  }

  listNamespaces(options?: CatalogPageOptions): Promise<Page<NamespaceInfo>> {
    this.assertOpen();
    return this.catalog.namespaces(options);
  }

  listAgents(namespace: string, options?: CatalogPageOptions): Promise<Page<AgentInfo>> {
    this.assertOpen();
    return this.catalog.agents(namespace, options);
  }

  replay(namespace: string, agentId: string, options: ReplayOptions = {}): AsyncIterable<AgentEvent> {
    this.assertOpen();
    checkName(namespace, "namespace");
    checkName(agentId, "agentId");
    const start = options.startTs === undefined ? 1 : Math.max(1, toSafeNumber(checkTimestamp(options.startTs, "startTs")));
    const requestedEnd = options.endTs === undefined ? Infinity : toSafeNumber(checkTimestamp(options.endTs, "endTs"));
    const { limit, reverse } = options;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit <= 0)) throw new TypeError("limit must be a positive integer");
    if (reverse !== undefined && typeof reverse !== "boolean") throw new TypeError("reverse must be a boolean");
    const order = { ...(limit === undefined ? {} : { limit }), reverse: reverse === true };
    // A shared store keeps every event (no retention there): bounded by the store's marker when the replay starts.
    if (isSharedKv(this.kv)) return this.replayUpToCurrent(namespace, agentId, start, requestedEnd, options.signal, order);
    // Bounded by what is committed now: a replay is a consistent, finite view.
    const end = Math.min(requestedEnd, this.sequencer.committedTs);
    const horizon = this.horizonOf(namespace);
    if (start <= horizon && start <= end) {
      // Never a silent skip: from the horizon or before fails, except the newest `limit` events
      // read backwards when all of them are after the horizon.
      if (reverse === true && limit !== undefined) return this.replayNewest(namespace, agentId, horizon, end, limit, options.signal);
      throw this.compactedError(namespace, `replay from commit_ts ${start}`);
    }
    return this.replayRange(namespace, agentId, start, end, options.signal, order);
  }

  watch(namespace: string, agentId: string, options: WatchOptions = {}): AsyncIterable<AgentEvent> {
    this.assertOpen();
    checkName(namespace, "namespace");
    checkName(agentId, "agentId");
    const start = options.startTs === undefined ? null : Math.max(1, toSafeNumber(checkTimestamp(options.startTs, "startTs")));
    if (start !== null && start <= this.horizonOf(namespace)) throw this.compactedError(namespace, `watch from commit_ts ${start}`);
    return this.follow(namespace, agentId, start, options.signal);
  }

  retention(namespace: string): RetentionInfo {
    this.assertOpen();
    checkName(namespace, "namespace");
    const own = this.retentionTable.namespaces.get(namespace);
    return retentionInfo(namespace, own ?? this.retentionTable.defaultEntry, own !== undefined);
  }

  listRetention(): RetentionInfo[] {
    this.assertOpen();
    return this.retentionTable.entries().map(([namespace, entry]) => retentionInfo(namespace, entry, true));
  }

  setRetentionPolicy(namespace: string | null, policy: RetentionPolicy): Promise<RetentionInfo> {
    this.assertOpen();
    if (namespace !== null) checkName(namespace, "namespace");
    const checked = checkPolicy(policy);
    return this.retentionTask(async () => {
      const kv = this.localKv("history retention");
      const table = this.retentionTable;
      // A namespace that followed the default keeps the default's horizon: its history up to it is gone.
      const current = namespace === null ? table.defaultEntry : table.entryOf(namespace);
      const entry: RetentionEntry = { ...current, policy: checked };
      await this.sequencer.runExclusive(() => kv.write([table.entryOp(namespace, entry)], true));
      if (namespace === null) table.defaultEntry = entry;
      else table.namespaces.set(namespace, entry);
      this.logger?.info({ namespace, policy: checked, horizonCommitTs: entry.horizon }, "retention policy set");
      return retentionInfo(namespace, entry, true);
    });
  }

  async purge(target: { namespace: string; agentId?: string }): Promise<PurgeResult> {
    this.assertOpen();
    if (typeof target !== "object" || target === null) throw new TypeError("purge target must be an object");
    const namespace = checkName(target.namespace, "namespace");
    const agentId = target.agentId === undefined ? null : checkName(target.agentId, "agentId");
    const kv = this.localKv("purge");
    const intent: PurgeIntent = { id: Math.max(this.lastPurgeId + 1, this.clock()), namespace, agentId, requestedAtMs: this.clock() };
    this.lastPurgeId = intent.id;
    // From here on the target reads as gone and refuses commits (checked inside each batch).
    this.activePurges.set(intent.id, intent);
    try {
      await this.sequencer.runExclusive(() => kv.write([intentOp(intent)], true));
    } catch (error) {
      this.activePurges.delete(intent.id);
      throw error;
    }
    this.logger?.info({ audit: "purge", purgeId: intent.id, namespace, agentId }, "purge started");
    // A failure after the intent is durable leaves the target refused and hidden; the next open completes it.
    return this.retentionTask(() => this.finishPurge(intent));
  }

  /** Completes the purges an earlier process left unfinished (called by openEngine before the engine is handed out). */
  async resumePurges(intents: readonly PurgeIntent[]): Promise<void> {
    for (const intent of intents) {
      this.activePurges.set(intent.id, intent);
      this.lastPurgeId = Math.max(this.lastPurgeId, intent.id);
    }
    for (const intent of intents) {
      this.logger?.warn({ audit: "purge", purgeId: intent.id, namespace: intent.namespace, agentId: intent.agentId }, "resuming an interrupted purge");
      await this.retentionTask(() => this.finishPurge(intent));
    }
  }

  private async finishPurge(intent: PurgeIntent): Promise<PurgeResult> {
    const result = await runPurge(this.localKv("purge"), this.sequencer, this.retentionTable, intent, this.failpoints, this.logger);
    this.activePurges.delete(intent.id);
    this.observer?.onPurge?.(result);
    return result;
  }

  private beingPurged(namespace: string, agentId: string): boolean {
    if (this.activePurges.size === 0) return false;
    for (const intent of this.activePurges.values()) if (touches(intent, namespace, agentId)) return true;
    return false;
  }

  compactHistory(): Promise<number> {
    this.assertOpen();
    // A shared store keeps every event: there is nothing to compact.
    if (isSharedKv(this.kv)) return Promise.resolve(0);
    const kv = this.kv;
    this.compacting ??= this.retentionTask(async () => {
      const versions = await compactVersions(kv, this.sequencer, this.retentionTable, this.compaction);
      if (versions > 0) this.logger?.info({ versionEntries: versions }, "keep-versions compaction dropped version entries");
      const events = await compactHistory(kv, this.sequencer, this.retentionTable, this.clock(), this.compaction, (progress) => {
        const delta = progress.events - this.passEvents;
        this.passEvents = progress.events;
        this.compactedEvents += delta;
        this.compactionBacklog = progress.backlog;
        if (delta > 0 || progress.backlog === 0) this.observer?.onCompaction?.({ events: delta, backlog: progress.backlog });
      });
      this.passEvents = 0;
      return events;
    }).finally(() => {
      this.compacting = null;
      this.compactionBacklog = 0;
    });
    return this.compacting;
  }

  commitTs(): bigint {
    return BigInt(this.sequencer.committedTs);
  }

  stats(): EngineStats & { groupCommits: number; committedTransactions: number } {
    return {
      openTransactions: this.txns.openCount,
      commitTs: BigInt(this.sequencer.committedTs),
      groupCommits: this.groupCommits,
      committedTransactions: this.committedTransactions,
      stagedBytes: this.budget.stagedBytes,
      writable: this.sequencer.halted === null,
      watchersWaiting: this.watchersWaiting(),
      watcherWakeups: this.watcherWakeups,
      haltReason: this.sequencer.halted?.message ?? null,
      storageMemory: this.kv.memoryUsage?.() ?? null,
      versionCache: this.sequencer.versionCacheUsage(),
      compactionBacklogEvents: this.compactionBacklog,
      compactedEvents: this.compactedEvents,
      commitQueue: this.sequencer.queued,
      storageStatus: this.kv.storageStatus?.() ?? null,
    };
  }

  /** Makes every acknowledged commit durable with one synced write through the writer (used before a snapshot when fsyncOnCommit is off). */
  syncLog(): Promise<void> {
    return this.sequencer.syncLog();
  }

  /**
   * Deletes idempotency keys older than the window (oldest first, through the single writer,
   * so a commit never sees half a purge); resolves to how many were deleted. Runs by itself
   * every `idempotencyPurgeIntervalMs`; one purge at a time.
   */
  backup(options: { chunkBytes?: number } = {}): Promise<StoreBackup> {
    this.assertOpen();
    return openStoreBackup(this.kv, options);
  }

  purgeIdempotencyKeys(): Promise<number> {
    this.assertOpen();
    this.purging ??= purgeExpiredIdempotencyKeys(this.kv, this.sequencer, this.clock() - this.idempotencyWindowMs).finally(() => {
      this.purging = null;
    });
    return this.purging;
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  // ---- internals -------------------------------------------------------------------------

  private async doClose(): Promise<void> {
    this.txns.close();
    if (this.purgeTimer !== null) clearInterval(this.purgeTimer);
    if (this.compactTimer !== null) clearInterval(this.compactTimer);
    await this.purging?.catch(() => undefined);
    await this.retentionQueue.catch(() => undefined);
    await this.sequencer.idle();
    await this.sequencer.stop();
    this.closed = true;
    for (const waiters of this.watchers.values()) for (const wake of waiters) wake();
    this.watchers.clear();
    await this.beforeClose?.();
    await this.kv.close();
  }

  /** Runs a compaction pass or a policy change after the ones before it. */
  private retentionTask<T>(task: () => Promise<T>): Promise<T> {
    const run = this.retentionQueue.then(task, task);
    this.retentionQueue = run.catch(() => undefined);
    return run;
  }

  /** The store, when it is a local one; features not built for a shared store refuse clearly. */
  private localKv(feature: string): OrderedKv {
    if (isSharedKv(this.kv)) {
      throw new EngineError("INVALID_ARGUMENT", `${feature} is not available on a shared (PostgreSQL) store yet: it keeps every event`, { details: { storage: this.kv.kind } });
    }
    return this.kv;
  }

  private horizonOf(namespace: string): number {
    return this.retentionTable.horizonOf(namespace);
  }

  private compactedError(namespace: string, what: string): EngineError {
    const horizon = this.horizonOf(namespace);
    return new EngineError(
      "HISTORY_COMPACTED",
      `${what} is behind the history horizon of namespace ${JSON.stringify(namespace)}: history up to commit_ts ${horizon} is compacted (read from commit_ts ${horizon + 1}, or as of ${horizon} or later)`,
      { details: { namespace, horizon_commit_ts: String(horizon) } },
    );
  }

  /** Whether a version entry below a key's current version may be gone (compacted, not corrupt). */
  private mayMissVersions(namespace: string): boolean {
    const entry = this.retentionTable.entryOf(namespace);
    return entry.horizon > 0 || entry.versionsDropped === true;
  }

  /** HISTORY_COMPACTED for a dropped version of a key whose current version is `currentVersion`. */
  private versionCompactedError(ref: RecordRef, what: string, currentVersion: bigint): EngineError {
    const { policy } = this.retentionTable.entryOf(ref.namespace);
    const oldestKept = policy.kind === "versions" ? currentVersion - BigInt(policy.keepVersions) + 1n : currentVersion;
    return this.keptVersionsError(ref, what, Number(oldestKept > 1n ? oldestKept : 1n));
  }

  /** HISTORY_COMPACTED naming the keep-versions policy and the oldest kept version (the horizon's error under another policy). */
  private keptVersionsError(ref: RecordRef, what: string, oldestKept: number): EngineError {
    const { policy } = this.retentionTable.entryOf(ref.namespace);
    if (policy.kind !== "versions" && this.horizonOf(ref.namespace) > 0) return this.compactedError(ref.namespace, `${what} of ${ref.agentId}/${ref.key}`);
    if (policy.kind !== "versions") {
      return new EngineError("HISTORY_COMPACTED", `${what} of ${ref.agentId}/${ref.key} needs a version compacted by an earlier keep-versions policy of namespace ${JSON.stringify(ref.namespace)}`, {
        details: { namespace: ref.namespace, horizon_commit_ts: "0" },
      });
    }
    return new EngineError(
      "HISTORY_COMPACTED",
      `${what} of ${ref.agentId}/${ref.key} needs a compacted version: namespace ${JSON.stringify(ref.namespace)} keeps the last ${policy.keepVersions} versions per key (version ${oldestKept} and later of this key are kept)`,
      {
        details: {
          namespace: ref.namespace,
          keep_versions: String(policy.keepVersions),
          oldest_kept_version: String(oldestKept),
          horizon_commit_ts: String(this.horizonOf(ref.namespace)),
        },
      },
    );
  }

  /** As-of reads need asOf >= the horizon (the versions current at the horizon are kept). */
  private checkAsOfHorizon(namespace: string, asOf: number): void {
    if (asOf < this.horizonOf(namespace)) throw this.compactedError(namespace, `an as-of read at commit_ts ${asOf}`);
  }

  /** The newest `limit` events after the horizon, newest first; fails when fewer than `limit` are left there. */
  private async *replayNewest(namespace: string, agentId: string, horizon: number, end: number, limit: number, signal?: AbortSignal): AsyncGenerator<AgentEvent> {
    let count = 0;
    for await (const event of this.replayRange(namespace, agentId, horizon + 1, end, signal, { limit, reverse: true })) {
      count++;
      yield event;
    }
    if (count < limit && !aborted(signal)) throw this.compactedError(namespace, `the ${limit} newest events (only ${count} are after the horizon)`);
  }

  private assertOpen(): void {
    if (this.closed || this.closing !== null) throw new EngineError("CLOSED", "engine is closed");
  }

  /**
   * A commit_ts for an as-of read: one that exists now (the same question must get the same
   * answer later). On a shared store "now" is the store's marker, so a commit_ts another
   * engine acknowledged is never refused as future.
   */
  private async asOfTs(commitTs: bigint): Promise<number> {
    const asOf = checkTimestamp(commitTs, "commitTs");
    let current = this.sequencer.committedTs;
    if (asOf > BigInt(current)) current = await this.sequencer.currentCommitTs();
    if (asOf > BigInt(current)) {
      throw new EngineError("INVALID_ARGUMENT", `commit_ts ${asOf} is in the future: the current commit_ts is ${current}`, {
        details: { field: "commit_ts", commitTs: String(asOf), currentCommitTs: String(current) },
      });
    }
    return Number(asOf);
  }

  private stagedOperation(ref: RecordRef, value: JsonObject | null): StagedOperation {
    const checked = checkRef(ref);
    // Held until the transaction ends: a key of its own, not a slice that pins a pool slab.
    const stateKey = unpooled(stateKeyOf(checked.namespace, checked.agentId, checked.key));
    const serialized = value === null ? null : serializeValue(value, this.maxValueBytes);
    return {
      ref: checked,
      stateKey,
      id: stateKey.toString("latin1"),
      valueJson: serialized?.json ?? null,
      bytes: operationBytes(checked.namespace, checked.agentId, checked.key, serialized?.bytes ?? 0),
    };
  }

  private commitRequest(
    txnId: string,
    stagedOps: ReadonlyMap<string, StagedOperation>,
    reads: ReadonlyMap<string, RecordedRead>,
    options: CommitOptions,
  ): CommitRequest {
    if (typeof options !== "object" || options === null) throw new TypeError("commit options must be an object");
    const staged = new Map(stagedOps);
    for (const op of options.operations ?? []) {
      const input = op as OperationInput | null;
      if (typeof input !== "object" || input === null) throw new TypeError("operation must be an object");
      if (input.value !== null && typeof input.value !== "object") throw new TypeError("operation value must be an object or null");
      const next = this.stagedOperation(input, input.value);
      staged.delete(next.id);
      staged.set(next.id, next);
    }
    const preconditions: NormalizedPrecondition[] = [];
    for (const read of reads.values()) {
      preconditions.push({ ref: read.ref, stateKey: read.stateKey, id: read.id, expectedVersion: read.version, mustNotExist: false });
    }
    for (const pre of options.preconditions ?? []) preconditions.push(normalizePrecondition(pre));
    const key = options.idempotencyKey;
    if (key !== undefined) checkName(key, "idempotencyKey");
    return { txnId, operations: [...staged.values()], preconditions, idempotencyKey: key ?? null };
  }

  /**
   * Queues the request for the single writer. `alreadyCharged` bytes (a server-side
   * transaction's staged data) are on the budget already; the rest is charged while queued.
   */
  private async submit(request: CommitRequest, alreadyCharged: number): Promise<CommitResult> {
    let total = 0;
    for (const op of request.operations) total += op.bytes;
    const extra = Math.max(0, total - alreadyCharged);
    this.budget.charge(extra, total);
    const started = performance.now();
    try {
      const outcome = await this.sequencer.submit(request);
      if (!outcome.duplicate) {
        let writes = 0;
        for (const op of request.operations) if (op.valueJson !== null) writes++;
        this.observer?.onCommit?.({
          operations: request.operations.length,
          writes,
          deletes: request.operations.length - writes,
          latencyMs: performance.now() - started,
        });
      }
      return { commitTs: BigInt(outcome.commitTs), duplicate: outcome.duplicate };
    } catch (error) {
      if (error instanceof EngineError && error.code === "CONFLICT") this.observer?.onConflict?.();
      throw error;
    } finally {
      this.budget.release(extra);
    }
  }

  private wakeWatchers(agents: ReadonlySet<string>, firstTs: number): void {
    for (const agent of agents) {
      const waiters = this.watchers.get(agent);
      if (waiters === undefined) continue;
      this.watchers.delete(agent);
      this.watcherWakeups += waiters.size;
      for (const wake of waiters) wake(firstTs);
    }
  }

  private watchersWaiting(): number {
    let n = 0;
    for (const waiters of this.watchers.values()) n += waiters.size;
    return n;
  }

  private async versionRecord(ref: RecordRef, key: Buffer, version: number): Promise<StateRecord | undefined> {
    const [rawTs] = await this.reads.getMany([versionKey(key, version)]);
    if (rawTs === undefined) return undefined;
    const ts = decodeU64(rawTs);
    const [event] = await this.loadAgentEvents(ref.namespace, ref.agentId, [ts]);
    const op = findOperation(event as StoredEvent, ref.namespace, ref.agentId, ref.key);
    if (op === undefined || op.version !== version) throw corruptIndex(`event ${ts} lacks version ${version} of ${ref.agentId}/${ref.key}`);
    return { value: op.value, version: BigInt(version), commitTs: BigInt(ts), exists: op.value !== null };
  }

  /** The agent's part of the events at these commit_ts, from the covering agent-event index. */
  private async loadAgentEvents(namespace: string, agentId: string, timestamps: readonly number[]): Promise<StoredEvent[]> {
    const prefix = agentPrefix(TABLE_AGENT_EVENT, namespace, agentId);
    const raws = await this.reads.getMany(timestamps.map((ts) => agentEventKey(prefix, ts)));
    return raws.map((raw, i) => {
      const ts = timestamps[i] as number;
      if (raw === undefined) throw corruptIndex(`event ${ts} of ${agentId} is missing from its agent index`);
      return decodeEvent(raw, ts);
    });
  }

  /** Events in [start, end]; `order.reverse` reads from the end (newest first), `order.limit` caps the count. */
  private async *replayRange(
    namespace: string,
    agentId: string,
    start: number,
    end: number,
    signal?: AbortSignal,
    order: { limit?: number; reverse?: boolean } = {},
  ): AsyncGenerator<AgentEvent> {
    if (start > end || this.beingPurged(namespace, agentId)) return;
    // Checked right before the iterator is made (no await between): a watch that fell behind a
    // horizon that moved meanwhile fails instead of skipping compacted events.
    if (start <= this.horizonOf(namespace)) throw this.compactedError(namespace, `reading events from commit_ts ${start}`);
    const prefix = agentPrefix(TABLE_AGENT_EVENT, namespace, agentId);
    const iterator = this.reads.iterator({
      gte: agentEventKey(prefix, start),
      lt: agentEventKey(prefix, end + 1),
      valuesOnly: true,
      chunkBytes: REPLAY_CHUNK_BYTES,
      ...(order.reverse === true ? { reverse: true } : {}),
      ...(order.limit === undefined ? {} : { limit: order.limit }),
    });
    const fetchChunk = async (): Promise<StoredEvent[]> => {
      // The agent-event index covers the agent's part of each event: one ordered range scan.
      // Values only: each entry carries its commit_ts, checked against the checksum.
      const rows = await iterator.next(REPLAY_CHUNK);
      return rows.map(([, v]) => decodeEvent(v, null));
    };
    // Two chunks at most in memory: the one being yielded and the one being fetched, so
    // storage latency overlaps with the consumer while memory stays constant.
    let next = fetchChunk();
    try {
      for (;;) {
        const events = await next;
        if (events.length === 0 || aborted(signal) || this.closed) return;
        next = fetchChunk();
        for (const event of events) {
          if (aborted(signal)) return;
          yield toAgentEvent(event, namespace, agentId);
        }
      }
    } finally {
      // Let an in-flight fetch settle before closing its iterator.
      await next.catch(() => undefined);
      iterator.close();
    }
  }

  /** A replay on a shared store: bounded by the store's marker when it starts (commits through every engine). */
  private async *replayUpToCurrent(
    namespace: string,
    agentId: string,
    start: number,
    requestedEnd: number,
    signal: AbortSignal | undefined,
    order: { limit?: number; reverse?: boolean },
  ): AsyncGenerator<AgentEvent> {
    const end = Math.min(requestedEnd, await this.sequencer.currentCommitTs());
    yield* this.replayRange(namespace, agentId, start, end, signal, order);
  }

  private async *follow(namespace: string, agentId: string, startTs: number | null, signal?: AbortSignal): AsyncGenerator<AgentEvent> {
    // No start given: only commits after the call (on a shared store, after the store's marker now).
    let next = startTs ?? (await this.sequencer.currentCommitTs()) + 1;
    const id = agentIdOf(namespace, agentId);
    let wake: ((firstTs?: number) => void) | null = null;
    // A cancelled watcher is unregistered at once, not at the next commit of its agent.
    const onAbort = (): void => {
      if (wake === null) return;
      const waiters = this.watchers.get(id);
      waiters?.delete(wake);
      if (waiters?.size === 0) this.watchers.delete(id);
      wake();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      while (!aborted(signal) && !this.closed) {
        const upTo = this.sequencer.committedTs;
        if (next <= upTo) {
          for await (const event of this.replayRange(namespace, agentId, next, upTo, signal)) yield event;
          next = upTo + 1;
          continue;
        }
        // Nothing new: sleep until a batch touches this agent (registered synchronously after
        // reading committedTs, so no batch can slip between the check and the wait).
        const firstTs = await new Promise<number | undefined>((resolve) => {
          wake = resolve;
          let waiters = this.watchers.get(id);
          if (waiters === undefined) this.watchers.set(id, (waiters = new Set()));
          waiters.add(resolve);
        });
        wake = null;
        // Every batch that touches the agent wakes its waiters, so the agent has no event between
        // `next` and the first commit of the batch that woke us: read from there. Otherwise a
        // watch of a quiet agent would fail with HISTORY_COMPACTED as soon as other agents'
        // commits moved the namespace's horizon past the point where it began to wait.
        if (firstTs !== undefined && firstTs > next) next = firstTs;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

function emptyPage<T>(): Page<T> {
  return { items: [], nextAfter: null, bytes: 0 };
}

function retentionInfo(namespace: string | null, entry: RetentionEntry, explicit: boolean): RetentionInfo {
  return { namespace, policy: entry.policy, explicit, horizonCommitTs: BigInt(entry.horizon) };
}

function normalizePrecondition(pre: Precondition): NormalizedPrecondition {
  if (typeof pre !== "object" || pre === null) throw new TypeError("precondition must be an object");
  const ref = checkRef(pre);
  if (pre.expectedVersion === undefined && pre.mustNotExist !== true) {
    throw new TypeError("precondition needs expectedVersion or mustNotExist: true");
  }
  const stateKey = stateKeyOf(ref.namespace, ref.agentId, ref.key);
  return {
    ref,
    stateKey,
    id: stateKey.toString("latin1"),
    expectedVersion: pre.expectedVersion === undefined ? null : toSafeNumber(checkTimestamp(pre.expectedVersion, "expectedVersion")),
    mustNotExist: pre.mustNotExist === true,
  };
}

function findOperation(event: StoredEvent, namespace: string, agentId: string, key: string): StoredEvent["operations"][number] | undefined {
  return event.operations.find((op) => op.namespace === namespace && op.agentId === agentId && op.key === key);
}

function toAgentEvent(event: StoredEvent, namespace: string, agentId: string): AgentEvent {
  const operations = [];
  for (const op of event.operations) {
    if (op.namespace === namespace && op.agentId === agentId) operations.push({ key: op.key, value: op.value, version: BigInt(op.version) });
  }
  return { txnId: event.txnId, commitTs: BigInt(event.commitTs), committedAtMs: event.committedAtMs, namespace, agentId, operations };
}

/** A function, not an inline check: TypeScript would keep a stale narrowing across awaits. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function corruptIndex(what: string): EngineError {
  return new EngineError("CORRUPTION", `index inconsistent: ${what}`);
}
