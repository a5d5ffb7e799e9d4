// The single logical writer. Commits queue up; one flush per event-loop turn turns every
// queued commit into ONE atomic storage batch (group commit), written with sync when
// fsyncOnCommit is on. A commit's promise settles only after the batch holding it returned.
//
// On a local store the batch's cache-miss reads and its write are asynchronous (the write and
// its fsync run on RocksKv's writer thread), so the event loop serves requests meanwhile. One
// batch is in flight at a time: what arrives during a write queues and forms the next batch,
// which is numbered from `committed` only after the previous write settled. Reads that
// arrive during a write are held back until it settled (WriteBarrier), and the version cache
// learns a batch only once it is durable.
//
// After a write that threw, what storage holds is unknown (the WAL append may have
// succeeded while its fsync failed, and RocksDB replays it on reopen). Before numbering
// another transaction the sequencer therefore re-establishes the truth from storage
// (reopen, read the durable commit_ts marker, drop every cached version): a batch that
// turns out durable is reconciled (numbering continues after it), and evidence that storage
// went backwards halts commits with CORRUPTION. No commit_ts or version is handed out twice.
//
// On a shared store (several engines on one PostgreSQL, docs/cluster.md) the same batch is
// built from what the store holds under its global commit lock: the commit_ts marker and
// every key the batch reads come back in the one round trip that takes the lock, the batch
// is numbered from that marker, and commit releases the lock. One batch is in flight per
// engine; what arrives meanwhile forms the next one. Other engines' batches reach this
// engine's watchers through the store's commit announcements (`follow`).
import { EngineError } from "./engine-error.ts";
import type { Failpoints } from "./failpoints.ts";
import { WriteBarrier } from "./write-barrier.ts";
import {
  contentFingerprint,
  decodeIdempotency,
  idempotencyScope,
  indexEntries,
  type IdempotencyRecord,
} from "./index-entries.ts";
import { decodeU64, encodeU64, eventKey, idempotencyKey as idempotencyKeyOf, metaKey } from "./key-encoding.ts";
import { decodeEvent, decodeStateHeader, type EncodableOperation } from "./record-codec.ts";
import { isSharedKv, type EngineKv, type KvOp, type LockedBatch, type OrderedKv, type SharedKv } from "./storage/ordered-kv.ts";
import { storageError } from "./storage/storage-error.ts";
import type { StagedOperation } from "./transaction-manager.ts";
import { VersionCache, type KeyState } from "./version-cache.ts";
import type { EngineLogger, RecordRef } from "./types.ts";

export const META_COMMIT_TS = metaKey("commit_ts");

export interface NormalizedPrecondition {
  ref: RecordRef;
  stateKey: Buffer;
  id: string;
  expectedVersion: number | null;
  mustNotExist: boolean;
}

export interface CommitRequest {
  txnId: string;
  operations: readonly StagedOperation[];
  preconditions: readonly NormalizedPrecondition[];
  idempotencyKey: string | null;
}

export interface CommitOutcome {
  commitTs: number;
  duplicate: boolean;
}

export interface AppliedBatch {
  transactions: number;
  operations: number;
  firstTs: number;
  lastTs: number;
  durationMs: number;
  /** The (namespace, agent) pairs the batch wrote, as `agentId(namespace, agentId)` strings. */
  agents: ReadonlySet<string>;
}

export interface SequencerOptions {
  kv: EngineKv;
  sync: boolean;
  lastCommitTs: number;
  failpoints: Failpoints;
  /** Milliseconds since the epoch (injectable for tests). */
  clock: () => number;
  /** How long an idempotency key is honoured. */
  idempotencyWindowMs: number;
  logger: EngineLogger | undefined;
  onApplied: (batch: AppliedBatch) => void;
  /** Checked for every request inside its batch: an error refuses it (e.g. it touches data being purged). */
  refuse?: (request: CommitRequest) => EngineError | null;
  /** Held by every local write (batches and exclusive tasks) while in flight; readers pass their results through it. */
  barrier?: WriteBarrier;
  /** Heap budget of the version cache in bytes (0 = none). */
  versionCacheBytes: number;
  /**
   * On a shared store: whether anything waits on the agents of other engines' commits (a
   * registered watcher). When nothing does, following skips reading their events and only moves
   * `committedTs` (a watcher that registers later replays from storage up to it). Default: always.
   */
  wantsFollowedAgents?: () => boolean;
}

