// The binding ships no typings; this reference brings ours along wherever the engine is type-checked from source.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- an ambient module declaration cannot be imported
/// <reference path="./rocksdb-binding.d.ts" />
import { readdir, rm, statfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RocksLevel, type RocksIterator, type RocksOpenOptions } from "@nxtedition/rocksdb";
import { EngineError } from "../engine-error.ts";
import type { RocksLogLevel, RocksWriterMode, StorageMemory, StorageStatus } from "../types.ts";
import type { KvEntry, KvIterator, KvOp, KvRange, OrderedKv } from "./ordered-kv.ts";
import { closeBatch } from "./rocks-batch.ts";
import { RocksWriter } from "./rocks-writer.ts";
import { describeError, storageError } from "./storage-error.ts";
import { WalSync } from "./wal-sync.ts";

const NO_OPTIONS = {};

const MIB = 1024 * 1024;

/** RocksDB's memory, sized deliberately (engine README, "Memory"). */
export interface RocksMemoryOptions {
  /**
   * Block cache in bytes: data blocks and, because they are cached too, every SST's index and
   * bloom filter blocks — so the cache bounds what grows with the data. Default 8 MiB.
   */
  blockCacheBytes?: number | undefined;
  /**
   * Memtable budget in bytes: write buffers of a quarter of it each, flushed two at a time, at
   * most six (1.5× the budget in the worst case, about half of it at a steady write rate).
   * Default 32 MiB.
   */
  memtableBudgetBytes?: number | undefined;
  /**
   * RocksDB's LOG (`<location>/LOG`): "off" or the least severe level written. Default "warn".
   * The binding (12.2.12) sets only the level: RocksDB's max_log_file_size and
   * keep_log_file_num keep their defaults (one LOG per open, never rotated by size), so each
   * open renames the previous LOG to LOG.old.<time> and we delete all but the newest
   * KEPT_OLD_LOGS of those; "warn" keeps one LOG small (stalls, errors, the options header).
   */
  logLevel?: RocksLogLevel | undefined;
}

/**
 * RocksWriterMode: how a batch write reaches the disk without stopping the event loop (engine README, "What runs where"):
 * - "wal-sync" (default): RocksDB writes the batch on the calling thread without sync, then
 *   WalSync fdatasyncs its WAL files in libuv's thread pool; while RocksDB delays or stops writes
 *   (a compaction backlog), or a writer-thread write is still in flight, the batch goes to the
 *   writer thread instead, so a stall never sleeps on the event loop.
 * - "thread": every batch is written, fsync included, by RocksDB on a writer thread
 *   (rocks-writer.ts; about 16 MiB of RSS for its V8 isolate).
 */
export const ROCKS_WRITER_MODES: readonly RocksWriterMode[] = ["wal-sync", "thread"];

export interface RocksOptions extends RocksMemoryOptions {
  writer?: RocksWriterMode | undefined;
}

/** LOG.old.* files kept beside the current LOG (the rest are deleted at each open). */
export const KEPT_OLD_LOGS = 5;

export const ROCKS_MEMORY_DEFAULTS = { blockCacheBytes: 4 * MIB, memtableBudgetBytes: 32 * MIB } as const;

/** The binding reads the cache size as an unsigned 32-bit integer. */
const MAX_BLOCK_CACHE_BYTES = 4095 * MIB;

