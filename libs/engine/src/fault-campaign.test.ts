// Storage-fault campaign: concurrent committers against the engine over real RocksDB wrapped
// in FaultyKv, which at seeded random writes throws before persisting, persists and then
// throws (a WAL append whose fsync failed), and at random repairs throws on reopen. Every
// failed commit is retried with its idempotency key (the documented way to resolve an unknown
// outcome). After every round (each ends at a storage reopen) and after every engine reopen
// it checks, against the raw event log: no commit_ts and no version handed out twice, no
// partial transaction, no transaction applied twice, every acknowledged commit at its
// commit_ts, commit_ts never going back, state ≡ the log, and (at reopens) replay ≡ state.
// STATEHOUSE_FAULT_BATCHES sets the number of storage writes (default 10,000);
// STATEHOUSE_FAULT_SEED reproduces a run.
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isEngineError } from "./engine-error.ts";
import { decodeU64, eventKey, TABLE_EVENT } from "./key-encoding.ts";
import { openEngineOn } from "./open-engine.ts";
import { decodeEvent } from "./record-codec.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { collect } from "./test-support/engine-contract.ts";
import { FaultyKv, type FaultRates } from "./test-support/faulty-kv.ts";
import { seededRandom } from "./test-support/random.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { Engine, EngineOptions, JsonObject, OperationInput } from "./types.ts";

const BATCHES = Number(process.env["STATEHOUSE_FAULT_BATCHES"] ?? 10_000);
const SEED = Number(process.env["STATEHOUSE_FAULT_SEED"] ?? Date.now() % 1_000_000);
const COMMITTERS = 16;
const RATES: FaultRates = { beforePersist: 0.015, afterPersist: 0.015, onReopen: 0.25 };
const HEALTHY: FaultRates = { beforePersist: 0, afterPersist: 0, onReopen: 0 };
const NS = "faults";
const AGENTS = ["agent-0", "agent-1", "agent-2", "agent-3", "shared"];
const OPTIONS: EngineOptions = { snapshotInterval: 200, fsyncOnCommit: false, idempotencyPurgeIntervalMs: 0 };

interface Model {
  /** Last verified commit_ts. */
  ts: number;
  /** Per record: current version and value (null = tombstone). */
  records: Map<string, { agentId: string; key: string; version: number; value: JsonObject | null }>;
  /** rid -> commit_ts where the log applied it. */
  applied: Map<string, number>;
}

/** Transaction `rid` of committer c: two to four operations across its agent and the shared one. */
function operations(committer: number, sequence: number): OperationInput[] {
  const rid = `${committer}.${sequence}`;
  const agentId = `agent-${committer % 4}`;
  const ops: OperationInput[] = [
    { namespace: NS, agentId, key: `c${committer}`, value: { rid } },
    { namespace: NS, agentId: "shared", key: `s${(committer + sequence) % 5}`, value: sequence % 4 === 3 ? null : { rid } },
  ];
  if (sequence % 3 === 0) ops.push({ namespace: NS, agentId, key: `c${committer}/x${sequence % 4}`, value: sequence % 2 === 0 ? { rid, big: "b".repeat(sequence % 300) } : null });
  return ops;
}

function ridOf(ops: readonly { value: JsonObject | null }[], fallback: string | undefined): string | undefined {
  for (const op of ops) if (op.value !== null && typeof op.value["rid"] === "string") return op.value["rid"];
  return fallback;
}

