// WalSync, the "wal-sync" writer's fsync: it follows RocksDB's WAL files as memtables switch and
// old WALs are deleted, shares syncs between concurrent callers, and reports I/O errors. That
// it makes acknowledged commits survive a power cut is the e2e power-loss suite's to show.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { withTempDir } from "../test-support/temp-dir.ts";
import { RocksKv } from "./rocks-kv.ts";
import { WalSync } from "./wal-sync.ts";

const MIB = 1024 * 1024;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

const walFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => /^\d+\.log$/.test(name)).sort();

describe("WalSync", () => {
  test("syncs the WAL files RocksDB writes now, across memtable switches and deleted WALs", async () => {
    const { dir, remove } = await withTempDir();
    const location = join(dir, "db");
    // 1 MiB write buffers: 16 MiB of puts switch the memtable (and the WAL) many times.
    const kv = await RocksKv.open(location, { memtableBudgetBytes: 4 * MIB });
    cleanup.push(remove, () => kv.close());
    const sync = new WalSync(location);
    cleanup.push(() => sync.close());
    const value = Buffer.alloc(64 * 1024, 1);
    const seen = new Set<string>();
    for (let i = 0; i < 256; i++) {
      kv.writeSync([{ type: "put", key: Buffer.from(`k${i}`), value }], false);
      await sync.sync();
      const live = await walFiles(location);
      // Every live WAL after the write is among the files just synced (the newest above all).
      for (const name of live.filter((n) => !sync.syncedFiles.includes(n))) {
        // Only a WAL created by RocksDB's background after our listing may be missing, and it holds none of our writes.
        expect(Number(name.slice(0, -4))).toBeGreaterThan(Number(sync.syncedFiles.at(-1)?.slice(0, -4)));
      }
      expect(sync.syncedFiles).toContain(live.at(-1));
      for (const name of sync.syncedFiles) seen.add(name);
    }
    expect(seen.size).toBeGreaterThan(3);
    // Deleted WALs are let go: the descriptors held are of live files only.
    const live = new Set(await walFiles(location));
    expect(sync.syncedFiles.filter((name) => !live.has(name)).length).toBeLessThanOrEqual(1);
  });

  test("concurrent callers each get a sync that started after they called, sharing runs", async () => {
    const { dir, remove } = await withTempDir();
    const location = join(dir, "db");
    const kv = await RocksKv.open(location);
    cleanup.push(remove, () => kv.close());
    const sync = new WalSync(location);
    cleanup.push(() => sync.close());
    kv.writeSync([{ type: "put", key: Buffer.from("a"), value: Buffer.from("1") }], false);
    const finished: number[] = [];
    const first = sync.sync();
    // Called while `first` runs: they may have written after it listed and synced, so they
    // must not join it; all of them share the one sync queued behind it.
    const later = Array.from({ length: 49 }, () => sync.sync());
    expect(later.every((p) => p === later[0])).toBe(true);
    expect(later[0]).not.toBe(first);
    void first.then(() => finished.push(1));
    void later[0]?.then(() => finished.push(2));
    const results = await Promise.allSettled([first, ...later]);
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    expect(finished).toEqual([1, 2]);
    // With none running, the next caller starts a new sync of its own.
    const next = sync.sync();
    expect(next).not.toBe(later[0]);
    await next;
  });

  test("an I/O error rejects the sync; a closed syncer refuses", async () => {
    const { dir, remove } = await withTempDir();
    cleanup.push(remove);
    const missing = new WalSync(join(dir, "no-such-db"));
    await expect(missing.sync()).rejects.toMatchObject({ code: "ENOENT" });
    await missing.close();
    await expect(missing.sync()).rejects.toThrow(/closed/);
  });

  test("RocksKv's wal-sync write marks the store broken when the sync fails, and a repair reopens it", async () => {
    const { dir, remove } = await withTempDir();
    const location = join(dir, "db");
    const kv = await RocksKv.open(location, { writer: "wal-sync" });
    cleanup.push(remove, () => kv.close());
    await kv.write([{ type: "put", key: Buffer.from("a"), value: Buffer.from("1") }], true);
    // Swap the syncer for one that fails, as an fdatasync returning EIO would.
    (kv as unknown as { walSync: WalSync }).walSync = new WalSync(join(dir, "gone"));
    await expect(kv.write([{ type: "put", key: Buffer.from("b"), value: Buffer.from("2") }], true)).rejects.toMatchObject({ code: "STORAGE_ERROR" });
    expect(kv.broken).toBe(true);
    await kv.repair();
    expect(kv.broken).toBe(false);
    // The batch whose sync failed was written: its outcome was unknown, and storage shows it.
    expect((await kv.getMany([Buffer.from("a"), Buffer.from("b")])).map((v) => v?.toString())).toEqual(["1", "2"]);
  });
});