interface Pending {
  request: CommitRequest;
  resolve: (outcome: CommitOutcome) => void;
  reject: (error: unknown) => void;
}

interface Exclusive {
  run: () => void | Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}


type Verdict = { ok: true; outcome: CommitOutcome } | { ok: false; error: EngineError };

/** The keys a batch must read before it can be numbered. */
interface ReadPlan {
  stateKeys: Map<string, Buffer>;
  idemKeys: Map<string, Buffer>;
  /** State key ids not in the version cache, in the order of `toRead`. */
  missing: string[];
  cached: Map<string, KeyState>;
  toRead: Buffer[];
}

interface CurrentState {
  keyStates: Map<string, KeyState>;
  idempotent: Map<string, IdempotencyRecord>;
}

/** A batch numbered from `base`: the storage operations and one verdict per request. */
interface NumberedBatch {
  ops: KvOp[];
  verdicts: Verdict[];
  keyStates: Map<string, KeyState>;
  lastTs: number;
  applied: number;
  operations: number;
  agents: Set<string>;
  started: number;
}

/** Events read per chunk while following other engines' commits. */
const FOLLOW_CHUNK = 256;

/** One string per (namespace, agent), unambiguous for any names. */
export function agentId(namespace: string, agent: string): string {
  return `${namespace.length}:${namespace}${agent}`;
}

/** Silent data damage is worse than a stopped writer: a violated invariant halts commits. */
function invariant(condition: boolean, what: string): asserts condition {
  if (!condition) throw new EngineError("CORRUPTION", `commit sequencer invariant violated: ${what}`, { details: { invariant: what } });
}

function outcomeUnknown(cause: unknown): EngineError {
  const base = storageError(cause);
  return new EngineError(
    base.code,
    `${base.message}; the outcome of this commit is unknown (it may have been applied): retry with the same idempotency key to find out`,
    { cause, details: { ...base.details, outcome: "unknown" } },
  );
}

export class CommitSequencer {
  private queue: Pending[] = [];
  private exclusive: Exclusive[] = [];
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private committed: number;
  /** True after a write threw: storage must be re-read before the next transaction is numbered. */
  private suspect = false;
  /** Set when the truth could not be re-established or an invariant broke: commits are refused, reads go on. */
  private haltedBy: EngineError | null = null;
  /** Versions of recently touched keys as stored by returned batches (the sequencer is the only writer). */
  private readonly cache: VersionCache;
  private readonly kv: OrderedKv;
  /** Set on a shared store: `kv` is then unused, every write goes through `shared.lock`. */
  private readonly shared: SharedKv | null;
  /** Highest commit_ts marker seen under the lock or announced (a shared store's marker never goes back). */
  private highestSeen: number;
  /** Serialises announcements: watchers see other engines' batches in commit_ts order. */
  private following: Promise<void> = Promise.resolve();
  private followsPending = 0;
  private readonly unsubscribe: () => void;
  private readonly sync: boolean;
  private readonly failpoints: Failpoints;
  private readonly clock: () => number;
  private readonly idempotencyWindowMs: number;
  private readonly logger: EngineLogger | undefined;
  private readonly onApplied: (batch: AppliedBatch) => void;
  private readonly refuse: ((request: CommitRequest) => EngineError | null) | undefined;
  private readonly barrier: WriteBarrier;
  private readonly wantsFollowedAgents: () => boolean;

