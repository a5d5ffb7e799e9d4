import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Failpoints } from "./failpoints.ts";
import { agentEventKey, agentPrefix, eventKey, stateKey, TABLE_AGENT_EVENT, TABLE_STATE } from "./key-encoding.ts";
import { openEngine } from "./open-engine.ts";
import { META_REBUILD } from "./recovery.ts";
import { SnapshotStore } from "./snapshot-store.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { collect, expectEngineError } from "./test-support/engine-contract.ts";
import { disposableEngines } from "./test-support/disposable-engines.ts";
import type { Engine } from "./types.ts";

const { tempDir, open } = disposableEngines();

/**
 * Commits `rounds` x `interval` transactions, waiting after each round for the snapshot it
 * triggers, so the snapshots land exactly at multiples of the interval.
 */
async function openWithSnapshots(dir: string, interval: number, rounds: number, extra: number, kept = 3): Promise<Engine> {
  let written = 0;
  let wake: (() => void) | null = null;
  const engine = await open(dir, {
    snapshotInterval: interval,
    snapshotsKept: kept,
    observer: {
      onSnapshot: () => {
        written++;
        wake?.();
      },
    },
  });
  for (let round = 0; round < rounds; round++) {
    await workload(engine, interval, round * interval, 1);
    while (written <= round) await new Promise<void>((resolve) => (wake = resolve));
  }
  await workload(engine, extra, rounds * interval, 1);
  return engine;
}

/** Commits `count` transactions touching a few agents and keys; returns nothing, state is checked via dumps. */
async function workload(engine: Engine, count: number, offset = 0, concurrency = 8): Promise<void> {
  for (let i = offset; i < offset + count; i += concurrency) {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, offset + count - i) }, (_, j) => {
        const n = i + j;
        return engine.transact({
          operations: [
            { namespace: "default", agentId: `agent-${n % 3}`, key: `k${n % 7}`, value: n % 11 === 0 ? null : { n } },
            { namespace: "default", agentId: `agent-${(n + 1) % 3}`, key: "progress", value: { n } },
          ],
          idempotencyKey: `req-${n}`,
        });
      }),
    );
  }
}

/** Everything a client can observe: state of each agent, its replay, and the commit_ts. */
async function observe(engine: Engine): Promise<unknown> {
  const out: Record<string, unknown> = { commitTs: engine.commitTs() };
  for (let a = 0; a < 3; a++) {
    const agent = `agent-${a}`;
    out[agent] = {
      state: await engine.scanPrefix("default", agent, ""),
      versions: await Promise.all([...Array(7).keys()].map((k) => engine.get({ namespace: "default", agentId: agent, key: `k${k}` }))),
      replay: await collect(engine.replay("default", agent)),
    };
  }
  return out;
}

async function withRawStore<T>(dir: string, fn: (kv: RocksKv) => Promise<T> | T): Promise<T> {
  const kv = await RocksKv.open(join(dir, "db"));
  try {
    return await fn(kv);
  } finally {
    await kv.close();
  }
}

async function snapshotFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "snapshots"))).sort();
}

