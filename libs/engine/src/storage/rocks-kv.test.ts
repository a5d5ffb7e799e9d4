// RocksKv's memory settings: the block cache and memtable budget it opens with, and what
// RocksDB reports holding (engine README, "Memory").
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { openEngine } from "../open-engine.ts";
import { withTempDir } from "../test-support/temp-dir.ts";
import { ROCKS_MEMORY_DEFAULTS, RocksKv } from "./rocks-kv.ts";

const MIB = 1024 * 1024;
let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

async function open(memory: Parameters<typeof RocksKv.open>[1]): Promise<RocksKv> {
  const { dir, remove } = await withTempDir();
  const kv = await RocksKv.open(join(dir, "db"), memory);
  cleanup.push(remove, () => kv.close());
  return kv;
}

const key = (i: number): Buffer => Buffer.from(`k${String(i).padStart(8, "0")}`);

describe("RocksKv memory", () => {
  test("the block cache stays within its size while the data is several times larger", async () => {
    const kv = await open({ blockCacheBytes: 2 * MIB, memtableBudgetBytes: 4 * MIB });
    const value = Buffer.alloc(1024, 7);
    // 24 MiB through 1 MiB write buffers: most of it ends up in SST files.
    for (let batch = 0; batch < 24; batch++) {
      kv.writeSync(Array.from({ length: 1024 }, (_, j) => ({ type: "put" as const, key: key(batch * 1024 + j), value })), false);
    }
    for (let start = 0; start < 24 * 1024; start += 512) {
      const values = await kv.getMany(Array.from({ length: 512 }, (_, j) => key(start + j)));
      expect(values.every((v) => v?.equals(value) === true)).toBe(true);
    }
    const usage = kv.memoryUsage();
    expect(usage.blockCache).toBeGreaterThan(0);
    // The clock cache may run slightly over its capacity while entries are in use.
    expect(usage.blockCache).toBeLessThanOrEqual(2.5 * MIB);
    // Index and filter blocks are cached too, not held per table beside the cache.
    expect(usage.tableReaders).toBeLessThan(MIB);
    expect(usage.memtables).toBeGreaterThan(0);
    expect(usage.memtables).toBeLessThanOrEqual(1.5 * 4 * MIB);
  });

  test("defaults are the documented sizes, and sizes out of range are refused", async () => {
    expect(ROCKS_MEMORY_DEFAULTS).toEqual({ blockCacheBytes: 16 * MIB, memtableBudgetBytes: 32 * MIB });
    const kv = await open({});
    expect(Object.values(kv.memoryUsage()).every((n) => Number.isFinite(n) && n >= 0)).toBe(true);
    const { dir, remove } = await withTempDir();
    cleanup.push(remove);
    await expect(RocksKv.open(join(dir, "a"), { blockCacheBytes: 4096 * MIB })).rejects.toThrow(TypeError);
    await expect(RocksKv.open(join(dir, "b"), { blockCacheBytes: 1000 })).rejects.toThrow(/blockCacheBytes/);
    await expect(RocksKv.open(join(dir, "c"), { memtableBudgetBytes: MIB })).rejects.toThrow(/memtableBudgetBytes/);
  });

  test("the engine's stats carry RocksDB's memory; the memory backend has none", async () => {
    const { dir, remove } = await withTempDir();
    const engine = await openEngine({ dataDir: dir, rocksdbCacheBytes: 4 * MIB });
    cleanup.push(remove, () => engine.close());
    await engine.transact({ operations: [{ namespace: "n", agentId: "a", key: "k", value: { v: 1 } }] });
    const memory = engine.stats().storageMemory;
    expect(memory?.memtables).toBeGreaterThan(0);
    expect(memory?.blockCache).toBeLessThanOrEqual(4 * MIB);
    const inMemory = await openEngine({ inMemory: true });
    cleanup.push(() => inMemory.close());
    expect(inMemory.stats().storageMemory).toBeNull();
  });
});
