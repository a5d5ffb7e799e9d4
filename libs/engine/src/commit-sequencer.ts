// The single logical writer. Commits queue up; one flush per event-loop turn turns every
// queued commit into ONE atomic storage batch (group commit), written with sync when
// fsyncOnCommit is on. A commit's promise settles only after the batch holding it returned,
// and nothing of it is readable before (storage reads only see returned batches).
import { EngineError } from "./engine-error.ts";
import type { Failpoints } from "./failpoints.ts";
import {
  agentEventKey,
  agentPrefix,
  encodeU64,
  eventKey,
  idempotencyKey as idempotencyKeyOf,
  metaKey,
  TABLE_AGENT_EVENT,
  versionKey,
} from "./key-encoding.ts";
import { decodeStateHeader, encodeState, encodeTransaction, type EncodableOperation } from "./record-codec.ts";
import type { KvOp, OrderedKv } from "./storage/ordered-kv.ts";
import { storageError } from "./storage/storage-error.ts";
import type { StagedOperation } from "./transaction-manager.ts";
import type { RecordRef } from "./types.ts";

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
}

interface Pending {
  request: CommitRequest;
  resolve: (outcome: CommitOutcome) => void;
  reject: (error: unknown) => void;
}

interface KeyState {
  version: number;
  exists: boolean;
}

const STATE_CACHE_MAX = 100_000;

type Verdict = { ok: true; outcome: CommitOutcome } | { ok: false; error: EngineError };

export class CommitSequencer {
  private queue: Pending[] = [];
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private committed: number;
  /** Versions of recently touched keys as stored by returned batches (the sequencer is the only writer). */
  private readonly cache = new Map<string, KeyState>();
  private readonly kv: OrderedKv;
  private readonly sync: boolean;
  private readonly failpoints: Failpoints;
  private readonly onApplied: (batch: AppliedBatch) => void;

  constructor(kv: OrderedKv, sync: boolean, lastCommitTs: number, failpoints: Failpoints, onApplied: (batch: AppliedBatch) => void) {
    this.kv = kv;
    this.sync = sync;
    this.committed = lastCommitTs;
    this.failpoints = failpoints;
    this.onApplied = onApplied;
  }

  /** commit_ts of the last batch that returned from storage. */
  get committedTs(): number {
    return this.committed;
  }

