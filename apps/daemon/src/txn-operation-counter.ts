// Counts the operations staged in each server-side transaction so Write and
// Delete can enforce max_operations_per_txn before the engine buffers more.
// Entries leave on commit/abort, or after their transaction's deadline.

interface Entry {
  ops: number;
  expiresAt: number;
}

const SWEEP_EVERY = 1024;

export class TxnOperationCounter {
  readonly #entries = new Map<string, Entry>();
  readonly #defaultTimeoutMs: number;
  #begins = 0;

  constructor(defaultTimeoutMs: number) {
    this.#defaultTimeoutMs = defaultTimeoutMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  begun(txnId: string, timeoutMs: number | undefined, now = Date.now()): void {
    this.#entries.set(txnId, { ops: 0, expiresAt: now + (timeoutMs ?? this.#defaultTimeoutMs) + 1000 });
    this.#begins += 1;
    if (this.#begins % SWEEP_EVERY === 0) this.sweep(now);
  }

  /** Operations staged so far (0 for unknown transactions). */
  peek(txnId: string): number {
    return this.#entries.get(txnId)?.ops ?? 0;
  }

  add(txnId: string): void {
    const entry = this.#entries.get(txnId);
    if (entry !== undefined) entry.ops += 1;
  }

  finished(txnId: string): void {
    this.#entries.delete(txnId);
  }

  /** Forgets transactions past their deadline (the engine has expired them). */
  sweep(now = Date.now()): void {
    for (const [txnId, entry] of this.#entries) {
      if (entry.expiresAt < now) this.#entries.delete(txnId);
    }
  }
}
