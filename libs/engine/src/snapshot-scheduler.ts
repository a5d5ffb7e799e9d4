// Writes a snapshot (a checkpoint: see snapshot-store.ts) every `interval` committed
// transactions, in the background, one at a time. Its cost does not depend on the data
// held: one read of event S, one 32-byte file, and (only with fsyncOnCommit off) one synced
// write that makes the log durable up to S before a file claims it is.
import type { AppliedBatch } from "./commit-sequencer.ts";
import { eventKey } from "./key-encoding.ts";
import type { SnapshotStore } from "./snapshot-store.ts";
import type { OrderedKv } from "./storage/ordered-kv.ts";
import type { EngineLogger, EngineObserver } from "./types.ts";
import { crc32 } from "node:zlib";

export interface SnapshotSchedulerOptions {
  kv: OrderedKv;
  store: SnapshotStore;
  interval: number;
  lastSnapshotTs: number;
  /** Makes every acknowledged commit durable (a synced write through the sequencer); absent when commits are synced already. */
  syncLog: (() => Promise<void>) | null;
  clock: () => number;
  logger: EngineLogger | undefined;
  observer: EngineObserver | undefined;
}

export class SnapshotScheduler {
  private running: Promise<void> | null = null;
  private stopped = false;
  private lastSnapshotTs: number;
  /** commit_ts of the newest applied batch. */
  private latestTs = 0;
  private readonly options: SnapshotSchedulerOptions;

  constructor(options: SnapshotSchedulerOptions) {
    this.options = options;
    this.lastSnapshotTs = options.lastSnapshotTs;
  }

  onBatch(batch: AppliedBatch): void {
    this.latestTs = Math.max(this.latestTs, batch.lastTs);
    this.maybeStart();
  }

  /** Starts a snapshot of the newest batch when the interval has passed and none is running (also right after one finished). */
  private maybeStart(): void {
    const { interval } = this.options;
    if (interval <= 0 || this.running !== null || this.stopped) return;
    if (this.latestTs - this.lastSnapshotTs < interval) return;
    const since = this.lastSnapshotTs;
    const commitTs = this.latestTs;
    this.lastSnapshotTs = commitTs;
    const started = performance.now();
    this.running = this.take(commitTs)
      .then((file) => {
        const durationMs = performance.now() - started;
        this.options.observer?.onSnapshot?.({ commitTs: BigInt(commitTs), records: commitTs - since, durationMs, file });
        this.options.logger?.debug({ commitTs: String(commitTs), eventsSincePrevious: commitTs - since, durationMs, file }, "snapshot written");
      })
      .catch((error: unknown) => {
        this.options.logger?.error({ err: error, commitTs: String(commitTs) }, "snapshot failed");
        this.options.observer?.onSnapshotFailure?.({ commitTs: BigInt(commitTs), error });
      })
      .finally(() => {
        this.running = null;
        this.maybeStart();
      });
  }

  /** Stops scheduling; a snapshot in progress is finished first. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async take(commitTs: number): Promise<string> {
    const { kv, store, syncLog, clock } = this.options;
    if (syncLog !== null) await syncLog();
    const [event] = await kv.getMany([eventKey(commitTs)]);
    if (event === undefined) throw new Error(`event ${commitTs} is not in the log`);
    return (await store.write(commitTs, crc32(event), clock())).file;
  }
}
