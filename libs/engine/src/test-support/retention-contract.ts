// Retention and history compaction, part of the engine contract (runEngineContract calls it).
// A seeded workload under an injected clock; an oracle of every as-of state and every event
// taken before compaction is what each answer after it is compared with.
import { expect, it } from "vitest";
import type { EngineError } from "../engine-error.ts";
import type { AgentEvent, Engine, EngineOptions, JsonObject, OperationInput, StateEntry } from "../types.ts";
import { runKeepVersionsContract } from "./keep-versions-contract.ts";
import { seededRandom } from "./random.ts";

interface Harness {
  engine: Engine;
  reopen(): Promise<Engine>;
}

const NS = "kept-short";
const OTHER = "kept-all";
const AGENTS = ["a", "b"] as const;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function compactedError(run: () => unknown): Promise<EngineError> {
  let caught: unknown;
  try {
    const result = run();
    if (result !== null && typeof result === "object" && Symbol.asyncIterator in result) await collect(result as AsyncIterable<unknown>);
    else await result;
  } catch (error) {
    caught = error;
  }
  expect((caught as EngineError | undefined)?.code, "expected HISTORY_COMPACTED").toBe("HISTORY_COMPACTED");
  return caught as EngineError;
}

/** Applies events (oldest first) to a state: the guarantee's "remaining events on the state at the horizon". */
function applyEvents(state: readonly StateEntry[], events: readonly AgentEvent[]): Map<string, JsonObject> {
  const out = new Map(state.map((e) => [e.key, e.value]));
  for (const event of events) {
    for (const op of event.operations) {
      if (op.value === null) out.delete(op.key);
      else out.set(op.key, op.value);
    }
  }
  return out;
}

function asMap(entries: readonly StateEntry[]): Map<string, JsonObject> {
  return new Map(entries.map((e) => [e.key, e.value]));
}

/** A seeded workload; returns each commit's commit time (the injected clock's value). */
async function workload(engine: Engine, clock: { now: number }, commits: number, seed: number): Promise<Map<bigint, number>> {
  const random = seededRandom(seed);
  const times = new Map<bigint, number>();
  for (let i = 0; i < commits; i++) {
    clock.now += 100;
    const operations: OperationInput[] = [];
    const count = 1 + Math.floor(random() * 3);
    for (let j = 0; j < count; j++) {
      const namespace = random() < 0.2 ? OTHER : NS;
      const agentId = AGENTS[Math.floor(random() * AGENTS.length)] as string;
      const key = `k${Math.floor(random() * 5)}`;
      if (operations.some((op) => op.namespace === namespace && op.agentId === agentId && op.key === key)) continue;
      operations.push({ namespace, agentId, key, value: random() < 0.25 ? null : { i, j } });
    }
    const { commitTs } = await engine.transact({ operations });
    times.set(commitTs, clock.now);
  }
  return times;
}

interface Oracle {
  asOf: Map<string, StateEntry[]>;
  events: Map<string, AgentEvent[]>;
  current: Map<string, StateEntry[]>;
}

async function takeOracle(engine: Engine): Promise<Oracle> {
  const oracle: Oracle = { asOf: new Map(), events: new Map(), current: new Map() };
  const last = engine.commitTs();
  for (const namespace of [NS, OTHER]) {
    for (const agent of AGENTS) {
      const id = `${namespace}/${agent}`;
      oracle.events.set(id, await collect(engine.replay(namespace, agent)));
      oracle.current.set(id, await engine.scanPrefix(namespace, agent, ""));
      for (let ts = 0n; ts <= last; ts++) oracle.asOf.set(`${id}@${ts}`, await engine.getAgentAsOf(namespace, agent, ts));
    }
  }
  return oracle;
}

