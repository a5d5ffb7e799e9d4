// Closing a native RocksDB write batch made with the binding's synchronous API.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- an ambient module declaration cannot be imported
/// <reference path="./rocksdb-binding.d.ts" />
import type { RocksChainedBatch, RocksLevel } from "@nxtedition/rocksdb";

/**
 * Frees `batch`'s native buffer and unregisters it from `db`. abstract-level registers every
 * batch with its database when it is made and only its asynchronous public close() unregisters
 * it; `_closeSync` alone left every batch written in the database's resource set until the
 * database closed (a few hundred bytes of heap per write, without bound).
 */
export function closeBatch(db: RocksLevel, batch: RocksChainedBatch): void {
  batch._closeSync();
  db.detachResource(batch);
}