  constructor(options: SequencerOptions) {
    this.wantsFollowedAgents = options.wantsFollowedAgents ?? (() => true);
    this.shared = isSharedKv(options.kv) ? options.kv : null;
    this.kv = options.kv as OrderedKv;
    this.sync = options.sync;
    this.committed = options.lastCommitTs;
    this.highestSeen = options.lastCommitTs;
    this.unsubscribe = this.shared?.onCommitted((ts) => this.follow(ts)) ?? (() => undefined);
    this.failpoints = options.failpoints;
    this.clock = options.clock;
    this.idempotencyWindowMs = options.idempotencyWindowMs;
    this.logger = options.logger;
    this.onApplied = options.onApplied;
    this.refuse = options.refuse;
    this.barrier = options.barrier ?? new WriteBarrier();
    this.cache = new VersionCache(options.versionCacheBytes);
  }

  /** Forgets the cached versions (call from runExclusive after deleting state entries behind the writer's back). */
  dropCache(): void {
    this.cache.clear();
  }

  /** Commits waiting for the writer now (the next group commit's candidates). */
  get queued(): number {
    return this.queue.length + this.exclusive.length;
  }

  /** commit_ts of the last batch that returned from storage (on a shared store: the last one this engine has followed). */
  get committedTs(): number {
    return this.committed;
  }

  /**
   * The commit_ts every reader may rely on now: on a local store `committedTs`; on a shared
   * store the marker read from the store (so a commit acknowledged by another engine is
   * included: linearizable reads), after which this engine follows up to it.
   */
  async currentCommitTs(): Promise<number> {
    if (this.shared === null) return this.committed;
    const [raw] = await this.shared.getMany([META_COMMIT_TS]);
    const marker = raw === undefined ? 0 : decodeU64(raw);
    this.follow(marker);
    return Math.max(marker, this.committed);
  }

  /** Stops following a shared store's announcements and waits for the one in progress (close). */
  async stop(): Promise<void> {
    this.unsubscribe();
    await this.following;
  }

  /** Why commits are refused, or null while the writer works. */
  get halted(): EngineError | null {
    return this.haltedBy;
  }

