// RocksDB's own LOG (logLevel) and its figures (storageStatus), on a real RocksDB.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { disposableEngines } from "../test-support/disposable-engines.ts";
import { KEPT_OLD_LOGS, RocksKv } from "./rocks-kv.ts";

const { tempDir } = disposableEngines();

async function logs(location: string): Promise<string[]> {
  return (await readdir(location)).filter((name) => name.startsWith("LOG")).sort();
}

describe("RocksKv LOG and figures", () => {
  it("writes RocksDB's LOG by default, and keeps only the newest old LOGs across opens", async () => {
    const location = join(await tempDir(), "db");
    for (let i = 0; i < KEPT_OLD_LOGS + 3; i++) {
      const kv = await RocksKv.open(location);
      kv.writeSync([{ type: "put", key: Buffer.from(`k${i}`), value: Buffer.from("v") }], true);
      await kv.close();
    }
    const files = await logs(location);
    expect(files).toContain("LOG");
    // RocksDB alone would keep up to 1000 of them.
    expect(files.filter((f) => f.startsWith("LOG.old.")).length).toBe(KEPT_OLD_LOGS);
  });

  it('writes RocksDB\'s informational lines with logLevel "info"', async () => {
    const location = join(await tempDir(), "db");
    await (await RocksKv.open(location, { logLevel: "info" })).close();
    expect(await readFile(join(location, "LOG"), "utf8")).toMatch(/RocksDB version/);
  });

  it('writes no LOG with logLevel "off"', async () => {
    const location = join(await tempDir(), "db");
    const kv = await RocksKv.open(location, { logLevel: "off" });
    await kv.close();
    expect(await logs(location)).toEqual([]);
  });

  it("reports write-stall and compaction figures as numbers", async () => {
    const kv = await RocksKv.open(join(await tempDir(), "db"));
    kv.writeSync([{ type: "put", key: Buffer.from("k"), value: Buffer.from("v") }], true);
    const status = kv.storageStatus();
    expect(status.writeStopped).toBe(0);
    expect(status.delayedWriteRate).toBe(0);
    for (const figure of Object.values(status)) expect(Number.isFinite(figure)).toBe(true);
    expect(kv.estimatedEntries()).toBeGreaterThanOrEqual(1);
    await kv.close();
  });
});