describe("storage-fault campaign (RocksDB behind a fault-injecting wrapper)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it(`survives ${BATCHES} storage writes with injected failures, never reusing a commit_ts or version (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const { dir, remove } = await withTempDir();
    cleanups.push(remove);
    const faultRandom = seededRandom(SEED);
    const workRandom = seededRandom(SEED + 1);
    const model: Model = { ts: 0, records: new Map(), applied: new Map() };
    const acks = new Map<string, number>();
    /** Acknowledgements not yet checked against the log. */
    const unverified: [rid: string, ts: number][] = [];
    const expectedKeys = new Map<string, string[]>();
    const totals = { writes: 0, beforePersist: 0, afterPersist: 0, onReopen: 0, repairs: 0, retries: 0, unknownOutcomes: 0, rounds: 0, engineReopens: 0 };

    let kv = new FaultyKv(await RocksKv.open(join(dir, "db")), faultRandom, HEALTHY);
    let engine: Engine = await openEngineOn(kv, dir, OPTIONS);
    let highest = 0n;

    /** Checks the log since the last check, then the state of every record against the model. */
    const verify = async (): Promise<void> => {
      const now = engine.commitTs();
      expect(now >= highest, "commit_ts never goes back").toBe(true);
      highest = now;
      const raw = kv.inner;
      const iterator = raw.iterator({ gte: eventKey(model.ts + 1), lt: Buffer.of(TABLE_EVENT + 1) });
      try {
        for (;;) {
          const rows = await iterator.next(512);
          if (rows.length === 0) break;
          for (const [key, value] of rows) {
            const ts = decodeU64(key, 1);
            if (ts !== model.ts + 1) expect(ts, "commit_ts dense: no gap, none twice").toBe(model.ts + 1);
            const event = decodeEvent(value, ts);
            const rid = ridOf(event.operations, event.idempotencyKey ?? undefined);
            expect(rid, `event ${ts} carries its request id`).toBeDefined();
            if (model.applied.has(rid as string)) expect.fail(`request ${rid} applied twice (again at ${ts})`);
            model.applied.set(rid as string, ts);
            const keys = event.operations.map((op) => `${op.agentId}/${op.key}`).sort();
            if (keys.join() !== expectedKeys.get(rid as string)?.join()) expect(keys, `event ${ts} is whole`).toEqual(expectedKeys.get(rid as string));
            for (const op of event.operations) {
              const id = `${op.agentId}/${op.key}`;
              const before = model.records.get(id)?.version ?? 0;
              if (op.version !== before + 1) expect(op.version, `version of ${id} at ${ts}: never reused, never skipped`).toBe(before + 1);
              model.records.set(id, { agentId: op.agentId, key: op.key, version: op.version, value: op.value });
            }
            model.ts = ts;
          }
        }
      } finally {
        iterator.close();
      }
      expect(BigInt(model.ts), "the log ends at the engine's commit_ts").toBe(now);
      for (const [rid, ts] of unverified) {
        if (model.applied.get(rid) !== ts) expect(model.applied.get(rid), `acknowledged ${rid} is in the log at its commit_ts`).toBe(ts);
      }
      unverified.length = 0;
      for (const record of model.records.values()) {
        const got = await engine.get({ namespace: NS, agentId: record.agentId, key: record.key });
        expect({ version: got.version, value: got.value }).toEqual({ version: BigInt(record.version), value: record.value });
      }
    };

    /** Replay of every agent reproduces its state (after a reopen). */
    const verifyReplay = async (): Promise<void> => {
      for (const agentId of AGENTS) {
        const state = new Map<string, { version: bigint; value: JsonObject | null }>();
        for (const event of await collect(engine.replay(NS, agentId))) {
          for (const op of event.operations) state.set(op.key, { version: op.version, value: op.value });
        }
        for (const [key, { version, value }] of state) {
          const got = await engine.get({ namespace: NS, agentId, key });
          expect({ version: got.version, value: got.value }).toEqual({ version, value });
        }
      }
    };

    const commitOnce = async (committer: number, sequence: number): Promise<number> => {
      const rid = `${committer}.${sequence}`;
      const ops = operations(committer, sequence);
      expectedKeys.set(rid, ops.map((op) => `${op.agentId}/${op.key}`).sort());
      for (let attempt = 0; ; attempt++) {
        try {
          if ((committer + attempt) % 2 === 0) return Number((await engine.transact({ operations: ops, idempotencyKey: rid })).commitTs);
          const tx = engine.begin();
          for (const op of ops) {
            if (op.value === null) engine.stageDelete(tx, op);
            else engine.stageWrite(tx, op, op.value);
          }
          return Number((await engine.commit(tx, { idempotencyKey: rid })).commitTs);
        } catch (error) {
          if (!isEngineError(error) || (error.code !== "STORAGE_ERROR" && error.code !== "STORAGE_FULL")) throw error;
          totals.retries++;
          if (error.details["outcome"] === "unknown") totals.unknownOutcomes++;
          await new Promise((resolve) => setTimeout(resolve, workRandom() * 2));
        }
      }
    };

    let sequence = 0;
    while (totals.writes + kv.counts.writes < BATCHES) {
      totals.rounds++;
      // A round runs until storage was reopened (or a few hundred writes passed), then drains.
      let stop = false;
      const startWrites = kv.counts.writes;
      kv.onRepaired = () => {
        stop = true;
      };
      kv.setRates(RATES);
      await Promise.all(
        Array.from({ length: COMMITTERS }, async (_, committer) => {
          while (!stop && kv.counts.writes - startWrites < 400) {
            const seq = sequence++;
            const ts = await commitOnce(committer, seq);
            acks.set(`${committer}.${seq}`, ts);
            unverified.push([`${committer}.${seq}`, ts]);
          }
        }),
      );
      kv.setRates(HEALTHY);
      await verify();
      if (totals.rounds % 25 === 0) {
        // Reopen the whole engine: recovery must agree with everything acknowledged.
        await engine.close();
        for (const key of Object.keys(totals) as (keyof typeof kv.counts)[]) if (key in kv.counts) totals[key] += kv.counts[key];
        kv = new FaultyKv(await RocksKv.open(join(dir, "db")), faultRandom, HEALTHY);
        engine = await openEngineOn(kv, dir, OPTIONS);
        totals.engineReopens++;
        expect(BigInt(model.ts)).toBe(engine.commitTs());
        expect(engine.recovery.notes.filter((n) => n.startsWith("rollback"))).toEqual([]);
        await verify();
        await verifyReplay();
      }
    }
    for (const key of Object.keys(totals) as (keyof typeof kv.counts)[]) if (key in kv.counts) totals[key] += kv.counts[key];
    await verify();
    await verifyReplay();
    await engine.close();
    console.log(
      `fault campaign (seed ${SEED}): ${totals.writes} storage writes, ${totals.beforePersist} failed before persisting, ` +
        `${totals.afterPersist} persisted then failed, ${totals.onReopen} failed reopens, ${totals.repairs} reopens, ` +
        `${totals.engineReopens} engine reopens, ${acks.size} acknowledged, ${totals.retries} retries (${totals.unknownOutcomes} of unknown outcome), ` +
        `${totals.rounds} rounds: 0 reused, 0 partial, 0 lost`,
    );
    expect(totals.writes).toBeGreaterThanOrEqual(BATCHES);
    expect(totals.afterPersist).toBeGreaterThan(0);
    expect(totals.beforePersist).toBeGreaterThan(0);
    expect(totals.onReopen).toBeGreaterThan(0);
  });
});