  submit(request: CommitRequest): Promise<CommitOutcome> {
    return new Promise<CommitOutcome>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Runs `run` between two batches, never during one: no batch is numbered or written until
   * it returned (or, when it returns a promise, until that settled). It may read and write
   * storage, synchronously or asynchronously; readers are held back while it runs.
   */
  runExclusive(run: () => void | Promise<void>): Promise<void> {
    if (this.shared !== null) return Promise.reject(new Error("runExclusive is for local stores; on a shared store take its lock"));
    return new Promise<void>((resolve, reject) => {
      this.exclusive.push({ run, resolve, reject });
      this.schedule();
    });
  }

  /** One synced write of the commit_ts marker: with it, every batch returned so far is durable. */
  syncLog(): Promise<void> {
    // A shared store's commit is durable when it returns (the database's own synchronous commit).
    if (this.shared !== null) return Promise.resolve();
    return this.runExclusive(() => this.kv.write([{ type: "put", key: META_COMMIT_TS, value: encodeU64(this.committed) }], true));
  }

  /** Resolves once every submitted commit has settled. */
  idle(): Promise<void> {
    if (!this.scheduled && this.queue.length === 0 && this.exclusive.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the I/O poll phase: every commit that arrived in this
    // loop turn (network events, resolved awaits) joins the same batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.haltedBy !== null) {
      this.failAll(this.haltedBy);
      return;
    }
    if (this.shared !== null) {
      void this.flushShared(this.shared);
      return;
    }
    void this.flushLocal();
  }

  private failAll(error: EngineError): void {
    this.scheduled = false;
    const batch = this.queue;
    const tasks = this.exclusive;
    this.queue = [];
    this.exclusive = [];
    for (const pending of batch) pending.reject(error);
    for (const task of tasks) task.reject(error);
    this.notifyIdle();
  }

  /**
   * Re-establishes what storage holds after a failed or uncertain write: reopen (RocksDB
   * replays its WAL), read the durable commit_ts marker, drop every cached version. A batch
   * reported failed that is durable after all is reconciled; a marker behind what was
   * acknowledged halts commits. Rejects (and stays suspect) while storage cannot be reopened.
   */
  private async reconcile(): Promise<void> {
    await this.kv.repair();
    this.cache.clear();
    const [raw] = await this.kv.getMany([META_COMMIT_TS]);
    const durable = raw === undefined ? 0 : decodeU64(raw);
    if (durable < this.committed) {
      this.haltedBy = new EngineError(
        "CORRUPTION",
        `after a failed write storage holds commit_ts ${durable}, but ${this.committed} was acknowledged: commits refused (reads go on); restart to run recovery`,
        { details: { durableCommitTs: String(durable), acknowledgedCommitTs: String(this.committed) } },
      );
      this.logger?.error({ durableCommitTs: durable, acknowledgedCommitTs: this.committed }, "storage went back after a failed write: commits halted");
      throw this.haltedBy;
    }
    if (durable > this.committed) await this.adoptDurable(durable);
    this.suspect = false;
  }

  /** A batch reported failed turned out durable: its events are in the log, so numbering continues after them. */
  private async adoptDurable(durable: number): Promise<void> {
    const firstTs = this.committed + 1;
    const keys: Buffer[] = [];
    for (let ts = firstTs; ts <= durable; ts++) keys.push(eventKey(ts));
    const agents = new Set<string>();
    let operations = 0;
    (await this.kv.getMany(keys)).forEach((raw, i) => {
      if (raw === undefined) {
        this.haltedBy = new EngineError("CORRUPTION", `commit_ts marker is ${durable} but event ${firstTs + i} is missing: commits refused; restart to run recovery`);
        throw this.haltedBy;
      }
      const event = decodeEvent(raw, firstTs + i);
      operations += event.operations.length;
      for (const op of event.operations) agents.add(agentId(op.namespace, op.agentId));
    });
    this.logger?.warn({ firstTs, lastTs: durable }, "a batch reported failed is durable after all: reconciled, numbering continues after it");
    this.committed = durable;
    this.emitApplied({ transactions: durable - firstTs + 1, operations, firstTs, lastTs: durable, durationMs: 0, agents });
  }

  /**
   * One local flush: reconcile if a write failed, the exclusive tasks, then one batch. The
   * flush stays `scheduled` until its write settled, so what is submitted meanwhile waits for
   * the next flush (one write in flight, numbering after the previous one settled).
   */
  private async flushLocal(): Promise<void> {
    try {
      if (this.suspect || this.kv.broken) {
        try {
          await this.reconcile();
        } catch (cause) {
          this.failAll(reconcileFailed(cause));
          return;
        }
      }
      const tasks = this.exclusive;
      this.exclusive = [];
      for (const task of tasks) await this.runTask(task);
      const batch = this.queue;
      this.queue = [];
      if (batch.length > 0) await this.writeBatch(batch);
    } finally {
      this.scheduled = false;
      if (this.queue.length > 0 || this.exclusive.length > 0) this.schedule();
      else this.notifyIdle();
    }
  }

  private async runTask(task: Exclusive): Promise<void> {
    if (this.suspect || this.haltedBy !== null) {
      task.reject(this.haltedBy ?? new EngineError("STORAGE_ERROR", "storage is being re-established after a failed write"));
      return;
    }
    this.barrier.begin();
    try {
      await task.run();
      task.resolve();
    } catch (error) {
      // A maintenance write failed: what storage holds is uncertain again.
      this.suspect = true;
      task.reject(storageError(error));
    } finally {
      this.barrier.end();
    }
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.exclusive.length > 0 || this.scheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.suspect || this.haltedBy !== null) {
      // A task of this flush failed: the next flush reconciles first.
      const error = this.haltedBy ?? new EngineError("STORAGE_ERROR", "storage is being re-established after a failed write; retry");
      for (const pending of batch) pending.reject(error);
      return;
    }
    let current: CurrentState;
    try {
      const plan = this.readPlan(batch, true);
      current = decodeCurrent(plan, plan.toRead.length === 0 ? [] : await this.kv.getMany(plan.toRead));
    } catch (cause) {
      // Reading the current versions failed: nothing was written, nothing is uncertain.
      const error = storageError(cause);
      for (const pending of batch) pending.reject(error);
      return;
    }
    try {
      await this.numberAndWrite(batch, current);
    } catch (error) {
      // Only an invariant can get here (the write's own failure is handled inside).
      this.haltedBy = error instanceof EngineError ? error : storageError(error);
      this.logger?.error({ err: this.haltedBy }, "commit sequencer halted");
      for (const pending of batch) pending.reject(this.haltedBy);
    }
  }

