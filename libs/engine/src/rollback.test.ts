// Rollback is refused, not hidden: evidence that acknowledged commits are missing stops the
// engine from opening with CORRUPTION, and only recoveryMode "accept-rollback" (an explicit
// operator choice) serves the older state. Real RocksDB, real files, a real SIGKILL.
import { spawn } from "node:child_process";
import { cp, readdir, rename, rm, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { META_COMMIT_TS } from "./commit-sequencer.ts";
import { encodeU64, eventKey } from "./key-encoding.ts";
import { openEngine } from "./open-engine.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { expectEngineError } from "./test-support/engine-contract.ts";
import { NODE_BINARY } from "./test-support/node-binary.ts";
import { disposableEngines } from "./test-support/disposable-engines.ts";
import type { Engine } from "./types.ts";

// Interval 1: the newest snapshot always catches up with the last commit, so the tests know where it is.
const { tempDir, open } = disposableEngines({ snapshotInterval: 1 });

/** Commits `count` one-key transactions one after another (each snapshot interval lands exactly). */
async function commits(engine: Engine, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await engine.transact({ operations: [{ namespace: "default", agentId: "a", key: `k${i % 5}`, value: { i, at: engine.commitTs().toString() } }] });
  }
  await snapshotLanded(engine);
}

/** Waits until the snapshot of the current commit_ts is on disk. */
async function snapshotLanded(engine: Engine): Promise<void> {
  const ts = engine.commitTs();
  const dir = engine.recovery.dataDir;
  if (dir === null) return;
  const name = `snapshot-${ts.toString().padStart(20, "0")}.snap`;
  for (let i = 0; i < 500 && !(await snapshots(dir)).includes(name); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function snapshots(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "snapshots"))).filter((f) => f.endsWith(".snap")).sort();
}

