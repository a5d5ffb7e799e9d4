// Server-side transactions: ids, staged operations, recorded reads, timeouts, reaper.
// Nothing here is persisted: an uncommitted transaction dies with the process.
import { randomUUID } from "node:crypto";
import { EngineError } from "./engine-error.ts";
import type { StagedBudget } from "./staged-budget.ts";
import type { RecordRef } from "./types.ts";

export interface StagedOperation {
  ref: RecordRef;
  stateKey: Buffer;
  /** stateKey as a latin1 string: a map key that is unique per record. */
  id: string;
  /** Serialized value, or null for a delete. */
  valueJson: string | null;
  /** What the operation is charged against the staged-data budget. */
  bytes: number;
}

export interface RecordedRead {
  ref: RecordRef;
  stateKey: Buffer;
  id: string;
  version: number;
}

export type TxnStatus = "open" | "committing" | "committed" | "aborted" | "expired";

export interface Transaction {
  readonly id: string;
  status: TxnStatus;
  readonly deadline: number;
  /** Keyed by the state key (latin1), so the last operation on a key wins. */
  readonly staged: Map<string, StagedOperation>;
  /** Versions seen by reads made through the transaction (first read of a key wins). */
  readonly reads: Map<string, RecordedRead>;
  /** Bytes of `staged`, charged to the budget until the transaction ends. */
  bytes: number;
}

/** Terminal states are remembered this long so late calls get a precise error. */
const FINISHED_RETENTION_MS = 10 * 60_000;
const FINISHED_MAX = 100_000;

export class TransactionManager {
  private readonly open = new Map<string, Transaction>();
  private readonly finished = new Map<string, { status: TxnStatus; at: number }>();
  private readonly reaper: NodeJS.Timeout;
  private readonly defaultTimeoutMs: number;
  private readonly onExpire: () => void;
  private readonly budget: StagedBudget;

  constructor(defaultTimeoutMs: number, budget: StagedBudget, onExpire: () => void, reapIntervalMs = Math.min(1000, Math.max(10, Math.floor(defaultTimeoutMs / 4)))) {
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.budget = budget;
    this.onExpire = onExpire;
    this.reaper = setInterval(() => this.reap(), reapIntervalMs);
    this.reaper.unref();
  }

  get openCount(): number {
    return this.open.size;
  }

  begin(timeoutMs = this.defaultTimeoutMs): Transaction {
    const txn: Transaction = {
      id: randomUUID(),
      status: "open",
      deadline: Date.now() + timeoutMs,
      staged: new Map(),
      reads: new Map(),
      bytes: 0,
    };
    this.open.set(txn.id, txn);
    return txn;
  }

  /** Returns the open transaction or throws the precise EngineError for its state. */
  requireOpen(id: string): Transaction {
    if (typeof id !== "string") throw new TypeError("txnId must be a string");
    const txn = this.open.get(id);
    if (txn !== undefined) {
      if (txn.status === "committing") throw stateError(id, "committing");
      if (Date.now() > txn.deadline) {
        this.expire(txn);
        throw stateError(id, "expired");
      }
      return txn;
    }
    const done = this.finished.get(id);
    throw stateError(id, done?.status ?? null);
  }

  /** Stages an operation (the last one on a key wins), charging its bytes; LIMIT_EXCEEDED leaves the transaction as it was. */
  stage(txn: Transaction, op: StagedOperation): void {
    const replaced = txn.staged.get(op.id)?.bytes ?? 0;
    this.budget.charge(op.bytes - replaced, txn.bytes + op.bytes - replaced);
    txn.bytes += op.bytes - replaced;
    txn.staged.set(op.id, op);
  }

  /** Marks a transaction terminal and forgets its staged data (its bytes return to the budget). */
  finish(txn: Transaction, status: "committed" | "aborted" | "expired"): void {
    if (this.open.get(txn.id) === txn) this.budget.release(txn.bytes);
    txn.bytes = 0;
    txn.status = status;
    this.open.delete(txn.id);
    this.remember(txn.id, status);
  }

  /** Idempotent abort: unknown, finished and committing ids are left as they are. */
  abort(id: string): boolean {
    if (typeof id !== "string") throw new TypeError("txnId must be a string");
    const txn = this.open.get(id);
    if (txn === undefined || txn.status !== "open") return false;
    this.finish(txn, "aborted");
    return true;
  }

  reap(now = Date.now()): void {
    for (const txn of this.open.values()) {
      if (txn.status === "open" && now > txn.deadline) this.expire(txn);
    }
    for (const [id, entry] of this.finished) {
      if (now - entry.at < FINISHED_RETENTION_MS) break;
      this.finished.delete(id);
    }
  }

  close(): void {
    clearInterval(this.reaper);
    for (const txn of this.open.values()) this.budget.release(txn.bytes);
    this.open.clear();
  }

  private expire(txn: Transaction): void {
    this.finish(txn, "expired");
    this.onExpire();
  }

  private remember(id: string, status: TxnStatus): void {
    this.finished.delete(id);
    this.finished.set(id, { status, at: Date.now() });
    if (this.finished.size > FINISHED_MAX) {
      const oldest = this.finished.keys().next();
      if (oldest.done !== true) this.finished.delete(oldest.value);
    }
  }
}

function stateError(id: string, status: TxnStatus | null): EngineError {
  const details = { txnId: id };
  switch (status) {
    case "committing":
    case "committed":
      return new EngineError("TXN_ALREADY_COMMITTED", `transaction ${id} was already committed`, { details });
    case "aborted":
      return new EngineError("TXN_ABORTED", `transaction ${id} was aborted`, { details });
    case "expired":
      return new EngineError("TXN_EXPIRED", `transaction ${id} expired`, { details });
    default:
      return new EngineError("TXN_NOT_FOUND", `transaction ${id} not found`, { details });
  }
}
