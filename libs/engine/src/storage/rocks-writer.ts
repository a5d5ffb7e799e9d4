// Runs RocksKv's batch writes on a worker thread (rocks-write-worker.ts) that shares the open
// database by its native handle. @nxtedition/rocksdb 12.2.12 has no asynchronous batch write
// (its chained batch's `_write` calls `_writeSync`), so without this thread every commit's
// fsync would stop the event loop. One worker per open database; writes are answered in the
// order they were sent; the thread is referenced only while a write is in flight (an idle
// engine does not keep the process alive). `RocksWriter.start` waits until the thread has
// loaded and attached, so a store opened in "thread" mode does not make its first commit wait
// for a thread to boot (100 ms and more on a loaded machine).
import { Worker } from "node:worker_threads";
import type { KvOp } from "./ordered-kv.ts";
import { packOps } from "./packed-ops.ts";
import type { WriteReply, WriteRequest, WriterReady } from "./rocks-write-worker.ts";

// From source (tests, `--conditions=@statehouse/source`) the worker is the .ts beside this file; built, the .js.
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./rocks-write-worker.ts" : "./rocks-write-worker.js", import.meta.url);

interface InFlight {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class RocksWriter {
  private readonly worker: Worker;
  private readonly inflight = new Map<number, InFlight>();
  private nextId = 1;
  /** Why the thread is gone (every later write fails with it), or null while it runs. */
  private stopped: Error | null = null;
  /** The thread has posted that it is attached (it may have stopped since). */
  private attached = false;
  /** Resolves once the thread takes writes; rejects with why it stopped if it never does. */
  private readonly ready: Promise<void>;
  private rejectReady: (reason: Error) => void = () => undefined;

  /** Starts the thread; writes sent before it is ready queue in order. */
  constructor(handle: bigint) {
    // No inherited execArgv: the parent's (e.g. --input-type for `node -e`) can stop a module worker from loading.
    this.worker = new Worker(WORKER_URL, { workerData: { handle }, execArgv: [] });
    this.worker.unref();
    let resolveReady = (): void => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A thread started on demand is not awaited: its failure reaches the writes instead.
    this.ready.catch(() => undefined);
    this.worker.on("message", (reply: WriteReply | WriterReady) => {
      if (!("ready" in reply)) return this.settle(reply);
      this.attached = true;
      resolveReady();
    });
    this.worker.on("error", (error) => this.stop(new Error(`the RocksDB writer thread failed: ${error.message}`, { cause: error })));
    this.worker.on("exit", (code) => this.stop(new Error(`the RocksDB writer thread exited (code ${code})`)));
  }

  /** A started thread that is ready for writes. */
  static async start(handle: bigint): Promise<RocksWriter> {
    const writer = new RocksWriter(handle);
    try {
      await writer.ready;
    } catch (error) {
      await writer.close();
      throw error;
    }
    return writer;
  }

  /** The thread has attached and takes writes, and has not stopped. */
  get isReady(): boolean {
    return this.attached && this.stopped === null;
  }

  /** A write is in flight (a later one must queue behind it to keep the order). */
  get busy(): boolean {
    return this.inflight.size > 0;
  }

  /** Writes `ops` as one atomic batch on the writer thread; resolves once RocksDB returned (with sync: durable). */
  write(ops: readonly KvOp[], sync: boolean): Promise<void> {
    if (this.stopped !== null) return Promise.reject(this.stopped);
    const id = this.nextId++;
    const request: WriteRequest = { id, ops: packOps(ops), sync };
    return new Promise<void>((resolve, reject) => {
      if (this.inflight.size === 0) this.worker.ref();
      this.inflight.set(id, { resolve, reject });
      this.worker.postMessage(request, [request.ops]);
    });
  }

  /** Stops the thread; call only with no write in flight (the database may be closed right after). */
  async close(): Promise<void> {
    this.stop(new Error("the RocksDB writer thread is closed"));
    await this.worker.terminate();
  }

  private settle({ id, error }: WriteReply): void {
    const waiter = this.inflight.get(id);
    if (waiter === undefined) return;
    this.inflight.delete(id);
    if (this.inflight.size === 0) this.worker.unref();
    if (error === null) waiter.resolve();
    else waiter.reject(Object.assign(new Error(error.message), error.code === undefined ? {} : { code: error.code }));
  }

  /** The thread is gone: writes still in flight have an unknown outcome. */
  private stop(reason: Error): void {
    this.stopped ??= reason;
    this.rejectReady(reason);
    for (const waiter of this.inflight.values()) waiter.reject(reason);
    this.inflight.clear();
    this.worker.unref();
  }
}
