// The tiny ordered key-value contract the engine core is written against.
// Two implementations: MemoryKv (sorted in-memory map) and RocksKv (@nxtedition/rocksdb).
// The core never assumes anything else, so both backends behave identically.
import type { StorageMemory } from "../types.ts";

export interface KvPut {
  type: "put";
  key: Buffer;
  value: Buffer;
}

export interface KvDel {
  type: "del";
  key: Buffer;
}

export type KvOp = KvPut | KvDel;

export interface KvRange {
  /** Inclusive lower bound. */
  gte?: Buffer;
  /** Exclusive lower bound. */
  gt?: Buffer;
  /** Exclusive upper bound. */
  lt?: Buffer;
  /** Maximum number of entries. */
  limit?: number;
  /** Return only values (keys come back empty): saves copying keys the caller does not need. */
  valuesOnly?: boolean;
  /** Descending key order (bounds keep their meaning; `limit` counts from the upper end). */
  reverse?: boolean;
  /**
   * Bytes (keys + values) after which one `next(max)` call returns early, with fewer than
   * `max` entries: bounds what one chunk of large values holds. A hint: the memory backend,
   * whose values are already in memory, ignores it.
   */
  chunkBytes?: number;
  /**
   * The iterator must see the store exactly as it was when it was created, even while
   * writes continue. RocksDB iterators always do (implicit snapshot); the memory
   * backend copies the range when asked.
   */
  snapshot?: boolean;
}

export type KvEntry = [key: Buffer, value: Buffer];

export interface KvIterator {
  /** Up to `max` next entries in key order; an empty array means the end. */
  next(max: number): Promise<KvEntry[]>;
  close(): void;
}

export interface OrderedKv {
  readonly kind: "memory" | "rocksdb";
  /** The store's memory (RocksDB); absent where there is no such accounting (memory backend, test wrappers). */
  memoryUsage?(): StorageMemory;
  /** Point reads of the latest written state (synchronous: used inside the commit sequencer). */
  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[];
  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]>;
  /** Applies every operation atomically; with sync=true it returns only once durable. Throws on failure. */
  writeSync(ops: readonly KvOp[], sync: boolean): void;
  iterator(range: KvRange): KvIterator;
  /** True after a failed write left the store refusing writes (RocksDB's sticky background error). */
  readonly broken: boolean;
  /** Makes a broken store writable again (reopen); rejects (STORAGE_FULL) while space is still short. */
  repair(): Promise<void>;
  close(): Promise<void>;
}
