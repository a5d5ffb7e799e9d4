// Purge, part of the engine contract (runEngineContract calls it): an agent or a namespace is
// gone from every read, everything else answers exactly as before, idempotency keys of the
// purged transactions are gone, and commit_ts goes on.
import { expect, it } from "vitest";
import type { AgentEvent, Engine, EngineOptions, OperationInput } from "../types.ts";
import { seededRandom } from "./random.ts";

interface Harness {
  engine: Engine;
  reopen(): Promise<Engine>;
}

// N sorts before M: a transaction over both is scoped (idempotency) by N, the purged namespace.
const N = "alpha";
const M = "other";
const TARGETS = [
  [N, "a"],
  [N, "b"],
  [M, "c"],
] as const;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Commits a seeded mix (multi-agent transactions, deletes, idempotency keys); returns each transaction's operations by key. */
async function workload(engine: Engine, commits: number): Promise<Map<string, OperationInput[]>> {
  const random = seededRandom(5);
  const byIdempotencyKey = new Map<string, OperationInput[]>();
  for (let i = 0; i < commits; i++) {
    const operations: OperationInput[] = [];
    for (const [namespace, agentId] of TARGETS) {
      if (random() < 0.5) continue;
      operations.push({ namespace, agentId, key: `k${Math.floor(random() * 4)}`, value: random() < 0.2 ? null : { secret: `${agentId}-${i}` } });
    }
    const idempotencyKey = `req-${i}`;
    await engine.transact({ operations, idempotencyKey });
    byIdempotencyKey.set(idempotencyKey, operations);
  }
  return byIdempotencyKey;
}

interface View {
  state: Awaited<ReturnType<Engine["scanPrefix"]>>;
  events: AgentEvent[];
}

async function view(engine: Engine, namespace: string, agentId: string): Promise<View> {
  return { state: await engine.scanPrefix(namespace, agentId, ""), events: await collect(engine.replay(namespace, agentId)) };
}

async function expectGone(engine: Engine, namespace: string, agentId: string): Promise<void> {
  expect(await engine.listKeys(namespace, agentId)).toEqual([]);
  expect(await view(engine, namespace, agentId)).toEqual({ state: [], events: [] });
  expect(await engine.getAgentAsOf(namespace, agentId, engine.commitTs())).toEqual([]);
  for (let k = 0; k < 4; k++) {
    const ref = { namespace, agentId, key: `k${k}` };
    expect((await engine.get(ref)).exists).toBe(false);
    await expect(engine.getAtVersion(ref, 1n)).rejects.toMatchObject({ code: "VERSION_NOT_FOUND" });
  }
}

export function runPurgeContract(open: (options?: Partial<EngineOptions>) => Promise<Harness>, supports: { persistence: boolean }): void {
  it("purges an agent and then a namespace: gone from every read and its idempotency keys, the rest untouched, commit_ts goes on", async () => {
    const harness = await open();
    let engine = harness.engine;
    const transactions = await workload(engine, 60);
    const last = engine.commitTs();
    const b = await view(engine, N, "b");
    const c = await view(engine, M, "c");
    expect(b.events.length).toBeGreaterThan(10);

    await expect(engine.purge({ namespace: "" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    const result = await engine.purge({ namespace: N, agentId: "a" });
    expect(result.eventsRewritten).toBeGreaterThan(10);
    await expectGone(engine, N, "a");
    expect(await view(engine, N, "b")).toEqual(b);
    expect(await view(engine, M, "c")).toEqual(c);
    expect(engine.commitTs()).toBe(last);

    // Retries: a transaction erased whole (it wrote only the purged agent) applies again; one that
    // also wrote others did happen and stays a duplicate.
    const onlyA = (ops: OperationInput[]): boolean => ops.length > 0 && ops.every((op) => op.namespace === N && op.agentId === "a");
    const [mixedKey, mixedOps] = [...transactions].find(([, ops]) => !onlyA(ops) && ops.some((op) => op.agentId === "a")) ?? [];
    expect(await engine.transact({ operations: mixedOps ?? [], idempotencyKey: mixedKey ?? "" })).toMatchObject({ duplicate: true });
    const [retryKey, retryOps] = [...transactions].find(([, ops]) => onlyA(ops)) ?? [];
    expect(await engine.transact({ operations: retryOps ?? [], idempotencyKey: retryKey ?? "" })).toEqual({ commitTs: last + 1n, duplicate: false });
    // The agent starts a new life at version 1.
    expect((await engine.get({ namespace: N, agentId: "a", key: (retryOps ?? []).find((op) => op.agentId === "a")?.key ?? "" })).version).toBe(1n);

    const cNow = await view(engine, M, "c"); // the retry may have written c too
    await engine.purge({ namespace: N });
    await expectGone(engine, N, "a");
    await expectGone(engine, N, "b");
    expect(await view(engine, M, "c")).toEqual(cNow);
    if (supports.persistence) {
      engine = await harness.reopen();
      await expectGone(engine, N, "a");
      await expectGone(engine, N, "b");
      expect(await view(engine, M, "c")).toEqual(cNow);
      expect(engine.recovery.notes.filter((n) => n.includes("rebuild"))).toEqual([]);
      expect((await engine.transact({ operations: [{ namespace: M, agentId: "c", key: "k0", value: { n: 1 } }] })).commitTs).toBe(last + 2n);
    }
  });

  it("refuses commits to a target while it is being purged and answers its reads as gone", async () => {
    const { engine } = await open();
    await workload(engine, 30);
    const purge = engine.purge({ namespace: N, agentId: "a" });
    // Started synchronously: the target reads as gone at once, and a commit to it is refused.
    expect(await engine.listKeys(N, "a")).toEqual([]);
    const refused = engine.transact({ operations: [{ namespace: N, agentId: "a", key: "k0", value: { during: true } }] });
    const other = engine.transact({ operations: [{ namespace: N, agentId: "b", key: "k0", value: { during: true } }] });
    await expect(refused).rejects.toMatchObject({ code: "CONFLICT", details: { reason: "purge_in_progress" } });
    expect((await other).duplicate).toBe(false);
    await purge;
    await expectGone(engine, N, "a");
    expect((await engine.get({ namespace: N, agentId: "b", key: "k0" })).value).toEqual({ during: true });
  });
}
