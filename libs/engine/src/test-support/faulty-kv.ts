// A fault-injecting wrapper for the engine's ordered-KV interface (tests only). At seeded
// random writes (synchronous or asynchronous) it (a) throws before anything is persisted, (b) persists the batch and then
// throws (a WAL append that succeeded while its fsync failed), and at seeded random repairs
// (c) throws on reopen. Reads pass through. Every injected fault is counted by kind.
import type { KvIterator, KvOp, KvRange, OrderedKv } from "../storage/ordered-kv.ts";

export interface FaultRates {
  /** Probability that a write throws before persisting. */
  beforePersist: number;
  /** Probability that a write persists and then throws. */
  afterPersist: number;
  /** Probability that a repair (reopen) throws. */
  onReopen: number;
}

export interface FaultCounts {
  writes: number;
  beforePersist: number;
  afterPersist: number;
  onReopen: number;
  repairs: number;
}

export class InjectedFault extends Error {
  override readonly name = "InjectedFault";
}

export class FaultyKv implements OrderedKv {
  readonly counts: FaultCounts = { writes: 0, beforePersist: 0, afterPersist: 0, onReopen: 0, repairs: 0 };
  /** Called after every successful repair (the campaign checks the store there). */
  onRepaired: (() => void) | null = null;
  private failed = false;
  readonly inner: OrderedKv;
  private readonly random: () => number;
  private rates: FaultRates;

  constructor(inner: OrderedKv, random: () => number, rates: FaultRates) {
    this.inner = inner;
    this.random = random;
    this.rates = rates;
  }

  get kind(): OrderedKv["kind"] {
    return this.inner.kind;
  }

  get broken(): boolean {
    return this.failed || this.inner.broken;
  }

  /** Changes the rates (0 everywhere = a healthy store). */
  setRates(rates: FaultRates): void {
    this.rates = rates;
  }

  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[] {
    return this.inner.getManySync(keys);
  }

  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.inner.getMany(keys);
  }

  writeSync(ops: readonly KvOp[], sync: boolean): void {
    const roll = this.roll();
    if (roll < this.rates.beforePersist) throw this.failBeforePersist();
    this.inner.writeSync(ops, sync);
    if (roll < this.rates.beforePersist + this.rates.afterPersist) throw this.failAfterPersist();
  }

  private roll(): number {
    this.counts.writes++;
    return this.random();
  }

  private failBeforePersist(): InjectedFault {
    this.counts.beforePersist++;
    this.failed = true;
    return new InjectedFault("injected fault: write failed before persisting");
  }

  private failAfterPersist(): InjectedFault {
    this.counts.afterPersist++;
    this.failed = true;
    return new InjectedFault("injected fault: write persisted, then reported failure (fsync error)");
  }

  /** `writeSync`'s faults on the asynchronous write: a failure before persisting, or after it. */
  async write(ops: readonly KvOp[], sync: boolean): Promise<void> {
    const roll = this.roll();
    if (roll < this.rates.beforePersist) throw this.failBeforePersist();
    await this.inner.write(ops, sync);
    if (roll < this.rates.beforePersist + this.rates.afterPersist) throw this.failAfterPersist();
  }

  iterator(range: KvRange): KvIterator {
    return this.inner.iterator(range);
  }

  async repair(): Promise<void> {
    if (this.random() < this.rates.onReopen) {
      this.counts.onReopen++;
      throw new InjectedFault("injected fault: reopen failed");
    }
    await this.inner.repair();
    this.failed = false;
    this.counts.repairs++;
    this.onRepaired?.();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
