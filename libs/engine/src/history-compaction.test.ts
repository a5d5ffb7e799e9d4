// What compaction leaves in storage, entry by entry, on RocksDB: exactly the log after the
// floor, the agent-event entries and version entries of history after the horizon plus the
// versions current at it, and no tombstone behind it. And a full index rebuild afterwards
// (recovery mode "rebuild") keeps the state and history that were left.
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { decodeU64, TABLE_AGENT_EVENT, TABLE_EVENT, TABLE_STATE, TABLE_VERSION } from "./key-encoding.ts";
import { openEngineOn } from "./open-engine.ts";
import { decodeStateHeader } from "./record-codec.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import type { OrderedKv } from "./storage/ordered-kv.ts";
import { seededRandom } from "./test-support/random.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { AgentEvent, Engine } from "./types.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function entries(kv: OrderedKv, table: number): Promise<[Buffer, Buffer][]> {
  const iterator = kv.iterator({ gte: Buffer.of(table), lt: Buffer.of(table + 1) });
  const out: [Buffer, Buffer][] = [];
  try {
    for (;;) {
      const rows = await iterator.next(1000);
      if (rows.length === 0) return out;
      out.push(...rows);
    }
  } finally {
    iterator.close();
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

it("leaves exactly the history after the horizon, the versions current at it and no tombstone behind it", async () => {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  const clock = { now: 1_000_000 };
  const options = { clock: () => clock.now, compactionIntervalMs: 0, compactionPauseMs: 0, compactionBatchEvents: 5, retentionDefault: { kind: "duration" as const, keepMs: 3_000 } };
  let kv = await RocksKv.open(join(dir, "db"));
  let engine: Engine = await openEngineOn(kv, dir, options);
  cleanups.push(() => engine.close());
  const random = seededRandom(11);
  const times: number[] = [0];
  for (let i = 1; i <= 80; i++) {
    clock.now += 100;
    const key = `k${Math.floor(random() * 6)}`;
    await engine.transact({ operations: [{ namespace: "n", agentId: "a", key, value: random() < 0.3 ? null : { i } }] });
    times.push(clock.now);
  }
  const events: AgentEvent[] = await collect(engine.replay("n", "a"));
  const current = await engine.scanPrefix("n", "a", "");
  await engine.compactHistory();
  const h = Number(engine.retention("n").horizonCommitTs);
  expect(h).toBe(times.filter((t) => t <= clock.now - 3_000).length - 1);

  // Expected survivors: per key, every version after the horizon and the one current at it (unless a delete).
  const expectedVersions = new Set<string>();
  const expectedAgentEvents = new Set<number>();
  const lastAtHorizon = new Map<string, { version: bigint; ts: bigint; deleted: boolean }>();
  for (const event of events) {
    const op = event.operations[0];
    if (op === undefined) continue;
    if (event.commitTs <= BigInt(h)) lastAtHorizon.set(op.key, { version: op.version, ts: event.commitTs, deleted: op.value === null });
    else {
      expectedVersions.add(`${op.key}@${op.version}`);
      expectedAgentEvents.add(Number(event.commitTs));
    }
  }
  for (const [key, last] of lastAtHorizon) {
    // A tombstone still current goes entirely; one rewritten after the horizon stays (as history).
    if (last.deleted && !expectedVersions.has(`${key}@${last.version + 1n}`)) continue;
    expectedVersions.add(`${key}@${last.version}`);
    expectedAgentEvents.add(Number(last.ts));
  }
  const log = (await entries(kv, TABLE_EVENT)).map(([key]) => decodeU64(key, 1));
  expect(log).toEqual(Array.from({ length: 80 - h }, (_, i) => h + 1 + i));
  const agentEvents = new Set((await entries(kv, TABLE_AGENT_EVENT)).map(([key]) => decodeU64(key, key.length - 8)));
  expect(agentEvents).toEqual(expectedAgentEvents);
  const versions = (await entries(kv, TABLE_VERSION)).map(([key]) => `${key.subarray(key.length - 12, key.length - 10).toString("latin1")}@${decodeU64(key, key.length - 8)}`);
  expect(new Set(versions)).toEqual(expectedVersions);
  const tombstonesBehind = (await entries(kv, TABLE_STATE)).filter(([, value]) => {
    const header = decodeStateHeader(value);
    return !header.exists && header.commitTs <= h;
  });
  expect(tombstonesBehind).toEqual([]);
  expect(await engine.scanPrefix("n", "a", "")).toEqual(current);

  // A full rebuild after compaction keeps what was left (entries at or before the floor are the only copy).
  await engine.close();
  kv = await RocksKv.open(join(dir, "db"));
  engine = await openEngineOn(kv, dir, { ...options, recoveryMode: "rebuild" });
  expect(engine.recovery.notes.some((n) => n.includes(`compacted floor ${h}`))).toBe(true);
  expect(await engine.scanPrefix("n", "a", "")).toEqual(current);
  expect(await collect(engine.replay("n", "a", { startTs: BigInt(h + 1) }))).toEqual(events.filter((e) => e.commitTs > BigInt(h)));
  expect(engine.commitTs()).toBe(80n);
});
