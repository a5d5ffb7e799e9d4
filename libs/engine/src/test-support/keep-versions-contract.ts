// The keep-last-N-versions retention policy, part of the engine contract (runRetentionContract
// calls it). A seeded workload; an oracle of every event and as-of state taken before compaction
// says what must still be answered exactly and what must be refused with HISTORY_COMPACTED.
import { expect, it } from "vitest";
import type { EngineError } from "../engine-error.ts";
import type { AgentEvent, Engine, EngineOptions, JsonObject, OperationInput, StateEntry } from "../types.ts";
import { seededRandom } from "./random.ts";

interface Harness {
  engine: Engine;
  reopen(): Promise<Engine>;
}

const NS = "kept-versions";
const OTHER = "kept-all";
const AGENTS = ["a", "b"] as const;
const KEEP = 3;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function outcome<T>(run: () => Promise<T>): Promise<{ value?: T; error?: EngineError }> {
  try {
    return { value: await run() };
  } catch (error) {
    return { error: error as EngineError };
  }
}

/** Per key of one agent: the commit_ts of each version (index = version - 1) and its value. */
function versionsOf(events: readonly AgentEvent[]): Map<string, { ts: bigint; value: JsonObject | null }[]> {
  const out = new Map<string, { ts: bigint; value: JsonObject | null }[]>();
  for (const event of events) {
    for (const op of event.operations) {
      const list = out.get(op.key) ?? [];
      expect(BigInt(list.length + 1), `versions of ${op.key} in order`).toBe(op.version);
      list.push({ ts: event.commitTs, value: op.value });
      out.set(op.key, list);
    }
  }
  return out;
}

/** The current state from every event, oldest first: what replay must reproduce. */
function fold(events: readonly AgentEvent[]): Map<string, JsonObject> {
  const out = new Map<string, JsonObject>();
  for (const event of events) {
    for (const op of event.operations) {
      if (op.value === null) out.delete(op.key);
      else out.set(op.key, op.value);
    }
  }
  return out;
}

async function workload(engine: Engine, commits: number, seed: number): Promise<void> {
  const random = seededRandom(seed);
  for (let i = 0; i < commits; i++) {
    const operations: OperationInput[] = [];
    const count = 1 + Math.floor(random() * 3);
    for (let j = 0; j < count; j++) {
      const namespace = random() < 0.2 ? OTHER : NS;
      const agentId = AGENTS[Math.floor(random() * AGENTS.length)] as string;
      const key = `k${Math.floor(random() * 6)}`;
      if (operations.some((op) => op.namespace === namespace && op.agentId === agentId && op.key === key)) continue;
      operations.push({ namespace, agentId, key, value: random() < 0.25 ? null : { i, j } });
    }
    await engine.transact({ operations });
  }
}

interface Oracle {
  events: Map<string, AgentEvent[]>;
  current: Map<string, StateEntry[]>;
  asOf: Map<string, StateEntry[]>;
  last: bigint;
}

async function takeOracle(engine: Engine): Promise<Oracle> {
  const oracle: Oracle = { events: new Map(), current: new Map(), asOf: new Map(), last: engine.commitTs() };
  for (const namespace of [NS, OTHER]) {
    for (const agent of AGENTS) {
      const id = `${namespace}/${agent}`;
      oracle.events.set(id, await collect(engine.replay(namespace, agent)));
      oracle.current.set(id, await engine.scanPrefix(namespace, agent, ""));
      for (let ts = 0n; ts <= oracle.last; ts++) oracle.asOf.set(`${id}@${ts}`, await engine.getAgentAsOf(namespace, agent, ts));
    }
  }
  return oracle;
}