  submit(request: CommitRequest): Promise<CommitOutcome> {
    return new Promise<CommitOutcome>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the I/O poll phase: every commit that arrived in this
        // loop turn (network events, resolved awaits) joins the same batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves once every submitted commit has settled. */
  idle(): Promise<void> {
    if (!this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private flush(): void {
    if (this.kv.broken) {
      // A failed write (e.g. a full disk) leaves RocksDB refusing writes until it is
      // reopened: repair first (it refuses while space is still short), then write.
      this.kv.repair().then(
        () => this.flushNow(),
        (cause: unknown) => {
          const error = storageError(cause);
          const batch = this.queue;
          this.queue = [];
          for (const pending of batch) pending.reject(error);
          this.scheduled = false;
          this.notifyIdle();
        },
      );
      return;
    }
    this.flushNow();
  }

  private flushNow(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length > 0) this.writeBatch(batch);
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.scheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private writeBatch(batch: Pending[]): void {
    try {
      this.writeBatchUnsafe(batch);
    } catch (cause) {
      // Only reading the current versions can get here (the write itself is caught below).
      const error = storageError(cause);
      for (const pending of batch) pending.reject(error);
    }
  }

  private writeBatchUnsafe(batch: Pending[]): void {
    const started = performance.now();
    const { keyStates, idempotent } = this.readCurrent(batch);
    const ops: KvOp[] = [];
    const verdicts: Verdict[] = [];
    const committedAtMs = Date.now();
    let ts = this.committed;
    let operations = 0;
    let applied = 0;

    for (const { request } of batch) {
      if (request.idempotencyKey !== null) {
        const previous = idempotent.get(request.idempotencyKey);
        if (previous !== undefined) {
          verdicts.push({ ok: true, outcome: { commitTs: previous, duplicate: true } });
          continue;
        }
      }
      const conflict = checkPreconditions(request.preconditions, keyStates);
      if (conflict !== null) {
        verdicts.push({ ok: false, error: conflict });
        continue;
      }
      ts++;
      applied++;
      const encodable: EncodableOperation[] = [];
      for (const op of request.operations) {
        const id = op.id;
        const version = (keyStates.get(id)?.version ?? 0) + 1;
        keyStates.set(id, { version, exists: op.valueJson !== null });
        encodable.push({ namespace: op.ref.namespace, agentId: op.ref.agentId, key: op.ref.key, version, valueJson: op.valueJson });
        ops.push({ type: "put", key: op.stateKey, value: encodeState(version, ts, op.valueJson) });
        ops.push({ type: "put", key: versionKey(op.stateKey, version), value: encodeU64(ts) });
      }
      operations += encodable.length;
      const encoded = encodeTransaction(request.txnId, ts, committedAtMs, request.idempotencyKey, encodable);
      ops.push({ type: "put", key: eventKey(ts), value: encoded.event });
      for (const agent of encoded.agents) {
        ops.push({ type: "put", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, agent.namespace, agent.agentId), ts), value: agent.value });
      }
      if (request.idempotencyKey !== null) {
        ops.push({ type: "put", key: idempotencyKeyOf(request.idempotencyKey), value: encodeU64(ts) });
        idempotent.set(request.idempotencyKey, ts);
      }
      verdicts.push({ ok: true, outcome: { commitTs: ts, duplicate: false } });
    }

    if (applied > 0) {
      ops.push({ type: "put", key: META_COMMIT_TS, value: encodeU64(ts) });
      this.failpoints.hit("commit:before-sync");
      try {
        this.kv.writeSync(ops, this.sync);
      } catch (cause) {
        const error = storageError(cause);
        for (const pending of batch) pending.reject(error);
        return;
      }
      const firstTs = this.committed + 1;
      this.committed = ts;
      this.remember(keyStates);
      this.failpoints.hit("commit:after-sync-before-reply");
      try {
        this.onApplied({ transactions: applied, operations, firstTs, lastTs: ts, durationMs: performance.now() - started });
      } catch {
        // Observers must not throw; the batch is durable whatever they do.
      }
    }
    batch.forEach((pending, i) => {
      const verdict = verdicts[i] as Verdict;
      if (verdict.ok) pending.resolve(verdict.outcome);
      else pending.reject(verdict.error);
    });
  }

  /** Keeps the versions the batch saw or wrote (durable now) so hot keys need no storage read. */
  private remember(keyStates: Map<string, KeyState>): void {
    for (const [id, state] of keyStates) {
      this.cache.delete(id);
      this.cache.set(id, state);
    }
    if (this.cache.size > STATE_CACHE_MAX) {
      let excess = this.cache.size - STATE_CACHE_MAX;
      for (const id of this.cache.keys()) {
        if (excess-- <= 0) break;
        this.cache.delete(id);
      }
    }
  }

  /** The current version of every state key (cache, then one synchronous multi-get) and idempotency key the batch touches. */
  private readCurrent(batch: readonly Pending[]): { keyStates: Map<string, KeyState>; idempotent: Map<string, number> } {
    const stateKeys = new Map<string, Buffer>();
    const idemKeys = new Map<string, Buffer>();
    for (const { request } of batch) {
      for (const op of request.operations) stateKeys.set(op.id, op.stateKey);
      for (const pre of request.preconditions) stateKeys.set(pre.id, pre.stateKey);
      if (request.idempotencyKey !== null && !idemKeys.has(request.idempotencyKey)) {
        idemKeys.set(request.idempotencyKey, idempotencyKeyOf(request.idempotencyKey));
      }
    }
    const keyStates = new Map<string, KeyState>();
    const missing: string[] = [];
    const toRead: Buffer[] = [];
    for (const [id, key] of stateKeys) {
      const cached = this.cache.get(id);
      if (cached !== undefined) {
        keyStates.set(id, cached);
      } else {
        missing.push(id);
        toRead.push(key);
      }
    }
    for (const key of idemKeys.values()) toRead.push(key);
    const values = toRead.length === 0 ? [] : this.kv.getManySync(toRead);
    let i = 0;
    for (const id of missing) {
      const raw = values[i++];
      keyStates.set(id, raw === undefined ? { version: 0, exists: false } : decodeStateHeader(raw));
    }
    const idempotent = new Map<string, number>();
    for (const key of idemKeys.keys()) {
      const raw = values[i++];
      if (raw !== undefined) idempotent.set(key, raw.readUInt32BE(0) * 2 ** 32 + raw.readUInt32BE(4));
    }
    return { keyStates, idempotent };
  }
}


function checkPreconditions(preconditions: readonly NormalizedPrecondition[], keyStates: Map<string, KeyState>): EngineError | null {
  for (const pre of preconditions) {
    const current = keyStates.get(pre.id) ?? { version: 0, exists: false };
    const versionMismatch = pre.expectedVersion !== null && current.version !== pre.expectedVersion;
    if (versionMismatch || (pre.mustNotExist && current.exists)) {
      const { namespace, agentId, key } = pre.ref;
      return new EngineError(
        "CONFLICT",
        versionMismatch
          ? `precondition failed for ${agentId}/${key}: expected version ${pre.expectedVersion}, found ${current.version}`
          : `precondition failed for ${agentId}/${key}: it exists (version ${current.version})`,
        { details: { namespace, agentId, key, currentVersion: String(current.version) } },
      );
    }
  }
  return null;
}
