// Memory bounded in bytes: every staged transaction's data (server-side transactions while
// open, one-shot commits while queued) is charged to one budget, and no single transaction may
// exceed a size well under V8's string limit (its event is encoded as one string).
import { EngineError } from "./engine-error.ts";

/** Bytes charged per operation on top of its value: names, versions, map entries. */
export const OPERATION_OVERHEAD_BYTES = 128;

export class StagedBudget {
  readonly maxStagedBytes: number;
  readonly maxTransactionBytes: number;
  private used = 0;

  constructor(maxStagedBytes: number, maxTransactionBytes: number) {
    this.maxStagedBytes = maxStagedBytes;
    this.maxTransactionBytes = maxTransactionBytes;
  }

  /** Bytes currently charged. */
  get stagedBytes(): number {
    return this.used;
  }

  /**
   * Charges `delta` bytes for a transaction that would then hold `transactionBytes`; throws
   * LIMIT_EXCEEDED naming the limit (nothing charged) when either limit would be passed.
   */
  charge(delta: number, transactionBytes: number): void {
    if (transactionBytes > this.maxTransactionBytes) {
      throw new EngineError(
        "LIMIT_EXCEEDED",
        `transaction would hold ${transactionBytes} bytes: the max_transaction_bytes limit is ${this.maxTransactionBytes}`,
        { details: { limit: "max_transaction_bytes", maxTransactionBytes: String(this.maxTransactionBytes), transactionBytes: String(transactionBytes) } },
      );
    }
    if (delta > 0 && this.used + delta > this.maxStagedBytes) {
      throw new EngineError(
        "LIMIT_EXCEEDED",
        `staged transaction data would reach ${this.used + delta} bytes: the max_staged_bytes budget for all open transactions is ${this.maxStagedBytes}; retry when transactions have committed`,
        { details: { limit: "max_staged_bytes", maxStagedBytes: String(this.maxStagedBytes), stagedBytes: String(this.used) } },
      );
    }
    this.used += delta;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
  }
}

/** Bytes an operation is charged: its serialized value (UTF-8) plus names and overhead. */
export function operationBytes(namespace: string, agentId: string, key: string, valueBytes: number): number {
  return valueBytes + namespace.length + agentId.length + key.length + OPERATION_OVERHEAD_BYTES;
}