/** Everything a namespace must still answer, and refuse, with horizon `h`. */
async function checkAgainstOracle(engine: Engine, oracle: Oracle, namespace: string, h: bigint): Promise<void> {
  const last = engine.commitTs();
  for (const agent of AGENTS) {
    const id = `${namespace}/${agent}`;
    expect(await engine.scanPrefix(namespace, agent, ""), `current state of ${id}`).toEqual(oracle.current.get(id));
    for (let ts = h; ts <= last; ts++) expect(await engine.getAgentAsOf(namespace, agent, ts), `${id} as of ${ts}`).toEqual(oracle.asOf.get(`${id}@${ts}`));
    const after = (oracle.events.get(id) ?? []).filter((e) => e.commitTs > h);
    expect(await collect(engine.replay(namespace, agent, { startTs: h + 1n }))).toEqual(after);
    // The guarantee: the state at the horizon plus the events after it is the current state.
    const atHorizon = await engine.getAgentAsOf(namespace, agent, h);
    expect(applyEvents(atHorizon, after), `guarantee for ${id}`).toEqual(asMap(oracle.current.get(id) ?? []));
    for (const entry of oracle.current.get(id) ?? []) {
      expect(await engine.getAtVersion({ namespace, agentId: agent, key: entry.key }, entry.version)).toMatchObject({ value: entry.value, version: entry.version });
    }
    if (h > 0n) {
      const error = await compactedError(() => engine.getAgentAsOf(namespace, agent, h - 1n));
      expect(error.details).toEqual({ namespace, horizon_commit_ts: String(h) });
      await compactedError(() => engine.replay(namespace, agent));
      await compactedError(() => engine.replay(namespace, agent, { startTs: h }));
      await compactedError(() => engine.watch(namespace, agent, { startTs: h }));
      await compactedError(() => engine.getAsOf({ namespace, agentId: agent, key: "k0" }, h - 1n));
      const newest = await collect(engine.replay(namespace, agent, { reverse: true, limit: 1 }));
      expect(newest).toEqual(after.slice(-1));
      await compactedError(() => engine.replay(namespace, agent, { reverse: true, limit: after.length + 1 }));
    }
  }
}

function expectedHorizon(times: ReadonlyMap<bigint, number>, cutoff: number): bigint {
  let h = 0n;
  for (const [ts, at] of times) if (at <= cutoff && ts > h) h = ts;
  return h;
}

