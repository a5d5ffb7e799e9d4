// The tiny ordered key-value contract the engine core is written against.
// Local stores (one engine is the only writer): MemoryKv (sorted in-memory map) and RocksKv
// (@nxtedition/rocksdb). Shared stores (several engines, in several processes, write the same
// data): SharedKv, implemented outside the engine (@statehouse/storage-postgres). The core
// never assumes anything else, so every backend behaves identically.
import type { StorageMemory, StorageStatus } from "../types.ts";

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

/** What every store offers the engine's readers. */
export interface ReadableKv {
  readonly kind: "memory" | "rocksdb" | "postgres";
  /** The store's memory (RocksDB); absent where there is no such accounting (memory backend, test wrappers). */
  memoryUsage?(): StorageMemory;
  /** RocksDB's write-stall and compaction figures; absent for the memory backend and test wrappers. */
  storageStatus?(): StorageStatus;
  /** The store's estimate of how many entries it holds (RocksDB's estimate-num-keys; for progress only). */
  estimatedEntries?(): number;
  /** Point reads of the latest committed state. */
  getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]>;
  iterator(range: KvRange): KvIterator;
  close(): Promise<void>;
}

/**
 * A store with one writer, this engine (the commit sequencer decides what is written when).
 * The commit path uses the asynchronous `write` and `getMany`, which leave the event loop
 * free while storage works (RocksDB: a writer thread, the libuv pool); the synchronous forms
 * are for work that runs before the engine serves (recovery, restore, import).
 */
export interface OrderedKv extends ReadableKv {
  readonly kind: "memory" | "rocksdb";
  /** Point reads of the latest written state, on the calling thread. */
  getManySync(keys: readonly Buffer[]): (Buffer | undefined)[];
  /** Applies every operation atomically on the calling thread; with sync=true it returns only once durable. Throws on failure. */
  writeSync(ops: readonly KvOp[], sync: boolean): void;
  /**
   * `writeSync` off the event loop: applies every operation atomically (readers see all of
   * them or none) and resolves once applied, with sync=true once durable; rejects on failure
   * (the outcome is then unknown, as for `writeSync`). The caller keeps one write in flight
   * at a time.
   */
  write(ops: readonly KvOp[], sync: boolean): Promise<void>;
  /** True after a failed write left the store refusing writes (RocksDB's sticky background error). */
  readonly broken: boolean;
  /** Makes a broken store writable again (reopen); rejects (STORAGE_FULL) while space is still short. */
  repair(): Promise<void>;
}

/**
 * One batch holding the store's global commit lock (taken by `SharedKv.lock`). Exactly one
 * of `commit` or `release` ends it; until then no other engine on the store can take the lock.
 */
export interface LockedBatch {
  /** The values of the keys passed to `lock`, read after the lock was granted (so they include every earlier commit). */
  readonly values: readonly (Buffer | undefined)[];
  /**
   * Applies every operation atomically and durably, announces `announce` (the batch's last
   * commit_ts) to every engine on the store, releases the lock. Throws when the outcome is
   * unknown or the batch was rolled back (the lock is released either way).
   */
  commit(ops: readonly KvOp[], announce: number | null): Promise<void>;
  /** Ends the batch writing nothing. */
  release(): Promise<void>;
}

/**
 * A store that several engines write at once (PostgreSQL). Commits are serialised by a
 * lock in the store itself, not in this process: the sequencer numbers every batch from
 * the commit_ts marker it reads under that lock, so numbering is global and gap-free.
 */
export interface SharedKv extends ReadableKv {
  readonly kind: "postgres";
  /** Takes the global commit lock (waiting for other engines' batches), then reads `keys`. */
  lock(keys: readonly Buffer[]): Promise<LockedBatch>;
  /**
   * Calls `listener` with the last commit_ts of every batch any engine commits, in order
   * (and again with the current marker after a lost notification channel reconnects).
   * Returns the unsubscribe function.
   */
  onCommitted(listener: (commitTs: number) => void): () => void;
}

/** Any store the engine runs on. */
export type EngineKv = OrderedKv | SharedKv;

export function isSharedKv(kv: EngineKv): kv is SharedKv {
  return kv.kind === "postgres";
}
