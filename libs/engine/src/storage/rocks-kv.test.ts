// RocksKv's memory settings: the block cache and memtable budget it opens with, and what
// RocksDB reports holding (engine README, "Memory"); its asynchronous write with each writer
// (the WAL synced in libuv's thread pool, or a writer thread).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { openEngine } from "../open-engine.ts";
import { NODE_BINARY } from "../test-support/node-binary.ts";
import { withTempDir } from "../test-support/temp-dir.ts";
import type { KvOp } from "./ordered-kv.ts";
import { ROCKS_MEMORY_DEFAULTS, ROCKS_WRITER_MODES, RocksKv } from "./rocks-kv.ts";

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
    expect(ROCKS_MEMORY_DEFAULTS).toEqual({ blockCacheBytes: 4 * MIB, memtableBudgetBytes: 32 * MIB });
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

/** abstract-level's set of a database's open resources (batches and iterators), by its symbol's name. */
function openResources(kv: RocksKv): number {
  const db = (kv as unknown as { db: object }).db;
  const symbol = Object.getOwnPropertySymbols(db).find((s) => s.description === "resources");
  if (symbol === undefined) throw new Error("abstract-level's resource set was not found");
  return (db as Record<symbol, Set<unknown>>)[symbol]?.size ?? Number.NaN;
}

describe("RocksKv resources", () => {
  test("written batches and closed iterators leave nothing registered on the database", async () => {
    const kv = await open({ writer: "wal-sync" });
    for (let i = 0; i < 500; i++) await kv.write([{ type: "put", key: key(i), value: Buffer.from("v") }], false);
    await kv.write([{ type: "put", key: key(500), value: Buffer.from("v") }], true);
    const it = kv.iterator({});
    expect((await it.next(10)).length).toBe(10);
    expect(openResources(kv)).toBe(1);
    it.close();
    // Before, each of the 501 batches stayed in the set (and on the heap) until the database closed.
    await vi.waitFor(() => expect(openResources(kv)).toBe(0));
  });
});

describe("RocksKv writer thread", () => {
  test('in "thread" mode the thread is attached once open resolves, and again after a repair; "wal-sync" starts none', async () => {
    const threaded = await open({ writer: "thread" });
    // Before, the thread booted on the first commit, which then waited 100 ms and more for it.
    expect(threaded.writerThreadReady).toBe(true);
    await threaded.repair();
    expect(threaded.writerThreadReady).toBe(true);
    await threaded.write([{ type: "put", key: key(1), value: Buffer.from("v") }], true);
    expect((await threaded.getMany([key(1)]))[0]?.toString()).toBe("v");
    const plain = await open({ writer: "wal-sync" });
    expect(plain.writerThreadReady).toBe(false);
  });
});

describe.each(ROCKS_WRITER_MODES)("RocksKv asynchronous write (writer %s)", (writer) => {
  test("applies puts and deletes exactly, empty values and large ones included, and they survive a reopen", async () => {
    const { dir, remove } = await withTempDir();
    cleanup.push(remove);
    const kv = await RocksKv.open(join(dir, "db"), { writer });
    const big = Buffer.alloc(3 * MIB, 9);
    await kv.write(
      [
        { type: "put", key: key(1), value: Buffer.alloc(0) },
        { type: "put", key: key(2), value: big },
        { type: "put", key: key(3), value: Buffer.from("three") },
      ],
      true,
    );
    await kv.write([{ type: "del", key: key(3) }, { type: "put", key: Buffer.from([0, 255, 0]), value: Buffer.from([1]) }], true);
    await kv.close();
    const again = await RocksKv.open(join(dir, "db"), { writer });
    cleanup.push(() => again.close());
    const [one, two, three, odd] = await again.getMany([key(1), key(2), key(3), Buffer.from([0, 255, 0])]);
    expect(one?.length).toBe(0);
    expect(two?.equals(big)).toBe(true);
    expect(three).toBeUndefined();
    expect(odd?.equals(Buffer.from([1]))).toBe(true);
  });

  test("readers see every operation of a batch or none while it is written", async () => {
    const kv = await open({ writer });
    const keys = Array.from({ length: 2000 }, (_, i) => key(i));
    const batchOf = (n: number): KvOp[] => keys.map((k) => ({ type: "put", key: k, value: Buffer.from(String(n)) }));
    await kv.write(batchOf(0), false);
    const seen = new Set<string>();
    let writing = true;
    const reads = (async () => {
      while (writing) {
        const values = await kv.getMany(keys);
        const distinct = new Set(values.map((v) => v?.toString()));
        expect(distinct.size).toBe(1);
        seen.add([...distinct][0] ?? "none");
      }
    })();
    for (let n = 1; n <= 20; n++) await kv.write(batchOf(n), true);
    writing = false;
    await reads;
    expect(seen.size).toBeGreaterThan(0);
    expect((await kv.getMany([key(0)]))[0]?.toString()).toBe("20");
  });

  test("a process that wrote and did not close exits by itself (an idle writer holds nothing)", async () => {
    const { dir, remove } = await withTempDir();
    cleanup.push(remove);
    const script = `import { RocksKv } from ${JSON.stringify(new URL("./rocks-kv.ts", import.meta.url).pathname)};
      const kv = await RocksKv.open(${JSON.stringify(join(dir, "db"))}, { writer: ${JSON.stringify(writer)} });
      await kv.write([{ type: "put", key: Buffer.from("k"), value: Buffer.from("v") }], true);
      console.log("WROTE");`;
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(NODE_BINARY, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
      child.on("exit", (exitCode) => resolve({ code: exitCode, out }));
    });
    expect(out).toContain("WROTE");
    expect(code).toBe(0);
  });

  test("a write after close is refused", async () => {
    const { dir, remove } = await withTempDir();
    cleanup.push(remove);
    const kv = await RocksKv.open(join(dir, "db"), { writer });
    await kv.write([{ type: "put", key: key(1), value: Buffer.from("a") }], true);
    await kv.close();
    await expect(kv.write([{ type: "put", key: key(2), value: Buffer.from("b") }], true)).rejects.toThrow(/not open/);
  });
});
