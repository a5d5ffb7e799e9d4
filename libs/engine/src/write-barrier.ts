// Readers of a local store run while the commit sequencer's batch write is in flight. Storage
// may show that batch (atomically: all of it or nothing) before its write returned, while
// committedTs — which bounds replay, watch and as-of reads — moves only once the batch is
// durable and answered. So a read result that arrives during a write is held back until that
// write settled: a reader never sees state that a following bounded read would not include
// (the event loop used to give this for free by stopping during the write).
import type { KvIterator, KvRange, ReadableKv } from "./storage/ordered-kv.ts";

export class WriteBarrier {
  private writing: Promise<void> | null = null;
  private release: (() => void) | null = null;

  /** A batch write starts (the sequencer keeps one in flight). */
  begin(): void {
    if (this.writing !== null) throw new Error("WriteBarrier: a write is in flight already");
    this.writing = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  /** The write settled and everything that depends on it (committedTs, replies) is done. */
  end(): void {
    const release = this.release;
    this.writing = null;
    this.release = null;
    release?.();
  }

  /** Settles once the write in flight now (if any) settled. */
  settled(): Promise<void> {
    return this.writing ?? Promise.resolve();
  }

  /** `read`'s result, once no write that could be in it is still in flight. */
  async after<T>(read: Promise<T>): Promise<T> {
    const value = await read;
    // A write that starts after this point began after the read had finished: it is not in it.
    if (this.writing !== null) await this.writing;
    return value;
  }

  /** `kv` for readers: point reads and iterator chunks pass through `after`. */
  guard(kv: ReadableKv): ReadableKv {
    return new GuardedReads(kv, this);
  }
}

class GuardedReads implements ReadableKv {
  private readonly kv: ReadableKv;
  private readonly barrier: WriteBarrier;

  constructor(kv: ReadableKv, barrier: WriteBarrier) {
    this.kv = kv;
    this.barrier = barrier;
  }

  get kind(): ReadableKv["kind"] {
    return this.kv.kind;
  }

  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.barrier.after(this.kv.getMany(keys));
  }

  iterator(range: KvRange): KvIterator {
    const inner = this.kv.iterator(range);
    return {
      next: (max) => this.barrier.after(inner.next(max)),
      close: () => inner.close(),
    };
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}