describe("snapshots and recovery (RocksDB)", () => {
  it("writes a snapshot every interval, keeps the last few, and replays only the events after the newest", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 6, 10, 2);
    const before = await observe(engine);
    await engine.close();
    const files = await snapshotFiles(dir);
    expect(files).toEqual(["snapshot-00000000000000000100.snap", "snapshot-00000000000000000120.snap"]);
    const reopened = await open(dir, { snapshotInterval: 20 });
    expect(reopened.recovery).toMatchObject({ storage: "rocksdb", snapshotTs: 120n, eventsReplayed: 10, commitTs: 130n });
    expect(reopened.recovery.snapshotFile).toContain(files[1]);
    expect(await observe(reopened)).toEqual(before);
  });

  it("writes snapshots of constant size that record commit_ts S and the checksum of event S, while commits continue", async () => {
    const dir = await tempDir();
    const engine = await open(dir, { snapshotInterval: 50 });
    await Promise.all([workload(engine, 200), workload(engine, 200, 1000)]);
    await engine.close();
    const store = new SnapshotStore(join(dir, "snapshots"), 3, new Failpoints(undefined));
    const all = await store.list();
    expect(all.length).toBeGreaterThan(0);
    for (const info of all) {
      expect((await stat(info.file)).size).toBe(32);
      const check = await store.check(info);
      const event = await withRawStore(dir, (kv) => kv.getManySync([eventKey(info.commitTs)])[0]);
      expect(check).toEqual({ ok: true, commitTs: info.commitTs, createdAtMs: expect.any(Number), eventCrc: crc32(event as Buffer) });
    }
  });

  it("falls back to an older snapshot when the newest fails its checksum", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 3, 10);
    const before = await observe(engine);
    await engine.close();
    const files = await snapshotFiles(dir);
    const newest = join(dir, "snapshots", files[files.length - 1] ?? "");
    const bytes = await readFile(newest);
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    await writeFile(newest, bytes);
    const reopened = await open(dir);
    expect(reopened.recovery.snapshotTs).toBe(40n);
    expect(reopened.recovery.eventsReplayed).toBe(30);
    expect(reopened.commitTs()).toBe(70n);
    expect(reopened.recovery.notes.join("\n")).toMatch(/rejected: .*checksum mismatch/);
    expect(await observe(reopened)).toEqual(before);
  });

  it("rebuilds the indexes from the log when state entries after the snapshot are missing", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 2, 10);
    const before = await observe(engine);
    await engine.close();
    // Lose the latest-state entry of a key written after the last snapshot.
    await withRawStore(dir, (kv) => kv.writeSync([{ type: "del", key: stateKey("default", "agent-1", "progress") }], true));
    const reopened = await open(dir);
    expect(reopened.recovery.notes.join("\n")).toMatch(/rebuilding indexes from the full event log: state of agent-1\/progress missing/);
    expect(reopened.recovery.snapshotTs).toBeNull();
    expect(await observe(reopened)).toEqual(before);
  });

  it("rebuilds from the log when an agent's slice of a multi-agent event is torn", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 2, 10);
    const before = await observe(engine);
    await engine.close();
    // Event 45 (n=44, after the last snapshot) spans agent-2 and agent-0; tear agent-0's index entry.
    await withRawStore(dir, (kv) =>
      kv.writeSync([{ type: "put", key: agentEventKey(agentPrefix(TABLE_AGENT_EVENT, "default", "agent-0"), 45), value: Buffer.of(1, 2) }], true),
    );
    const reopened = await open(dir);
    expect(reopened.recovery.notes.join("\n")).toMatch(/rebuilding indexes from the full event log: agent index entry of event 45 differs from the log/);
    expect(await observe(reopened)).toEqual(before);
  });

  it("rebuilds every index from the full event log when no snapshot is usable", async () => {
    const dir = await tempDir();
    const engine = await open(dir, { snapshotInterval: 20 });
    await workload(engine, 50);
    const before = await observe(engine);
    await engine.close();
    await rm(join(dir, "snapshots"), { recursive: true });
    await withRawStore(dir, async (kv) => {
      const iterator = kv.iterator({ gte: Buffer.of(TABLE_STATE), lt: Buffer.of(TABLE_STATE + 1) });
      const rows = await iterator.next(10_000);
      iterator.close();
      kv.writeSync(
        rows.map(([key]) => ({ type: "del", key })),
        true,
      );
    });
    const reopened = await open(dir);
    expect(reopened.recovery.snapshotTs).toBeNull();
    expect(reopened.recovery.eventsReplayed).toBe(50);
    expect(reopened.recovery.notes.join("\n")).toMatch(/rebuilding indexes/);
    expect(await observe(reopened)).toEqual(before);
    // Idempotency keys are rebuilt too: the same content under req-3 is its original commit.
    const req3 = [
      { namespace: "default", agentId: "agent-0", key: "k3", value: { n: 3 } },
      { namespace: "default", agentId: "agent-1", key: "progress", value: { n: 3 } },
    ];
    expect(await reopened.transact({ operations: req3, idempotencyKey: "req-3" })).toEqual({ commitTs: 4n, duplicate: true });
  });

  it("rebuilds on request and after an interrupted rebuild, reaching the same state", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 2, 5);
    const before = await observe(engine);
    await engine.close();
    const rebuilt = await open(dir, { recoveryMode: "rebuild" });
    expect(rebuilt.recovery).toMatchObject({ snapshotTs: null, eventsReplayed: 45, commitTs: 45n });
    expect(await observe(rebuilt)).toEqual(before);
    await rebuilt.close();
    // A full rebuild killed after it had cleared the agent-event index (while a valid snapshot exists).
    await withRawStore(dir, async (kv) => {
      const iterator = kv.iterator({ gte: Buffer.of(TABLE_AGENT_EVENT), lt: Buffer.of(TABLE_AGENT_EVENT + 1) });
      const rows = await iterator.next(10_000);
      iterator.close();
      kv.writeSync([{ type: "put", key: META_REBUILD, value: Buffer.from("full") }, ...rows.map(([key]) => ({ type: "del" as const, key }))], true);
    });
    const again = await open(dir);
    expect(again.recovery.notes.join("\n")).toMatch(/interrupted/);
    expect(await observe(again)).toEqual(before);
  });

  it("refuses to open when a replayed event fails its checksum; damage to older entries surfaces on use", async () => {
    const dir = await tempDir();
    const engine = await openWithSnapshots(dir, 20, 1, 10);
    await engine.close();
    const flip = (kv: RocksKv, key: Buffer): Buffer => {
      const [raw] = kv.getManySync([key]);
      const bad = Buffer.from(raw as Buffer);
      bad[bad.length - 3] = (bad[bad.length - 3] ?? 0) ^ 0x01;
      kv.writeSync([{ type: "put", key, value: bad }], true);
      return raw as Buffer;
    };
    const original = await withRawStore(dir, (kv) => flip(kv, eventKey(25)));
    const error = await expectEngineError(openEngine({ dataDir: dir }), "CORRUPTION");
    expect(error.message).toMatch(/commit_ts 25: checksum mismatch/);

    // Event 5 (workload item n=4) wrote version 1 of agent-1/k4. Damage before the snapshot is
    // not replayed by a normal open; a full rebuild reads the whole log and refuses it.
    const agentEntry = agentEventKey(agentPrefix(TABLE_AGENT_EVENT, "default", "agent-1"), 5);
    await withRawStore(dir, (kv) => {
      kv.writeSync([{ type: "put", key: eventKey(25), value: original }], true);
      flip(kv, eventKey(5));
      flip(kv, agentEntry);
    });
    await expectEngineError(openEngine({ dataDir: dir, recoveryMode: "rebuild" }), "CORRUPTION");
    const reopened = await open(dir);
    expect(reopened.commitTs()).toBe(30n);
    await expectEngineError(reopened.getAtVersion({ namespace: "default", agentId: "agent-1", key: "k4" }, 1n), "CORRUPTION");
    await expectEngineError(collect(reopened.replay("default", "agent-1")), "CORRUPTION");
    expect((await reopened.get({ namespace: "default", agentId: "agent-1", key: "k4" })).exists).toBe(true);
  });

  it("answers LOCKED when the directory is already open, in this process or another", async () => {
    const dir = await tempDir();
    const engine = await open(dir);
    await expectEngineError(openEngine({ dataDir: dir }), "LOCKED");
    const { execFileSync } = await import("node:child_process");
    const { NODE_BINARY } = await import("./test-support/node-binary.ts");
    const script = `import { openEngine } from ${JSON.stringify(new URL("./open-engine.ts", import.meta.url).pathname)};
      try { await openEngine({ dataDir: ${JSON.stringify(dir)} }); console.log("opened"); } catch (e) { console.log(e.code); }`;
    const output = execFileSync(NODE_BINARY, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(output.trim()).toBe("LOCKED");
    await engine.close();
    const reopened = await open(dir);
    expect(reopened.commitTs()).toBe(0n);
  });
});
