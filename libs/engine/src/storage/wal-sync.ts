// Makes RocksDB's write-ahead log durable from libuv's thread pool, so a commit's fsync never
// stops the event loop and needs no thread of our own (RocksKv's "wal-sync" writer, the
// default; engine README, "What runs where"). The batch is written with sync: false on the calling
// thread, which returns once RocksDB has appended the record to its WAL file with write(2)
// (no manual_wal_flush: RocksDB hands every record to the OS before Write returns); then
// `sync()` fdatasyncs every live WAL file (`<db>/*.log`: the active one, and any older one whose
// memtable is not flushed yet and may still hold unsynced records) and, when a WAL file is new
// since the last sync, the directory that names it — what RocksDB does itself for a sync write.
// fsync is per file, not per descriptor, so our own read-only descriptor covers RocksDB's writes.
//
// Concurrent callers share syncs: a caller waits for a sync that started after its write
// returned (one running, at most one queued behind it for everyone who arrives meanwhile).
import { open, readdir, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

const WAL_FILE = /^\d+\.log$/;

export class WalSync {
  /** Open descriptors of the live WAL files, by file name. */
  private readonly files = new Map<string, FileHandle>();
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private closed = false;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The WAL files the last sync fdatasynced (tests: it follows RocksDB's WAL switches). */
  get syncedFiles(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Resolves once every WAL record appended before this call is on stable storage; rejects on an I/O error. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the WAL syncer is closed"));
    if (this.running === null) return this.start();
    // The running sync may have listed and synced the files before this caller's write: wait for the next one.
    this.queued ??= this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.queued;
  }

  /** Closes the descriptors; call with no sync in flight (the database is closing). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.running, this.queued]);
    const handles = [...this.files.values()];
    this.files.clear();
    await Promise.allSettled(handles.map((handle) => handle.close()));
  }

  private start(): Promise<void> {
    this.queued = null;
    const run = this.syncOnce().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async syncOnce(): Promise<void> {
    const names = new Set((await readdir(this.dir)).filter((name) => WAL_FILE.test(name)));
    let added = false;
    for (const [name, handle] of this.files) {
      if (names.has(name)) continue;
      // RocksDB deletes a WAL only once its memtable is flushed to a synced SST.
      this.files.delete(name);
      await handle.close().catch(() => undefined);
    }
    for (const name of names) {
      if (this.files.has(name)) continue;
      try {
        this.files.set(name, await open(join(this.dir, name), "r"));
        added = true;
      } catch (error) {
        // Obsolete and deleted between the listing and the open: nothing in it to sync.
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    await Promise.all([...this.files.values()].map((handle) => handle.datasync()));
    if (added) {
      const dir = await open(this.dir, "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
  }
}