  private async numberAndWrite(batch: Pending[], current: CurrentState): Promise<void> {
    const base = this.committed;
    const { ops, verdicts, keyStates, lastTs: ts, applied, operations, agents, started } = this.number(batch, current, base);
    if (applied === 0) {
      settle(batch, verdicts);
      return;
    }
    ops.push({ type: "put", key: META_COMMIT_TS, value: encodeU64(ts) });
    this.failpoints.hit("commit:before-sync");
    this.barrier.begin();
    try {
      try {
        await this.kv.write(ops, this.sync);
      } catch (cause) {
        // The write may or may not be durable: the next flush re-reads storage first.
        this.suspect = true;
        this.cache.clear();
        const error = outcomeUnknown(cause);
        for (const pending of batch) pending.reject(error);
        return;
      }
      // Nothing else writes or numbers while this flush is in flight.
      invariant(this.committed === base, "no batch numbered during another's write");
      invariant(ts > base, "commit_ts strictly increasing");
      this.committed = ts;
      this.remember(keyStates);
      this.failpoints.hit("commit:after-sync-before-reply");
      this.emitApplied({ transactions: applied, operations, firstTs: base + 1, lastTs: ts, durationMs: performance.now() - started, agents });
      settle(batch, verdicts);
    } finally {
      this.barrier.end();
    }
  }

  /**
   * A shared store's batch: take the global commit lock and read the marker and the batch's
   * keys (one round trip), number from the marker, write and release (one more). Numbering
   * comes from the store under its lock, never from this process's memory, so an engine that
   * lost a batch's outcome (connection cut at COMMIT) can never hand its commit_ts out again.
   */
  private async flushShared(shared: SharedKv): Promise<void> {
    const tasks = this.exclusive;
    this.exclusive = [];
    for (const task of tasks) task.reject(new Error("runExclusive is for local stores"));
    const batch = this.queue;
    this.queue = [];
    try {
      if (batch.length > 0) await this.writeSharedBatch(shared, batch);
    } finally {
      this.scheduled = false;
      if (this.queue.length > 0) this.schedule();
      else this.notifyIdle();
    }
  }