/** Everything a namespace keeping the last `keep` versions (null: all) must answer, and refuse. */
async function checkAgainstOracle(engine: Engine, oracle: Oracle, namespace: string, keep: number | null): Promise<number> {
  let refused = 0;
  for (const agent of AGENTS) {
    const id = `${namespace}/${agent}`;
    const events = oracle.events.get(id) ?? [];
    // Current state is never lost, and the whole log still replays to it.
    expect(await engine.scanPrefix(namespace, agent, ""), `current state of ${id}`).toEqual(oracle.current.get(id));
    const replayed = await collect(engine.replay(namespace, agent));
    expect(replayed, `replay of ${id}`).toEqual(events);
    expect(fold(replayed), `replay of ${id} reproduces its state`).toEqual(new Map((oracle.current.get(id) ?? []).map((e) => [e.key, e.value])));
    const versions = versionsOf(events);
    // Per key: the oldest kept version and the commit_ts from which as-of reads of it are exact.
    const keptFromTs = new Map<string, bigint>();
    for (const [key, list] of versions) {
      const oldestKept = keep === null ? 1 : Math.max(1, list.length - keep + 1);
      if (oldestKept > 1) keptFromTs.set(key, (list[oldestKept - 1] as { ts: bigint }).ts);
      for (let v = 1; v <= list.length; v++) {
        const ref = { namespace, agentId: agent, key };
        const got = await outcome(() => engine.getAtVersion(ref, BigInt(v)));
        if (v < oldestKept) {
          refused++;
          expect(got.error?.code, `${id}/${key}@${v} is dropped`).toBe("HISTORY_COMPACTED");
          expect(got.error?.details).toMatchObject({ namespace, keep_versions: String(keep), oldest_kept_version: String(oldestKept) });
          expect(got.error?.message).toContain(`keeps the last ${keep} versions per key`);
        } else {
          expect(got.value, `${id}/${key}@${v} is kept`).toMatchObject({ version: BigInt(v), value: list[v - 1]?.value, commitTs: list[v - 1]?.ts });
        }
      }
    }
    // As-of reads: exact where every key's version current then is kept, HISTORY_COMPACTED otherwise.
    for (let ts = 0n; ts <= oracle.last; ts++) {
      const compacted = [...keptFromTs.values()].some((from) => ts < from);
      const got = await outcome(() => engine.getAgentAsOf(namespace, agent, ts));
      if (compacted) expect(got.error?.code, `${id} as of ${ts}`).toBe("HISTORY_COMPACTED");
      else expect(got.value, `${id} as of ${ts}`).toEqual(oracle.asOf.get(`${id}@${ts}`));
      for (const key of versions.keys()) {
        const single = await outcome(() => engine.getAsOf({ namespace, agentId: agent, key }, ts));
        const from = keptFromTs.get(key);
        if (from !== undefined && ts < from) expect(single.error?.code, `${id}/${key} as of ${ts}`).toBe("HISTORY_COMPACTED");
        else expect(single.error, `${id}/${key} as of ${ts}`).toBeUndefined();
      }
    }
  }
  return refused;
}

export function runKeepVersionsContract(open: (options?: Partial<EngineOptions>) => Promise<Harness>, supports: { persistence: boolean }): void {
  const options: Partial<EngineOptions> = { compactionIntervalMs: 0, compactionPauseMs: 0, compactionBatchEvents: 7 };

  it("keeps the last N versions per key: older versions are refused, kept ones, current state and replay are exact", async () => {
    const harness = await open(options);
    const engine = harness.engine;
    expect(() => engine.setRetentionPolicy(NS, { kind: "versions", keepVersions: 0 })).toThrow(TypeError);
    expect(() => engine.setRetentionPolicy(NS, { kind: "versions", keepVersions: 1.5 })).toThrow(/keepVersions must be a positive integer/);
    expect(await engine.setRetentionPolicy(NS, { kind: "versions", keepVersions: KEEP })).toEqual({
      namespace: NS,
      policy: { kind: "versions", keepVersions: KEEP },
      explicit: true,
      horizonCommitTs: 0n,
    });
    await workload(engine, 80, 21);
    const oracle = await takeOracle(engine);
    // The event log is not compacted by this policy: no events, and the horizon stays 0.
    expect(await engine.compactHistory()).toBe(0);
    expect(engine.retention(NS).horizonCommitTs).toBe(0n);
    expect(await checkAgainstOracle(engine, oracle, NS, KEEP)).toBeGreaterThan(20);
    // The other namespace keeps everything.
    expect(await checkAgainstOracle(engine, oracle, OTHER, null)).toBe(0);
    // A version that never existed is still VERSION_NOT_FOUND, not compacted.
    const k0 = (await engine.get({ namespace: NS, agentId: "a", key: "k0" })).version;
    expect((await outcome(() => engine.getAtVersion({ namespace: NS, agentId: "a", key: "k0" }, k0 + 1n))).error?.code).toBe("VERSION_NOT_FOUND");
    if (supports.persistence) {
      // The policy and the dropped-versions flag survive a restart (a missing entry stays "compacted", never "corrupt").
      const reopened = await harness.reopen();
      expect(reopened.recovery.notes.filter((n) => n.includes("rebuild"))).toEqual([]);
      expect(reopened.retention(NS).policy).toEqual({ kind: "versions", keepVersions: KEEP });
      await checkAgainstOracle(reopened, oracle, NS, KEEP);
    }
  });

  it("keeps current state with keepVersions 1, and a later keep-all policy does not bring dropped versions back", async () => {
    const { engine } = await open(options);
    await engine.setRetentionPolicy(null, { kind: "versions", keepVersions: 1 });
    await workload(engine, 50, 22);
    const oracle = await takeOracle(engine);
    await engine.compactHistory();
    await checkAgainstOracle(engine, oracle, NS, 1);
    await checkAgainstOracle(engine, oracle, OTHER, 1);
    // New commits after compaction, then a keep-all policy: what was dropped stays refused, the new versions stay.
    await engine.setRetentionPolicy(NS, { kind: "all" });
    const ref = { namespace: NS, agentId: "a", key: "k0" };
    const before = (await engine.get(ref)).version;
    await engine.transact({ operations: [{ ...ref, value: { after: "keep-all" } }] });
    await engine.compactHistory();
    expect(await engine.getAtVersion(ref, before + 1n)).toMatchObject({ value: { after: "keep-all" } });
    if (before > 1n) {
      expect(await engine.getAtVersion(ref, before)).toMatchObject({ version: before });
      expect((await outcome(() => engine.getAtVersion(ref, 1n))).error?.code).toBe("HISTORY_COMPACTED");
    }
  });
}
