import { RocksLevel, type RocksIterator } from "@nxtedition/rocksdb";
import { EngineError } from "../engine-error.ts";
import type { KvEntry, KvIterator, KvOp, KvRange, OrderedKv } from "./ordered-kv.ts";

const NO_OPTIONS = {};

/** OrderedKv over one RocksDB database (default column family; tables are key prefixes). */
export class RocksKv implements OrderedKv {
  readonly kind = "rocksdb";
  private readonly iterators = new Set<RocksIterator>();

  private readonly db: RocksLevel;

  private constructor(db: RocksLevel) {
    this.db = db;
  }

  /** Opens (creating if missing). RocksDB replays its WAL here. A held lock is LOCKED. */
  static async open(location: string): Promise<RocksKv> {
    const db = new RocksLevel(location);
    try {
      await db.open({
        createIfMissing: true,
        // WAL compression would run on the JS thread inside every synchronous commit write.
        walCompression: false,
        // Level compaction with 8 MiB memtables (budget / 4): keeps the WAL that RocksDB
        // replays on open small (fast reopen after a crash) and leaves L0/L1 uncompressed,
        // so flushes do not compete with commits for the CPU.
        compaction: "level",
        memtableMemoryBudget: 32 * 1024 * 1024,
      });
    } catch (error) {
      const message = describe(error);
      if (/lock/i.test(message)) {
        throw new EngineError("LOCKED", `data directory is in use by another engine (RocksDB lock): ${location}`, {
          cause: error,
          details: { location },
        });
      }
      throw new EngineError("STORAGE_ERROR", `cannot open RocksDB at ${location}: ${message}`, { cause: error, details: { location } });
    }
    return new RocksKv(db);
  }

  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[] {
    return this.db._getManySync(keys);
  }

  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.db._getManyAsync(keys, NO_OPTIONS);
  }

  writeSync(ops: readonly KvOp[], sync: boolean): void {
    const batch = this.db._chainedBatch();
    try {
      for (const op of ops) {
        if (op.type === "put") batch._put(op.key, op.value, NO_OPTIONS);
        else batch._del(op.key, NO_OPTIONS);
      }
      batch._writeSync({ sync });
    } finally {
      batch._closeSync();
    }
  }

  iterator(range: KvRange): KvIterator {
    // A RocksDB iterator reads from an implicit snapshot taken here, at creation.
    const it = this.db.iterator({
      ...(range.gte === undefined ? {} : { gte: range.gte }),
      ...(range.gt === undefined ? {} : { gt: range.gt }),
      ...(range.lt === undefined ? {} : { lt: range.lt }),
      ...(range.limit === undefined ? {} : { limit: range.limit }),
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
    this.iterators.add(it);
    let done = false;
    return {
      next: async (max: number): Promise<KvEntry[]> => {
        if (done) return [];
        const rows = await it.nextv(max);
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

  async close(): Promise<void> {
    await Promise.all([...this.iterators].map((it) => it.close()));
    this.iterators.clear();
    await this.db.close();
  }

  private release(it: RocksIterator): void {
    if (this.iterators.delete(it)) void it.close().catch(() => undefined);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