  private async writeSharedBatch(shared: SharedKv, batch: Pending[]): Promise<void> {
    const plan = this.readPlan(batch, false);
    let locked: LockedBatch;
    try {
      locked = await shared.lock([META_COMMIT_TS, ...plan.toRead]);
    } catch (cause) {
      // Nothing was written: the lock or the reads failed.
      const error = storageError(cause);
      for (const pending of batch) pending.reject(error);
      return;
    }
    let numbered: NumberedBatch;
    let base: number;
    try {
      const [rawMarker, ...values] = locked.values;
      base = rawMarker === undefined ? 0 : decodeU64(rawMarker);
      if (base < this.highestSeen) {
        // The database lost commits it had acknowledged (e.g. failed over to a replica that was behind).
        this.haltedBy = new EngineError(
          "CORRUPTION",
          `the database's commit_ts marker is ${base}, but ${this.highestSeen} was committed before: it lost acknowledged commits (failover to a lagging replica?); commits refused, reads go on`,
          { details: { durableCommitTs: String(base), acknowledgedCommitTs: String(this.highestSeen) } },
        );
        throw this.haltedBy;
      }
      numbered = this.number(batch, decodeCurrent(plan, values), base);
    } catch (error) {
      await locked.release().catch(() => undefined);
      this.haltedBy ??= error instanceof EngineError ? error : storageError(error);
      this.logger?.error({ err: this.haltedBy }, "commit sequencer halted");
      for (const pending of batch) pending.reject(this.haltedBy);
      return;
    }
    const { ops, verdicts, lastTs, applied, operations, agents, started } = numbered;
    if (applied === 0) {
      await locked.release().catch(() => undefined);
      settle(batch, verdicts);
      return;
    }
    ops.push({ type: "put", key: META_COMMIT_TS, value: encodeU64(lastTs) });
    this.failpoints.hit("commit:before-sync");
    try {
      await locked.commit(ops, lastTs);
    } catch (cause) {
      const error = outcomeUnknown(cause);
      for (const pending of batch) pending.reject(error);
      return;
    }
    invariant(lastTs > base, "commit_ts strictly increasing");
    this.highestSeen = Math.max(this.highestSeen, lastTs);
    this.failpoints.hit("commit:after-sync-before-reply");
    const own = { transactions: applied, operations, firstTs: base + 1, lastTs, durationMs: performance.now() - started, agents };
    if (base === this.committed) {
      // Nothing committed elsewhere since this engine's view: announce at once, as a local store
      // does (a follow already under way for this batch's own NOTIFY finds it announced).
      this.committed = lastTs;
      this.emitApplied(own);
    } else if (lastTs > this.committed) {
      this.follow(lastTs, own);
    }
    settle(batch, verdicts);
  }

  /**
   * Moves this engine's view of a shared store forward to `upTo`, announcing every batch in
   * between to the watchers in commit_ts order: other engines' batches are read from the log
   * (their agents), this engine's own (`own`) is known. Serialised; a failed read is retried
   * by the next announcement (the store repeats the marker after a reconnect).
   */
  private follow(upTo: number, own?: AppliedBatch): void {
    if (upTo <= this.committed && this.followsPending === 0) return;
    this.followsPending++;
    this.following = this.following
      .then(() => this.advance(upTo, own))
      .catch((error: unknown) => this.logger?.warn({ err: error, upTo }, "could not follow the shared store's commits yet"))
      .finally(() => {
        this.followsPending--;
      });
  }

  private async advance(upTo: number, own: AppliedBatch | undefined): Promise<void> {
    const shared = this.shared;
    if (shared === null || upTo <= this.committed) return;
    this.highestSeen = Math.max(this.highestSeen, upTo);
    const othersUpTo = own === undefined ? upTo : own.firstTs - 1;
    while (this.committed < othersUpTo) {
      const firstTs = this.committed + 1;
      if (!this.wantsFollowedAgents()) {
        // No watcher waits (checked and acted on synchronously, so none can register in between):
        // the events' agents wake nobody, so they are not read. Every commit up to othersUpTo is
        // durable (announced after COMMIT), and a watcher that registers later replays them.
        this.committed = othersUpTo;
        this.emitApplied({ transactions: othersUpTo - firstTs + 1, operations: 0, firstTs, lastTs: othersUpTo, durationMs: 0, agents: new Set() });
        break;
      }
      const iterator = shared.iterator({ gte: eventKey(firstTs), lt: eventKey(othersUpTo + 1), limit: FOLLOW_CHUNK, valuesOnly: true });
      let rows;
      try {
        rows = await iterator.next(FOLLOW_CHUNK);
      } finally {
        iterator.close();
      }
      if (rows.length === 0) throw new Error(`events ${firstTs}..${othersUpTo} are not readable yet`);
      // This engine's own batch was announced while the events were read: start again from there.
      if (this.committed !== firstTs - 1) continue;
      const agents = new Set<string>();
      let operations = 0;
      let ts = this.committed;
      for (const [, raw] of rows) {
        const event = decodeEvent(raw, ts + 1);
        ts = event.commitTs;
        operations += event.operations.length;
        for (const op of event.operations) agents.add(agentId(op.namespace, op.agentId));
      }
      invariant(ts === firstTs + rows.length - 1, "a shared store's log is gap-free");
      this.committed = ts;
      this.emitApplied({ transactions: rows.length, operations, firstTs, lastTs: ts, durationMs: 0, agents });
    }
    if (own !== undefined && own.lastTs > this.committed) {
      invariant(own.firstTs === this.committed + 1, "own batch follows the last followed commit_ts");
      this.committed = own.lastTs;
      this.emitApplied(own);
    }
  }