function openOptions(memory: RocksMemoryOptions): RocksOpenOptions {
  const blockCacheBytes = memory.blockCacheBytes ?? ROCKS_MEMORY_DEFAULTS.blockCacheBytes;
  const memtableBudgetBytes = memory.memtableBudgetBytes ?? ROCKS_MEMORY_DEFAULTS.memtableBudgetBytes;
  if (!Number.isSafeInteger(blockCacheBytes) || blockCacheBytes < MIB || blockCacheBytes > MAX_BLOCK_CACHE_BYTES) {
    throw new TypeError(`blockCacheBytes must be an integer between 1 MiB and 4095 MiB`);
  }
  if (!Number.isSafeInteger(memtableBudgetBytes) || memtableBudgetBytes < 4 * MIB) throw new TypeError("memtableBudgetBytes must be an integer >= 4 MiB");
  const logLevel = memory.logLevel ?? "warn";
  return {
    createIfMissing: true,
    ...(logLevel === "off" ? {} : { infoLogLevel: logLevel }),
    // WAL compression would run inside every commit write (on the writer thread, still CPU).
    walCompression: false,
    // Level compaction with memtables of budget / 4 (8 MiB by default): keeps the WAL that
    // RocksDB replays on open small (fast reopen after a crash) and leaves L0/L1 uncompressed,
    // so flushes do not compete with commits for the CPU.
    compaction: "level",
    memtableMemoryBudget: memtableBudgetBytes,
    cacheSize: blockCacheBytes,
    // Without this every open SST keeps its index and filter blocks in memory outside the
    // cache: memory that grows with the records (tens of MiB at 10M).
    cacheIndexAndFilterBlocks: true,
  };
}

/** How often a reopen retries while our own just-closed handle still holds the lock (20 ms apart). */
const REOPEN_LOCK_ATTEMPTS = 50;

/** Free space needed before a store broken by a full disk is reopened. */
const MIN_FREE_BYTES_TO_REPAIR = 1024 * 1024;

/** OrderedKv over one RocksDB database (default column family; tables are key prefixes). */
export class RocksKv implements OrderedKv {
  readonly kind = "rocksdb";
  private db: RocksLevel;
  private readonly location: string;
  private readonly iterators = new Set<RocksIterator>();
  /** Reads running in the storage thread pool: a close waits for them, or RocksDB keeps its lock past the close. */
  private readonly inflight = new Set<Promise<unknown>>();
  private failed = false;
  /** The writer thread of `write` (started with the database in "thread" mode, else on the first write that needs it; stopped before the database closes). */
  private writer: RocksWriter | null = null;
  /** The WAL syncer of the "wal-sync" writer (created on the first synced write, closed with the database). */
  private walSync: WalSync | null = null;
  private reopening: Promise<void> | null = null;
  private readonly options: RocksOpenOptions;
  readonly writerMode: RocksWriterMode;

  private constructor(db: RocksLevel, location: string, options: RocksOpenOptions, writerMode: RocksWriterMode) {
    this.db = db;
    this.location = location;
    this.options = options;
    this.writerMode = writerMode;
  }

  /** Opens (creating if missing). RocksDB replays its WAL here. A held lock is LOCKED. */
  static async open(location: string, memory: RocksOptions = {}): Promise<RocksKv> {
    const writerMode = memory.writer ?? "wal-sync";
    if (!ROCKS_WRITER_MODES.includes(writerMode)) throw new TypeError(`writer must be one of ${ROCKS_WRITER_MODES.map((m) => `"${m}"`).join(", ")}`);
    const options = openOptions(memory);
    const kv = new RocksKv(await openDb(location, options), location, options, writerMode);
    try {
      await kv.startWriter();
    } catch (error) {
      await kv.closeDb().catch(() => undefined);
      throw error;
    }
    return kv;
  }

  /** A writer thread is attached and takes writes now. */
  get writerThreadReady(): boolean {
    return this.writer?.isReady === true;
  }

  /** In "thread" mode the writer thread starts with the database, so the first commit does not wait for it to boot. */
  private async startWriter(): Promise<void> {
    if (this.writerMode === "thread") this.writer = await RocksWriter.start(this.db.handle);
  }

  /** What RocksDB holds in memory now, in bytes (its own accounting). */
  memoryUsage(): StorageMemory {
    return {
      memtables: this.property("size-all-mem-tables"),
      blockCache: this.property("block-cache-usage"),
      blockCachePinned: this.property("block-cache-pinned-usage"),
      tableReaders: this.property("estimate-table-readers-mem"),
    };
  }

  estimatedEntries(): number {
    const estimate = this.property("estimate-num-keys");
    return Number.isFinite(estimate) ? estimate : 0;
  }

