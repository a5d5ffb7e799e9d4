// The part of @nxtedition/rocksdb 12.2.12 (untyped) the engine uses. Methods with a
// leading underscore are the binding's synchronous primitives (see its index.js and
// chained-batch.js); the version is pinned, and rocks-kv.test.ts exercises each of them.
declare module "@nxtedition/rocksdb" {
  export interface RocksOpenOptions {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    walCompression?: boolean;
    infoLogLevel?: "debug" | "info" | "warn" | "error" | "fatal" | "header";
    parallelism?: number;
    compaction?: "level" | "universal";
    memtableMemoryBudget?: number;
    compression?: boolean;
    /** Block cache bytes (uint32; 0 = no cache). The binding's default is 8 MiB. */
    cacheSize?: number;
    /** Keep SST index and filter blocks in the block cache instead of beside it. */
    cacheIndexAndFilterBlocks?: boolean;
  }

  export interface RocksIteratorOptions {
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
    lte?: Buffer;
    limit?: number;
    reverse?: boolean;
    keys?: boolean;
    /** One nextv returns early once the keys and values it read exceed this many bytes. */
    highWaterMarkBytes?: number;
    keyEncoding: "buffer";
    valueEncoding: "buffer";
  }

  export interface RocksIterator {
    nextv(size: number): Promise<[Buffer, Buffer][]>;
    close(): Promise<void>;
  }

  export interface RocksChainedBatch {
    _put(key: Buffer, value: Buffer, options: object): void;
    _del(key: Buffer, options: object): void;
    /** Writes synchronously on the calling thread; with sync it fsyncs the WAL first. Throws on failure. */
    _writeSync(options: { sync?: boolean }): void;
    _closeSync(): void;
  }

  export class RocksLevel {
    /** A location opens a database; a handle (another RocksLevel's `handle`, e.g. in a worker thread) attaches to that open database. */
    constructor(locationOrHandle: string | bigint);
    readonly status: "opening" | "open" | "closing" | "closed";
    /** The native database's address, for `new RocksLevel(handle)` on another thread (only while open). */
    readonly handle: bigint;
    open(options?: RocksOpenOptions): Promise<void>;
    close(): Promise<void>;
    iterator(options: RocksIteratorOptions): RocksIterator;
    _chainedBatch(): RocksChainedBatch;
    _getManySync(keys: readonly Buffer[]): (Buffer | undefined)[];
    _getManyAsync(keys: readonly Buffer[], options: object): Promise<(Buffer | undefined)[]>;
    /**
     * abstract-level's registry of open resources: every batch registers itself when created and
     * only the public close() unregisters it; `_closeSync` does not.
     */
    detachResource(resource: object): void;
    /** A RocksDB property (e.g. "rocksdb.block-cache-usage"), as text; synchronous. */
    getProperty(property: string): string;
  }
}