describe("rollback is refused with CORRUPTION unless accepted (RocksDB)", () => {
  it("refuses an older db/ restored beside newer snapshots; accept-rollback serves the older state", async () => {
    const dir = await tempDir();
    const engine = await open(dir);
    await commits(engine, 50);
    await engine.close();
    await cp(join(dir, "db"), join(dir, "db-at-50"), { recursive: true });
    const later = await open(dir);
    await commits(later, 50);
    expect(later.commitTs()).toBe(100n);
    await later.close();
    expect(await snapshots(dir)).toContain("snapshot-00000000000000000100.snap");

    await rm(join(dir, "db"), { recursive: true });
    await rename(join(dir, "db-at-50"), join(dir, "db"));
    const refused = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(refused.message).toMatch(/refusing to start: snapshot .*snapshot-00000000000000000100\.snap records commit_ts 100 as durable, but the event log ends at 50/);
    expect(refused.message).toMatch(/accept-rollback/);
    // Refused means untouched: the evidence is still there for the operator.
    expect(await snapshots(dir)).toContain("snapshot-00000000000000000100.snap");

    const accepted = await open(dir, { recoveryMode: "accept-rollback" });
    expect(accepted.commitTs()).toBe(50n);
    expect(accepted.recovery.notes.join("\n")).toMatch(/rollback accepted .*event log ends at 50/);
    // Snapshots 98, 99 and 100 were the newest three kept: none is left that the log reaches.
    expect(accepted.recovery.snapshotTs).toBeNull();
    expect((await snapshots(dir)).every((f) => Number(f.slice(9, 29)) <= 50)).toBe(true);
    expect(await accepted.get({ namespace: "default", agentId: "a", key: "k4" })).toMatchObject({ value: { i: 49 }, commitTs: 50n });
    await accepted.close();
    // Once accepted, later opens are normal.
    expect((await open(dir)).recovery.notes.filter((n) => n.includes("rollback"))).toEqual([]);
  });

  it("refuses a log that holds another event at a snapshot's commit_ts (another history)", async () => {
    const dir = await tempDir();
    const engine = await open(dir);
    await commits(engine, 20);
    await engine.close();
    await cp(join(dir, "db"), join(dir, "db-at-20"), { recursive: true });
    const first = await open(dir);
    await commits(first, 10); // snapshot at 30 records history A's event 30
    await first.close();
    const kept = join(dir, "snapshot-30-of-history-a");
    await cp(join(dir, "snapshots", "snapshot-00000000000000000030.snap"), kept);
    await rm(join(dir, "db"), { recursive: true });
    await rename(join(dir, "db-at-20"), join(dir, "db"));
    const accepted = await open(dir, { recoveryMode: "accept-rollback" });
    await accepted.transact({ operations: [{ namespace: "default", agentId: "a", key: "other", value: { history: "b" } }] });
    await commits(accepted, 15); // history B reaches 36 with its own event 30
    await accepted.close();
    await cp(kept, join(dir, "snapshots", "snapshot-00000000000000000030.snap"));
    await rm(join(dir, "snapshots", "snapshot-00000000000000000031.snap"), { force: true });
    for (const f of await snapshots(dir)) if (Number(f.slice(9, 29)) > 30) await rm(join(dir, "snapshots", f));
    const refused = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(refused.message).toMatch(/recorded another event at commit_ts 30 than the log holds now/);
  });

  it("refuses a truncated WAL that lost acknowledged commits; accept-rollback serves what is left", async () => {
    const dir = await tempDir();
    // A child commits 200 durable transactions and is SIGKILLed: they are in the WAL only.
    const script = `import { openEngine } from ${JSON.stringify(new URL("./open-engine.ts", import.meta.url).pathname)};
      const engine = await openEngine({ dataDir: ${JSON.stringify(dir)}, snapshotInterval: 1 });
      for (let i = 0; i < 200; i++) await engine.transact({ operations: [{ namespace: "default", agentId: "a", key: "k" + (i % 5), value: { i, pad: "p".repeat(200) } }] });
      const { existsSync } = await import("node:fs");
      while (!existsSync(${JSON.stringify(dir)} + "/snapshots/snapshot-00000000000000000200.snap")) await new Promise((r) => setTimeout(r, 10));
      console.log("DONE " + engine.commitTs());
      setInterval(() => {}, 1000);`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(NODE_BINARY, ["--conditions=@statehouse/source", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        if (chunk.includes("DONE 200")) child.kill("SIGKILL");
      });
      child.on("exit", (_code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`child exited without being killed (${signal})`))));
    });
    expect(await snapshots(dir)).toContain("snapshot-00000000000000000200.snap");
    const logs = (await readdir(join(dir, "db"))).filter((f) => f.endsWith(".log"));
    expect(logs.length).toBeGreaterThan(0);
    const wal = join(dir, "db", logs.sort().at(-1) as string);
    await truncate(wal, Math.floor((await stat(wal)).size / 3));

    const refused = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(refused.message).toMatch(/refusing to start: snapshot .* records commit_ts 200 as durable, but the event log ends at \d+/);
    const accepted = await open(dir, { recoveryMode: "accept-rollback" });
    const left = accepted.commitTs();
    expect(left < 200n).toBe(true);
    expect(accepted.recovery.notes.join("\n")).toMatch(/rollback accepted/);
    // What is left is whole: every remaining event, and the state agrees with the last of them.
    const last = await accepted.get({ namespace: "default", agentId: "a", key: `k${Number(left - 1n) % 5}` });
    expect(last).toMatchObject({ commitTs: left, value: { i: Number(left - 1n) } });
  });

  it("refuses to start when an SST file is missing (RocksDB reports corruption, named in the error)", async () => {
    const dir = await tempDir();
    const engine = await open(dir, { fsyncOnCommit: false });
    const big = "x".repeat(100_000);
    // ~40 MB: more than the memtables hold, so RocksDB flushes SST files.
    for (let i = 0; i < 400; i++) await engine.transact({ operations: [{ namespace: "default", agentId: "a", key: `k${i}`, value: { big } }] });
    await engine.close();
    const sst = (await readdir(join(dir, "db"))).filter((f) => f.endsWith(".sst")).sort();
    expect(sst.length).toBeGreaterThan(0);
    await rm(join(dir, "db", sst[0] as string));
    const refused = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(refused.message).toMatch(new RegExp(`${sst[0]}.*restore`, "s"));
    // RocksDB itself refuses such a database (this binding exposes no repair), so no mode opens it.
    await expectEngineError(openEngine({ dataDir: dir, recoveryMode: "accept-rollback" }), "CORRUPTION");
  });

  it("refuses index entries newer than the end of the log (their events are gone)", async () => {
    const dir = await tempDir();
    const engine = await open(dir, { snapshotInterval: 0 });
    await commits(engine, 30);
    await engine.close();
    // Lose events 26..30 and move the marker back, as if the tail of the log vanished.
    const kv = await RocksKv.open(join(dir, "db"));
    kv.writeSync(
      [
        ...[26, 27, 28, 29, 30].map((ts) => ({ type: "del" as const, key: eventKey(ts) })),
        { type: "put", key: META_COMMIT_TS, value: encodeU64(25) },
      ],
      true,
    );
    await kv.close();
    const refused = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(refused.message).toMatch(/state of a\/k\d was written at commit_ts (2[6-9]|30), after the end of the event log \(25\)/);
    const accepted = await open(dir, { recoveryMode: "accept-rollback" });
    expect(accepted.commitTs()).toBe(25n);
    // The orphaned entries are gone: state is what the log says.
    expect(await accepted.get({ namespace: "default", agentId: "a", key: "k4" })).toMatchObject({ value: { i: 24 }, commitTs: 25n, version: 5n });
  });
});