export function runRetentionContract(open: (options?: Partial<EngineOptions>) => Promise<Harness>, supports: { persistence: boolean }): void {
  runKeepVersionsContract(open, supports);
  const clockOptions = (clock: { now: number }): Partial<EngineOptions> => ({
    clock: () => clock.now,
    compactionIntervalMs: 0,
    compactionPauseMs: 0,
    compactionBatchEvents: 7,
  });

  it("keeps everything by default: nothing is compacted and the horizon is 0", async () => {
    const clock = { now: 1_000_000 };
    const { engine } = await open(clockOptions(clock));
    await workload(engine, clock, 20, 1);
    clock.now += 10_000_000;
    expect(await engine.compactHistory()).toBe(0);
    expect(engine.retention(NS)).toEqual({ namespace: NS, policy: { kind: "all" }, explicit: false, horizonCommitTs: 0n });
    expect(await collect(engine.replay(NS, "a"))).not.toEqual([]);
  });

  it("compacts a namespace's history behind its duration horizon; state, as-of reads at or after it and the guarantee hold", async () => {
    const clock = { now: 1_000_000 };
    const harness = await open(clockOptions(clock));
    const engine = harness.engine;
    expect(() => engine.setRetentionPolicy(NS, { kind: "duration", keepMs: 0 })).toThrow(TypeError);
    expect(await engine.setRetentionPolicy(NS, { kind: "duration", keepMs: 2_000 })).toEqual({
      namespace: NS,
      policy: { kind: "duration", keepMs: 2_000 },
      explicit: true,
      horizonCommitTs: 0n,
    });
    const times = await workload(engine, clock, 60, 7);
    const oracle = await takeOracle(engine);
    const compacted = await engine.compactHistory();
    const h = expectedHorizon(times, clock.now - 2_000);
    expect(h).toBeGreaterThan(30n);
    expect(compacted).toBe(Number(h));
    expect(engine.retention(NS).horizonCommitTs).toBe(h);
    expect(engine.stats().compactedEvents).toBe(Number(h));
    // The other namespace follows the default (keep everything): untouched.
    expect(engine.retention(OTHER).horizonCommitTs).toBe(0n);
    await checkAgainstOracle(engine, oracle, NS, h);
    await checkAgainstOracle(engine, oracle, OTHER, 0n);
    // A version superseded before the horizon is gone; the horizon never moves back.
    const first = (oracle.events.get(`${NS}/a`) ?? [])[0];
    const op = first?.operations[0];
    if (op !== undefined && first !== undefined && first.commitTs <= h) {
      const current = (await engine.get({ namespace: NS, agentId: "a", key: op.key })).version;
      if (current > op.version + 1n) await compactedError(() => engine.getAtVersion({ namespace: NS, agentId: "a", key: op.key }, op.version));
    }
    await engine.setRetentionPolicy(NS, { kind: "all" });
    expect(engine.retention(NS).horizonCommitTs).toBe(h);
    expect(await engine.compactHistory()).toBe(0);
    // New commits after compaction keep their full history.
    await workload(engine, clock, 10, 8);
    expect((await collect(engine.replay(NS, "a", { startTs: h + 1n }))).length).toBeGreaterThan(0);
  });

  it("ends a watch that fell behind a horizon that moved with HISTORY_COMPACTED instead of skipping events", async () => {
    const clock = { now: 1_000_000 };
    const { engine } = await open(clockOptions(clock));
    await engine.setRetentionPolicy(NS, { kind: "duration", keepMs: 1_000 });
    await workload(engine, clock, 5, 9);
    const controller = new AbortController();
    const watch = engine.watch(NS, "a", { startTs: 1n, signal: controller.signal })[Symbol.asyncIterator]();
    await watch.next(); // reading from 1 while nothing is compacted
    clock.now += 10_000;
    await workload(engine, clock, 5, 10);
    clock.now += 10_000;
    await engine.compactHistory();
    expect(engine.retention(NS).horizonCommitTs).toBe(10n);
    // The watcher had consumed one chunk (the first 5 events at most); the rest is behind the horizon now.
    await compactedError(async () => {
      for (let r = await watch.next(); r.done !== true; r = await watch.next()) if (r.value.commitTs > 10n) break;
    });
    controller.abort();
  });

  it("keeps a live watch of a quiet agent going when other agents' commits move the horizon past where it began to wait", async () => {
    const clock = { now: 1_000_000 };
    const { engine } = await open(clockOptions(clock));
    await engine.setRetentionPolicy(NS, { kind: "duration", keepMs: 1_000 });
    const controller = new AbortController();
    const watch = engine.watch(NS, "quiet", { signal: controller.signal })[Symbol.asyncIterator]();
    const first = watch.next(); // waits from commit_ts 1: nothing is committed yet
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 10; i++) {
      clock.now += 100;
      await engine.transact({ operations: [{ namespace: NS, agentId: "busy", key: `k${i % 3}`, value: { i } }] });
    }
    clock.now += 10_000;
    await engine.compactHistory();
    expect(engine.retention(NS).horizonCommitTs).toBe(10n);
    // The quiet agent lost nothing (it had no event behind the horizon): its first commit arrives.
    const { commitTs } = await engine.transact({ operations: [{ namespace: NS, agentId: "quiet", key: "k", value: { hello: 1 } }] });
    const event = await first;
    expect(event.done).toBe(false);
    expect(event.value?.commitTs).toBe(commitTs);
    // ...and so does the next one, after another move of the horizon.
    const second = watch.next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 5; i++) {
      clock.now += 100;
      await engine.transact({ operations: [{ namespace: NS, agentId: "busy", key: "k0", value: { i } }] });
    }
    clock.now += 10_000;
    await engine.compactHistory();
    expect(engine.retention(NS).horizonCommitTs).toBe(16n);
    const later = await engine.transact({ operations: [{ namespace: NS, agentId: "quiet", key: "k", value: { hello: 2 } }] });
    expect((await second).value?.commitTs).toBe(later.commitTs);
    controller.abort();
    await watch.return?.(undefined);
  });

  it("compacts the default and every namespace; the log floor passes and later passes continue where the last stopped", async () => {
    const clock = { now: 1_000_000 };
    const harness = await open(clockOptions(clock));
    await harness.engine.setRetentionPolicy(null, { kind: "duration", keepMs: 1_500 });
    const times = await workload(harness.engine, clock, 40, 3);
    const oracle1 = await takeOracle(harness.engine);
    await harness.engine.compactHistory();
    const h1 = expectedHorizon(times, clock.now - 1_500);
    for (const namespace of [NS, OTHER]) expect(harness.engine.retention(namespace).horizonCommitTs).toBe(h1);
    await checkAgainstOracle(harness.engine, oracle1, NS, h1);
    await checkAgainstOracle(harness.engine, oracle1, OTHER, h1);
    for (const [ts, at] of await workload(harness.engine, clock, 20, 4)) times.set(ts, at);
    const oracle2 = await takeOracle2(harness.engine, oracle1, h1);
    clock.now += 500;
    await harness.engine.compactHistory();
    const h2 = expectedHorizon(times, clock.now - 1_500);
    expect(h2).toBeGreaterThan(h1);
    expect(harness.engine.listRetention()).toEqual([{ namespace: null, policy: { kind: "duration", keepMs: 1_500 }, explicit: true, horizonCommitTs: h2 }]);
    await checkAgainstOracle(harness.engine, oracle2, NS, h2);
    await checkAgainstOracle(harness.engine, oracle2, OTHER, h2);
    if (supports.persistence) {
      // Policies, horizons and the compacted store survive a restart, and a full index rebuild.
      const engine = await harness.reopen();
      expect(engine.recovery.notes.filter((n) => n.includes("rebuild"))).toEqual([]);
      expect(engine.retention(NS)).toEqual({ namespace: NS, policy: { kind: "duration", keepMs: 1_500 }, explicit: false, horizonCommitTs: h2 });
      await checkAgainstOracle(engine, oracle2, NS, h2);
      await checkAgainstOracle(engine, oracle2, OTHER, h2);
      expect((await engine.transact({ operations: [{ namespace: NS, agentId: "a", key: "k0", value: { after: "reopen" } }] })).commitTs).toBe(oracle2.last + 1n);
    }
  });
}

/** The oracle after more commits: as-of states before `h` are the old oracle's (they cannot be read any more). */
async function takeOracle2(engine: Engine, before: Oracle, h: bigint): Promise<Oracle & { last: bigint }> {
  const oracle: Oracle & { last: bigint } = { asOf: new Map(before.asOf), events: new Map(), current: new Map(), last: engine.commitTs() };
  for (const namespace of [NS, OTHER]) {
    for (const agent of AGENTS) {
      const id = `${namespace}/${agent}`;
      const old = (before.events.get(id) ?? []).filter((e) => e.commitTs <= h);
      oracle.events.set(id, [...old, ...(await collect(engine.replay(namespace, agent, { startTs: h + 1n })))]);
      oracle.current.set(id, await engine.scanPrefix(namespace, agent, ""));
      for (let ts = h; ts <= oracle.last; ts++) oracle.asOf.set(`${id}@${ts}`, await engine.getAgentAsOf(namespace, agent, ts));
    }
  }
  return oracle;
}