  /** Numbers the batch's transactions after `base`; pure apart from the clock (no storage access). */
  private number(batch: readonly Pending[], { keyStates, idempotent }: CurrentState, base: number): NumberedBatch {
    const started = performance.now();
    const ops: KvOp[] = [];
    const verdicts: Verdict[] = [];
    const committedAtMs = this.clock();
    const agents = new Set<string>();
    let ts = base;
    let operations = 0;
    let applied = 0;

    for (const { request } of batch) {
      const encodable = request.operations.map((op): EncodableOperation => ({
        namespace: op.ref.namespace,
        agentId: op.ref.agentId,
        key: op.ref.key,
        version: (keyStates.get(op.id)?.version ?? 0) + 1,
        valueJson: op.valueJson,
      }));
      let idemId: string | null = null;
      let fingerprint: Buffer | undefined;
      if (request.idempotencyKey !== null) {
        fingerprint = contentFingerprint(encodable);
        idemId = idempotencyKeyOf(idempotencyScope(encodable), request.idempotencyKey).toString("latin1");
        const previous = idempotent.get(idemId);
        if (previous !== undefined && previous.createdAtMs + this.idempotencyWindowMs > committedAtMs) {
          verdicts.push(
            previous.fingerprint.equals(fingerprint)
              ? { ok: true, outcome: { commitTs: previous.commitTs, duplicate: true } }
              : { ok: false, error: keyReused(request.idempotencyKey, idempotencyScope(encodable), previous.commitTs) },
          );
          continue;
        }
      }
      const conflict = this.refuse?.(request) ?? checkPreconditions(request.preconditions, keyStates);
      if (conflict !== null) {
        verdicts.push({ ok: false, error: conflict });
        continue;
      }
      let entries;
      try {
        entries = indexEntries({ txnId: request.txnId, commitTs: ts + 1, committedAtMs, idempotencyKey: request.idempotencyKey, operations: encodable, ...(fingerprint === undefined ? {} : { fingerprint }) });
      } catch (cause) {
        // Too large to encode (V8's string limit): this transaction fails alone.
        verdicts.push({ ok: false, error: tooLargeToEncode(cause) });
        continue;
      }
      ts++;
      applied++;
      for (const entry of entries) ops.push({ type: "put", key: entry.key, value: entry.value });
      request.operations.forEach((op, i) => {
        keyStates.set(op.id, { version: (encodable[i] as EncodableOperation).version, exists: op.valueJson !== null });
        agents.add(agentId(op.ref.namespace, op.ref.agentId));
      });
      operations += encodable.length;
      if (idemId !== null && fingerprint !== undefined) idempotent.set(idemId, { commitTs: ts, createdAtMs: committedAtMs, fingerprint });
      verdicts.push({ ok: true, outcome: { commitTs: ts, duplicate: false } });
    }
    invariant(verdicts.length === batch.length, "one verdict per request");
    invariant(ts === base + applied, "commit_ts dense: committed + applied");
    return { ops, verdicts, keyStates, lastTs: ts, applied, operations, agents, started };
  }

  private emitApplied(batch: AppliedBatch): void {
    try {
      this.onApplied(batch);
    } catch {
      // Observers must not throw; the batch is durable whatever they do.
    }
  }

  /** Keeps the versions the batch saw or wrote (durable now) so hot keys need no storage read. */
  private remember(keyStates: Map<string, KeyState>): void {
    this.cache.remember(keyStates);
  }

