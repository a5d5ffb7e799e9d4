// Starts a snapshot every `interval` committed transactions. The storage iterator is
// created synchronously right after the batch that reached the interval was applied,
// so it sees exactly the state at that batch's last commit_ts; the file is then written
// in the background while commits continue (one snapshot at a time).
import type { AppliedBatch } from "./commit-sequencer.ts";
import { TABLE_STATE } from "./key-encoding.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import type { OrderedKv } from "./storage/ordered-kv.ts";
import type { EngineLogger, EngineObserver } from "./types.ts";

export class SnapshotScheduler {
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastSnapshotTs: number;
  private readonly kv: OrderedKv;
  private readonly store: SnapshotStore;
  private readonly interval: number;
  private readonly logger: EngineLogger | undefined;
  private readonly observer: EngineObserver | undefined;

  constructor(
    kv: OrderedKv,
    store: SnapshotStore,
    interval: number,
    lastSnapshotTs: number,
    logger: EngineLogger | undefined,
    observer: EngineObserver | undefined,
  ) {
    this.kv = kv;
    this.store = store;
    this.interval = interval;
    this.lastSnapshotTs = lastSnapshotTs;
    this.logger = logger;
    this.observer = observer;
  }

  onBatch(batch: AppliedBatch): void {
    if (this.interval <= 0 || this.running !== null || this.stopped) return;
    if (batch.lastTs - this.lastSnapshotTs < this.interval) return;
    const commitTs = batch.lastTs;
    this.lastSnapshotTs = commitTs;
    const iterator = this.kv.iterator({ gte: Buffer.of(TABLE_STATE), lt: Buffer.of(TABLE_STATE + 1) });
    const started = performance.now();
    this.running = this.store
      .write(commitTs, iterator)
      .then((result) => {
        const durationMs = performance.now() - started;
        this.observer?.onSnapshot?.({ commitTs: BigInt(commitTs), records: result.records, durationMs, file: result.file });
        this.logger?.debug({ commitTs: String(commitTs), records: result.records, bytes: result.bytes, durationMs, file: result.file }, "snapshot written");
      })
      .catch((error: unknown) => {
        this.logger?.error({ err: error, commitTs: String(commitTs) }, "snapshot failed");
      })
      .finally(() => {
        this.running = null;
      });
  }

  /** Stops scheduling; a snapshot in progress is finished first. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