  /** RocksDB's stall and compaction figures now (NaN while reopening). */
  storageStatus(): StorageStatus {
    return {
      writeStopped: this.property("is-write-stopped"),
      delayedWriteRate: this.property("actual-delayed-write-rate"),
      pendingCompactionBytes: this.property("estimate-pending-compaction-bytes"),
      level0Files: this.property("num-files-at-level0"),
      runningCompactions: this.property("num-running-compactions"),
      runningFlushes: this.property("num-running-flushes"),
      sstBytes: this.property("total-sst-files-size"),
    };
  }

  /** A numeric RocksDB property; NaN while the store is being reopened (the binding refuses properties of a closed database). */
  private property(name: string): number {
    return this.db.status === "open" ? Number(this.db.getProperty(`rocksdb.${name}`)) : Number.NaN;
  }

  get broken(): boolean {
    return this.failed;
  }

  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[] {
    return this.db._getManySync(keys);
  }

  async getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    if (this.reopening !== null) await this.reopening;
    try {
      return await this.track(this.db._getManyAsync(keys, NO_OPTIONS));
    } catch (error) {
      throw storageError(error);
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inflight.add(promise);
    const done = (): void => {
      this.inflight.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  /**
   * One atomic batch, durable when `sync` once this resolves; the event loop goes on while the
   * disk syncs (RocksWriterMode). A rejection leaves the outcome unknown: the batch may be durable.
   */
  async write(ops: readonly KvOp[], sync: boolean): Promise<void> {
    if (this.reopening !== null) await this.reopening;
    if (this.writerMode === "thread" || this.writer?.busy === true || this.writesDelayed()) {
      this.writer ??= new RocksWriter(this.db.handle);
      try {
        await this.track(this.writer.write(ops, sync));
      } catch (error) {
        // As for writeSync: RocksDB keeps refusing writes after a failed one.
        this.failed = true;
        throw error;
      }
      return;
    }
    this.writeSync(ops, false);
    if (!sync) return;
    this.walSync ??= new WalSync(this.location);
    try {
      await this.track(this.walSync.sync());
    } catch (error) {
      // The records are in RocksDB (and maybe on disk): the caller re-establishes the truth from storage.
      this.failed = true;
      throw storageError(error);
    }
  }

  /** RocksDB would sleep in this write (delayed or stopped writes while compaction catches up). */
  private writesDelayed(): boolean {
    return this.property("is-write-stopped") > 0 || this.property("actual-delayed-write-rate") > 0;
  }

  writeSync(ops: readonly KvOp[], sync: boolean): void {
    // The binding's native batch write does not check for a closed database (it would crash the process).
    if (this.db.status !== "open") throw new EngineError("STORAGE_ERROR", `RocksDB at ${this.location} is not open (${this.db.status})`);
    const batch = this.db._chainedBatch();
    try {
      for (const op of ops) {
        if (op.type === "put") batch._put(op.key, op.value, NO_OPTIONS);
        else batch._del(op.key, NO_OPTIONS);
      }
      batch._writeSync({ sync });
    } catch (error) {
      // RocksDB keeps refusing writes after a failed one (sticky background error).
      this.failed = true;
      throw error;
    } finally {
      closeBatch(this.db, batch);
    }
  }

  iterator(range: KvRange): KvIterator {
    if (this.reopening !== null) throw new EngineError("STORAGE_ERROR", "storage is being reopened after a write failure; retry");
    // A RocksDB iterator reads from an implicit snapshot taken here, at creation.
    const it = this.db.iterator({
      ...(range.gte === undefined ? {} : { gte: range.gte }),
      ...(range.gt === undefined ? {} : { gt: range.gt }),
      ...(range.lt === undefined ? {} : { lt: range.lt }),
      ...(range.limit === undefined ? {} : { limit: range.limit }),
      ...(range.valuesOnly === true ? { keys: false } : {}),
      ...(range.reverse === true ? { reverse: true } : {}),
      ...(range.chunkBytes === undefined ? {} : { highWaterMarkBytes: range.chunkBytes }),
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    this.iterators.add(it);
    let done = false;
    return {
      next: async (max: number): Promise<KvEntry[]> => {
        if (done) return [];
        let rows: KvEntry[];
        try {
          rows = await this.track(it.nextv(max));
        } catch (error) {
          throw storageError(error);
        }
        if (rows.length === 0) {
          done = true;
          this.release(it);
        }
        return rows;
      },
      close: () => {
        done = true;
        this.release(it);
      },
    };
  }

  /**
   * Reopens RocksDB after a failed write. Reads keep being served by the old instance until
   * enough space is free; the reopen itself takes milliseconds (iterators open at that moment
   * end with STORAGE_ERROR).
   */
  repair(): Promise<void> {
    this.reopening ??= this.reopen().finally(() => {
      this.reopening = null;
    });
    return this.reopening;
  }

  async close(): Promise<void> {
    if (this.reopening !== null) await this.reopening.catch(() => undefined);
    await this.closeDb();
  }

  private async reopen(): Promise<void> {
    const space = await statfs(dirname(this.location));
    const free = space.bavail * space.bsize;
    if (free < MIN_FREE_BYTES_TO_REPAIR) {
      throw new EngineError("STORAGE_FULL", `storage is full (${free} bytes free); commits resume once space is freed`, {
        details: { freeBytes: String(free) },
      });
    }
    await this.closeDb();
    // The lock is our own closed handle's: RocksDB may release it a moment after close returns.
    for (let attempt = 1; ; attempt++) {
      try {
        this.db = await openDb(this.location, this.options);
        break;
      } catch (error) {
        if (!(error instanceof EngineError && error.code === "LOCKED") || attempt >= REOPEN_LOCK_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await this.startWriter();
    this.failed = false;
  }

  private async closeDb(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    // The writer thread writes through this database's handle: it stops before the handle is freed.
    await this.writer?.close();
    this.writer = null;
    await this.walSync?.close();
    this.walSync = null;
    await Promise.all([...this.iterators].map((it) => it.close().catch(() => undefined)));
    this.iterators.clear();
    // After a write failure RocksDB's close reports that error, but the native handle is
    // released regardless (the lock too), which is what a reopen needs.
    await this.db.close().catch((error: unknown) => {
      if (!this.failed) throw storageError(error);
    });
  }

  private release(it: RocksIterator): void {
    if (this.iterators.delete(it)) void it.close().catch(() => undefined);
  }
}

async function openDb(location: string, options: RocksOpenOptions): Promise<RocksLevel> {
  const db = new RocksLevel(location);
  try {
    await db.open(options);
  } catch (error) {
    const message = describeError(error);
    if (/lock/i.test(message)) {
      throw new EngineError("LOCKED", `data directory is in use by another engine (RocksDB lock): ${location}`, {
        cause: error,
        details: { location },
      });
    }
    if (/corruption/i.test(message)) {
      // RocksDB refuses a database whose files are damaged or missing (a deleted SST, a torn
      // MANIFEST): acknowledged commits may be gone, and this binding exposes no repair.
      throw new EngineError(
        "CORRUPTION",
        `RocksDB at ${location} reports damaged or missing files: ${message}; acknowledged commits may be missing: restore the data directory from a backup (RocksDB refuses to open it as it is)`,
        { cause: error, details: { location, evidence: message } },
      );
    }
    throw new EngineError(/no space left/i.test(message) ? "STORAGE_FULL" : "STORAGE_ERROR", `cannot open RocksDB at ${location}: ${message}`, {
      cause: error,
      details: { location },
    });
  }
  await pruneOldLogs(location);
  return db;
}

/** Deletes all but the newest KEPT_OLD_LOGS of RocksDB's LOG.old.<micros> files (it keeps 1000 by itself). */
async function pruneOldLogs(location: string): Promise<void> {
  const old = (await readdir(location).catch(() => [] as string[]))
    .filter((name) => /^LOG\.old\.\d+$/.test(name))
    .sort((a, b) => Number(b.slice(8)) - Number(a.slice(8)));
  for (const name of old.slice(KEPT_OLD_LOGS)) await rm(join(location, name), { force: true });
}
