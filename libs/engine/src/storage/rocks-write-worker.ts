// The RocksDB writer thread (started by RocksWriter): it runs each batch write, fsync
// included, so the event loop of the thread that serves requests never waits for the disk.
// It writes through the main thread's open database (the binding shares a database by its
// native handle) and never closes it: the owner closes the database after stopping this
// thread, and never while a write is in flight.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- an ambient module declaration cannot be imported
/// <reference path="./rocksdb-binding.d.ts" />
import { parentPort, workerData } from "node:worker_threads";
import { RocksLevel } from "@nxtedition/rocksdb";
import { unpackOps } from "./packed-ops.ts";
import { closeBatch } from "./rocks-batch.ts";

export interface WriteRequest {
  id: number;
  ops: ArrayBuffer;
  sync: boolean;
}

export interface WriteReply {
  id: number;
  error: { message: string; code: string | undefined } | null;
}

/** Posted once, when the thread has attached to the database and takes writes. */
export interface WriterReady {
  ready: true;
}

const NO_OPTIONS = {};
const port = parentPort;
if (port === null) throw new Error("rocks-write-worker runs as a worker thread");
const db = new RocksLevel((workerData as { handle: bigint }).handle);
// The handle's database is open already: this only attaches (no second RocksDB open).
await db.open();
port.postMessage({ ready: true } satisfies WriterReady);

port.on("message", ({ id, ops, sync }: WriteRequest) => {
  const batch = db._chainedBatch();
  let error: WriteReply["error"] = null;
  try {
    unpackOps(
      ops,
      (key, value) => batch._put(key, value, NO_OPTIONS),
      (key) => batch._del(key, NO_OPTIONS),
    );
    batch._writeSync({ sync });
  } catch (cause) {
    const failure = cause instanceof Error ? cause : new Error(String(cause));
    error = { message: failure.message, code: (failure as { code?: string }).code };
  } finally {
    closeBatch(db, batch);
  }
  port.postMessage({ id, error } satisfies WriteReply);
});