  /** Entries and estimated heap bytes of the version cache now. */
  versionCacheUsage(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cache.bytes };
  }

  /** The state and idempotency keys the batch touches, and which of them the version cache cannot answer. */
  private readPlan(batch: readonly Pending[], useCache: boolean): ReadPlan {
    const stateKeys = new Map<string, Buffer>();
    const idemKeys = new Map<string, Buffer>();
    for (const { request } of batch) {
      for (const op of request.operations) stateKeys.set(op.id, op.stateKey);
      for (const pre of request.preconditions) stateKeys.set(pre.id, pre.stateKey);
      if (request.idempotencyKey !== null) {
        const key = idempotencyKeyOf(idempotencyScope(request.operations.map((op) => op.ref)), request.idempotencyKey);
        idemKeys.set(key.toString("latin1"), key);
      }
    }
    const cached = new Map<string, KeyState>();
    const missing: string[] = [];
    const toRead: Buffer[] = [];
    for (const [id, key] of stateKeys) {
      const hit = useCache ? this.cache.get(id) : undefined;
      if (hit !== undefined) {
        cached.set(id, hit);
      } else {
        missing.push(id);
        toRead.push(key);
      }
    }
    for (const key of idemKeys.values()) toRead.push(key);
    return { stateKeys, idemKeys, missing, cached, toRead };
  }
}

/** The current version of every key in the plan: the cached ones, then `values` (read in `plan.toRead` order). */
function decodeCurrent(plan: ReadPlan, values: readonly (Buffer | undefined)[]): CurrentState {
  const keyStates = new Map(plan.cached);
  let i = 0;
  for (const id of plan.missing) {
    const raw = values[i++];
    keyStates.set(id, raw === undefined ? { version: 0, exists: false } : decodeStateHeader(raw));
  }
  const idempotent = new Map<string, IdempotencyRecord>();
  for (const id of plan.idemKeys.keys()) {
    const raw = values[i++];
    if (raw !== undefined) idempotent.set(id, decodeIdempotency(raw));
  }
  return { keyStates, idempotent };
}

function settle(batch: readonly Pending[], verdicts: readonly Verdict[]): void {
  batch.forEach((pending, i) => {
    const verdict = verdicts[i] as Verdict;
    if (verdict.ok) pending.resolve(verdict.outcome);
    else pending.reject(verdict.error);
  });
}

/** Why commits are refused while storage cannot be re-established (full disk and corruption keep their codes). */
function reconcileFailed(cause: unknown): EngineError {
  if (cause instanceof EngineError && (cause.code === "STORAGE_FULL" || cause.code === "CORRUPTION")) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new EngineError("STORAGE_ERROR", `storage could not be re-established after a failed write (${message}); commits are refused until it can, reads go on`, { cause });
}

function keyReused(key: string, namespace: string, commitTs: number): EngineError {
  return new EngineError(
    "IDEMPOTENCY_KEY_REUSED",
    `idempotency key ${JSON.stringify(key)} in namespace ${JSON.stringify(namespace)} already committed different operations (commit_ts ${commitTs}); use a new key for new content`,
    { details: { idempotencyKey: key, namespace, commitTs: String(commitTs) } },
  );
}

function tooLargeToEncode(cause: unknown): EngineError {
  return new EngineError("LIMIT_EXCEEDED", "transaction is too large to encode as one event; split it", {
    cause,
    details: { limit: "max_transaction_bytes" },
  });
}

function checkPreconditions(preconditions: readonly NormalizedPrecondition[], keyStates: Map<string, KeyState>): EngineError | null {
  for (const pre of preconditions) {
    const current = keyStates.get(pre.id) ?? { version: 0, exists: false };
    const versionMismatch = pre.expectedVersion !== null && current.version !== pre.expectedVersion;
    if (versionMismatch || (pre.mustNotExist && current.exists)) {
      const { namespace, agentId: agent, key } = pre.ref;
      return new EngineError(
        "CONFLICT",
        versionMismatch
          ? `precondition failed for ${agent}/${key}: expected version ${pre.expectedVersion}, found ${current.version}`
          : `precondition failed for ${agent}/${key}: it exists (version ${current.version})`,
        { details: { namespace, agentId: agent, key, currentVersion: String(current.version) } },
      );
    }
  }
  return null;
}
