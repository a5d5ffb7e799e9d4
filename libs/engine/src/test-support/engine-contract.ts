// The engine contract suite: every backend runs exactly these tests.
// Optional behaviour is switched by declared capabilities, never by skipping.
import { afterEach, describe, expect, it } from "vitest";
import { EngineError } from "../engine-error.ts";
import type { AgentEvent, Engine, EngineOptions, JsonObject, Page, RecordRef, StateEntry } from "../types.ts";
import { runPurgeContract } from "./purge-contract.ts";
import { runRetentionContract } from "./retention-contract.ts";

export interface EngineHarness {
  engine: Engine;
  /** Closes the engine and opens the same store again (only with supports.persistence). */
  reopen(): Promise<Engine>;
  dispose(): Promise<void>;
}

export interface EngineContractOptions {
  name: string;
  factory: (options?: Partial<EngineOptions>) => Promise<EngineHarness>;
  /** `retention: false`: the backend keeps every event (a shared store); retention is refused, not tested. */
  supports: { persistence: boolean; retention?: boolean };
}

const ns = "default";
const ref = (agentId: string, key: string): RecordRef => ({ namespace: ns, agentId, key });

export async function expectEngineError(promise: Promise<unknown> | (() => unknown), code: EngineError["code"]): Promise<EngineError> {
  let caught: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected EngineError ${code}`).toBeInstanceOf(EngineError);
  expect((caught as EngineError).code).toBe(code);
  return caught as EngineError;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Writes one value in its own transaction. */
async function put(engine: Engine, agentId: string, key: string, value: JsonObject | null): Promise<bigint> {
  const result = await engine.transact({ operations: [{ ...ref(agentId, key), value }] });
  return result.commitTs;
}

export function runEngineContract({ name, factory, supports }: EngineContractOptions): void {
  describe(`engine contract: ${name}`, () => {
    const harnesses: EngineHarness[] = [];
    const open = async (options?: Partial<EngineOptions>): Promise<EngineHarness> => {
      const harness = await factory(options);
      harnesses.push(harness);
      return harness;
    };
    afterEach(async () => {
      for (const harness of harnesses.splice(0)) await harness.dispose();
    });

    it("commits a transaction atomically with versions and one commit_ts", async () => {
      const { engine } = await open();
      expect(engine.commitTs()).toBe(0n);
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k1"), { n: 1 });
      engine.stageWrite(tx, ref("a", "k2"), { n: 2 });
      engine.stageWrite(tx, ref("b", "k1"), { n: 3 });
      expect((await engine.get(ref("a", "k1"))).exists).toBe(false);
      const { commitTs, duplicate } = await engine.commit(tx);
      expect(duplicate).toBe(false);
      expect(commitTs).toBe(1n);
      expect(engine.commitTs()).toBe(1n);
      for (const [agent, key, n] of [["a", "k1", 1], ["a", "k2", 2], ["b", "k1", 3]] as const) {
        expect(await engine.get(ref(agent, key))).toEqual({ value: { n }, version: 1n, commitTs: 1n, exists: true });
      }
    });

    it("gives a never-written key exists=false and version 0", async () => {
      const { engine } = await open();
      expect(await engine.get(ref("nobody", "nothing"))).toEqual({ value: null, version: 0n, commitTs: 0n, exists: false });
    });

    it("lets the last operation on a key win and raises its version by exactly one per transaction", async () => {
      const { engine } = await open();
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k"), { n: 1 });
      engine.stageDelete(tx, ref("a", "k"));
      engine.stageWrite(tx, ref("a", "k"), { n: 3 });
      await engine.commit(tx);
      expect(await engine.get(ref("a", "k"))).toMatchObject({ value: { n: 3 }, version: 1n });
      const events = await collect(engine.replay(ns, "a"));
      expect(events).toHaveLength(1);
      expect(events[0]?.operations).toEqual([{ key: "k", value: { n: 3 }, version: 1n }]);
      await put(engine, "a", "k", { n: 4 });
      expect((await engine.get(ref("a", "k"))).version).toBe(2n);
    });

    it("writes tombstones: deleted keys leave listKeys and scanPrefix, history keeps them", async () => {
      const { engine } = await open();
      await put(engine, "a", "x", { v: 1 });
      await put(engine, "a", "y", { v: 1 });
      const deletedAt = await put(engine, "a", "x", null);
      expect(await engine.get(ref("a", "x"))).toEqual({ value: null, version: 2n, commitTs: deletedAt, exists: false });
      expect(await engine.listKeys(ns, "a")).toEqual(["y"]);
      expect((await engine.scanPrefix(ns, "a", "")).map((e) => e.key)).toEqual(["y"]);
      expect(await engine.getAtVersion(ref("a", "x"), 1n)).toEqual({ value: { v: 1 }, version: 1n, commitTs: 1n, exists: true });
      expect(await engine.getAtVersion(ref("a", "x"), 2n)).toEqual({ value: null, version: 2n, commitTs: deletedAt, exists: false });
      await expectEngineError(engine.getAtVersion(ref("a", "x"), 3n), "VERSION_NOT_FOUND");
      await expectEngineError(engine.getAtVersion(ref("a", "x"), 0n), "VERSION_NOT_FOUND");
      await expectEngineError(engine.getAtVersion(ref("a", "never"), 1n), "VERSION_NOT_FOUND");
      await put(engine, "a", "x", { v: 3 });
      expect(await engine.get(ref("a", "x"))).toMatchObject({ value: { v: 3 }, version: 3n, exists: true });
      expect(await engine.listKeys(ns, "a")).toEqual(["x", "y"]);
    });

    it("deleting a key that never existed still creates version 1 (a tombstone)", async () => {
      const { engine } = await open();
      await put(engine, "a", "ghost", null);
      expect(await engine.get(ref("a", "ghost"))).toMatchObject({ exists: false, version: 1n, commitTs: 1n });
    });

    it("reports transaction lifecycle errors with stable codes", async () => {
      const { engine } = await open();
      await expectEngineError(() => engine.stageWrite("no-such-txn", ref("a", "k"), {}), "TXN_NOT_FOUND");
      await expectEngineError(engine.commit("no-such-txn"), "TXN_NOT_FOUND");
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k"), { n: 1 });
      await engine.commit(tx);
      await expectEngineError(engine.commit(tx), "TXN_ALREADY_COMMITTED");
      await expectEngineError(() => engine.stageWrite(tx, ref("a", "k"), {}), "TXN_ALREADY_COMMITTED");
      engine.abort(tx); // a committed transaction: no-op
      expect((await engine.get(ref("a", "k"))).version).toBe(1n);

      const aborted = engine.begin();
      engine.stageWrite(aborted, ref("a", "k"), { n: 2 });
      engine.abort(aborted);
      engine.abort(aborted);
      engine.abort("unknown");
      await expectEngineError(() => engine.stageWrite(aborted, ref("a", "k"), {}), "TXN_ABORTED");
      await expectEngineError(engine.commit(aborted), "TXN_ABORTED");
      expect(await engine.get(ref("a", "k"))).toMatchObject({ value: { n: 1 }, version: 1n });
      expect(engine.commitTs()).toBe(1n);
    });

    it("expires transactions after their timeout and answers TXN_EXPIRED", async () => {
      const { engine } = await open({ txTimeoutMs: 40 });
      const byDefault = engine.begin();
      const explicit = engine.begin({ timeoutMs: 30 });
      const long = engine.begin({ timeoutMs: 60_000 });
      engine.stageWrite(byDefault, ref("a", "k"), { n: 1 });
      await new Promise((resolve) => setTimeout(resolve, 120));
      await expectEngineError(() => engine.stageWrite(byDefault, ref("a", "k"), {}), "TXN_EXPIRED");
      await expectEngineError(engine.commit(byDefault), "TXN_EXPIRED");
      await expectEngineError(engine.commit(explicit), "TXN_EXPIRED");
      engine.abort(explicit);
      engine.stageWrite(long, ref("a", "k"), { n: 2 });
      await engine.commit(long);
      expect(await engine.get(ref("a", "k"))).toMatchObject({ value: { n: 2 }, version: 1n });
      expect(engine.stats().openTransactions).toBe(0);
    });

    it("rejects a commit whose preconditions changed with CONFLICT and applies nothing", async () => {
      const { engine } = await open();
      await put(engine, "a", "k", { n: 1 });
      const error = await expectEngineError(
        engine.transact({
          operations: [{ ...ref("a", "k"), value: { n: 2 } }, { ...ref("a", "other"), value: { n: 2 } }],
          preconditions: [{ ...ref("a", "k"), expectedVersion: 0n }],
        }),
        "CONFLICT",
      );
      expect(error.details["key"]).toBe("k");
      expect(await engine.get(ref("a", "other"))).toMatchObject({ exists: false, version: 0n });
      expect(engine.commitTs()).toBe(1n);
      await engine.transact({
        operations: [{ ...ref("a", "k"), value: { n: 2 } }],
        preconditions: [{ ...ref("a", "k"), expectedVersion: 1n }, { ...ref("a", "new"), expectedVersion: 0n }],
      });
      expect((await engine.get(ref("a", "k"))).version).toBe(2n);
      await expectEngineError(
        engine.transact({ operations: [{ ...ref("a", "k"), value: {} }], preconditions: [{ ...ref("a", "k"), mustNotExist: true }] }),
        "CONFLICT",
      );
      await put(engine, "a", "k", null);
      await engine.transact({ operations: [{ ...ref("a", "k"), value: { again: true } }], preconditions: [{ ...ref("a", "k"), mustNotExist: true }] });
      expect(await engine.get(ref("a", "k"))).toMatchObject({ value: { again: true }, version: 4n });
    });

    it("records reads made through a transaction and conflicts when they changed", async () => {
      const { engine } = await open();
      await put(engine, "a", "counter", { n: 1 });
      const tx = engine.begin();
      const seen = await engine.read(tx, ref("a", "counter"));
      expect(seen.version).toBe(1n);
      await put(engine, "a", "counter", { n: 100 });
      engine.stageWrite(tx, ref("a", "counter"), { n: Number((seen.value as { n: number }).n) + 1 });
      await expectEngineError(engine.commit(tx), "CONFLICT");
      await expectEngineError(engine.commit(tx), "TXN_ABORTED");
      expect(await engine.get(ref("a", "counter"))).toMatchObject({ value: { n: 100 }, version: 2n });

      const ok = engine.begin();
      await engine.read(ok, ref("a", "counter"));
      await engine.read(ok, ref("a", "absent"));
      engine.stageWrite(ok, ref("a", "counter"), { n: 101 });
      await engine.commit(ok);
      expect(await engine.get(ref("a", "counter"))).toMatchObject({ value: { n: 101 }, version: 3n });
    });

    it("keeps an open transaction's keys in memory of their own, not in slices of Node's allocation pool", async () => {
      const { engine } = await open();
      const tx = engine.begin();
      await engine.read(tx, ref("a", "seen"));
      engine.stageWrite(tx, ref("a", "written"), { n: 1 });
      // Internal state, read to check where the keys live: one pooled slice would pin a 64 KiB slab.
      const txn = (engine as unknown as { txns: { requireOpen(id: string): { staged: Map<string, { stateKey: Buffer }>; reads: Map<string, { stateKey: Buffer }> } } }).txns.requireOpen(tx);
      const keys = [...txn.staged.values(), ...txn.reads.values()].map((op) => op.stateKey);
      expect(keys).toHaveLength(2);
      for (const key of keys) expect(key.buffer.byteLength).toBe(key.length);
      await engine.commit(tx);
    });

    it("serializes concurrent read-modify-write through CONFLICT retries without lost updates", async () => {
      const { engine } = await open();
      await put(engine, "a", "counter", { n: 0 });
      const increment = async (): Promise<void> => {
        for (;;) {
          const tx = engine.begin();
          const seen = await engine.read(tx, ref("a", "counter"));
          engine.stageWrite(tx, ref("a", "counter"), { n: (seen.value as { n: number }).n + 1 });
          try {
            await engine.commit(tx);
            return;
          } catch (error) {
            if (!(error instanceof EngineError && error.code === "CONFLICT")) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, increment));
      expect(await engine.get(ref("a", "counter"))).toMatchObject({ value: { n: 20 }, version: 21n });
    });

    it("applies an idempotency key once per content and returns the original commit_ts", async () => {
      const { engine } = await open();
      const ops = [{ ...ref("a", "k"), value: { n: 1 } }];
      const first = await engine.transact({ operations: ops, idempotencyKey: "req-1" });
      const again = await engine.transact({ operations: ops, idempotencyKey: "req-1" });
      expect(first).toEqual({ commitTs: 1n, duplicate: false });
      expect(again).toEqual({ commitTs: 1n, duplicate: true });
      // The same content staged server-side is the same transaction.
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k"), { n: 1 });
      expect(await engine.commit(tx, { idempotencyKey: "req-1" })).toEqual({ commitTs: 1n, duplicate: true });
      await expectEngineError(engine.commit(tx), "TXN_ALREADY_COMMITTED");
      // Other content under the same key is refused, naming the key; nothing applies.
      const reused = await expectEngineError(engine.transact({ operations: [{ ...ref("a", "k"), value: { n: 2 } }], idempotencyKey: "req-1" }), "IDEMPOTENCY_KEY_REUSED");
      expect(reused.details).toMatchObject({ idempotencyKey: "req-1", namespace: ns, commitTs: "1" });
      expect(reused.message).toContain("req-1");
      await expectEngineError(engine.transact({ operations: [{ ...ref("a", "k"), value: null }], idempotencyKey: "req-1" }), "IDEMPOTENCY_KEY_REUSED");
      // Same key in one group commit: exactly one applies, the others with other content are refused.
      const racing = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => engine.transact({ operations: [{ ...ref("a", "r"), value: { i: i % 2 } }], idempotencyKey: "req-2" })),
      );
      const applied = racing.flatMap((r) => (r.status === "fulfilled" && !r.value.duplicate ? [r.value] : []));
      const duplicates = racing.flatMap((r) => (r.status === "fulfilled" && r.value.duplicate ? [r.value] : []));
      const refused = racing.filter((r) => r.status === "rejected" && (r.reason as EngineError).code === "IDEMPOTENCY_KEY_REUSED");
      expect(applied).toHaveLength(1);
      expect(duplicates).toHaveLength(2);
      expect(refused).toHaveLength(2);
      expect(duplicates.every((d) => d.commitTs === applied[0]?.commitTs)).toBe(true);
      expect(await engine.get(ref("a", "k"))).toMatchObject({ value: { n: 1 }, version: 1n });
      expect(await engine.get(ref("a", "r"))).toMatchObject({ value: { i: 0 }, version: 1n });
      expect(engine.commitTs()).toBe(2n);
    });

    it("scopes idempotency keys by namespace: another namespace's key applies on its own", async () => {
      const { engine } = await open();
      const inA = { namespace: "team-a", agentId: "x", key: "k" };
      const inB = { namespace: "team-b", agentId: "x", key: "k" };
      const a = await engine.transact({ operations: [{ ...inA, value: { n: 1 } }], idempotencyKey: "request-42" });
      const b = await engine.transact({ operations: [{ ...inB, value: { n: 1 } }], idempotencyKey: "request-42" });
      expect(a).toEqual({ commitTs: 1n, duplicate: false });
      expect(b).toEqual({ commitTs: 2n, duplicate: false });
      expect(await engine.get(inB)).toMatchObject({ value: { n: 1 }, version: 1n, commitTs: 2n });
      expect(await engine.transact({ operations: [{ ...inB, value: { n: 1 } }], idempotencyKey: "request-42" })).toEqual({ commitTs: 2n, duplicate: true });
      // A transaction over both namespaces keeps its key in the smallest one ("team-a"): taken there by other content.
      await expectEngineError(
        engine.transact({ operations: [{ ...inB, value: { n: 2 } }, { ...inA, value: { n: 2 } }], idempotencyKey: "request-42" }),
        "IDEMPOTENCY_KEY_REUSED",
      );
    });

    it("purges idempotency keys after the window (injectable clock): a retry then applies again", async () => {
      let now = 1_000_000;
      const { engine } = await open({ clock: () => now, idempotencyWindowMs: 60_000, idempotencyPurgeIntervalMs: 0 });
      const ops = [{ ...ref("a", "k"), value: { n: 1 } }];
      expect(await engine.transact({ operations: ops, idempotencyKey: "old" })).toEqual({ commitTs: 1n, duplicate: false });
      now += 30_000;
      expect(await engine.transact({ operations: [{ ...ref("a", "j"), value: { n: 1 } }], idempotencyKey: "young" })).toEqual({ commitTs: 2n, duplicate: false });
      now += 29_999; // "old" is 59.999 s old: still inside its window
      expect(await engine.purgeIdempotencyKeys()).toBe(0);
      expect(await engine.transact({ operations: ops, idempotencyKey: "old" })).toEqual({ commitTs: 1n, duplicate: true });
      now += 1; // exactly the window: expired
      expect(await engine.purgeIdempotencyKeys()).toBe(1);
      expect(await engine.purgeIdempotencyKeys()).toBe(0);
      expect(await engine.transact({ operations: ops, idempotencyKey: "old" })).toEqual({ commitTs: 3n, duplicate: false });
      expect(await engine.transact({ operations: [{ ...ref("a", "j"), value: { n: 1 } }], idempotencyKey: "young" })).toEqual({ commitTs: 2n, duplicate: true });
      expect((await engine.get(ref("a", "k"))).version).toBe(2n);
      // An expired key not yet purged is not honoured either, and its reuse survives the later purge of the old entry.
      now += 60_000;
      expect(await engine.transact({ operations: [{ ...ref("a", "j"), value: { n: 2 } }], idempotencyKey: "young" })).toEqual({ commitTs: 4n, duplicate: false });
      expect(await engine.purgeIdempotencyKeys()).toBe(1); // "old" (commit 3); "young"'s first entry is only an expiry record now
      expect(await engine.transact({ operations: [{ ...ref("a", "j"), value: { n: 2 } }], idempotencyKey: "young" })).toEqual({ commitTs: 4n, duplicate: true });
    });

    it("commits concurrent transactions with distinct increasing commit_ts in fewer batches", async () => {
      const { engine } = await open();
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) => engine.transact({ operations: [{ ...ref("c", `k${i % 8}`), value: { i } }] })),
      );
      const ts = results.map((r) => r.commitTs).sort((a, b) => (a < b ? -1 : 1));
      expect(ts).toEqual(Array.from({ length: 64 }, (_, i) => BigInt(i + 1)));
      const stats = engine.stats();
      expect(stats.committedTransactions).toBe(64);
      expect(stats.groupCommits).toBeLessThan(64);
      for (let k = 0; k < 8; k++) expect((await engine.get(ref("c", `k${k}`))).version).toBe(8n);
    });

    it("commits an empty transaction with its own commit_ts", async () => {
      const { engine } = await open();
      expect((await engine.commit(engine.begin())).commitTs).toBe(1n);
      expect((await engine.transact({})).commitTs).toBe(2n);
    });

    it("replays exactly one agent's events in commit_ts order within an inclusive range", async () => {
      const { engine } = await open();
      const before = Date.now();
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k1"), { n: 1 });
      engine.stageWrite(tx, ref("b", "k1"), { n: 1 });
      engine.stageWrite(tx, { namespace: "other", agentId: "a", key: "k1" }, { n: 1 });
      await engine.commit(tx);
      await put(engine, "b", "k2", { n: 2 });
      await put(engine, "a", "k2", { n: 3 });
      await put(engine, "a", "k1", null);
      const events = await collect(engine.replay(ns, "a"));
      expect(events.map((e) => e.commitTs)).toEqual([1n, 3n, 4n]);
      expect(events[0]).toMatchObject({ txnId: tx, namespace: ns, agentId: "a", operations: [{ key: "k1", value: { n: 1 }, version: 1n }] });
      expect(events[0]?.committedAtMs).toBeGreaterThanOrEqual(before);
      expect(events[2]?.operations).toEqual([{ key: "k1", value: null, version: 2n }]);
      expect((await collect(engine.replay(ns, "a", { startTs: 3n, endTs: 4n }))).map((e) => e.commitTs)).toEqual([3n, 4n]);
      expect((await collect(engine.replay(ns, "a", { startTs: 2n, endTs: 3n }))).map((e) => e.commitTs)).toEqual([3n]);
      expect(await collect(engine.replay(ns, "a", { startTs: 5n }))).toEqual([]);
      expect(await collect(engine.replay(ns, "nobody"))).toEqual([]);
      expect((await collect(engine.replay("other", "a"))).map((e) => e.commitTs)).toEqual([1n]);
    });

    it("replay of every agent reproduces its current state", async () => {
      const { engine } = await open();
      for (let i = 0; i < 60; i++) {
        const agent = `agent-${i % 3}`;
        await engine.transact({
          operations: [
            { ...ref(agent, `k${i % 5}`), value: i % 7 === 0 ? null : { i } },
            { ...ref(agent, `k${(i + 2) % 5}`), value: { j: i } },
          ],
        });
      }
      for (let a = 0; a < 3; a++) {
        const agent = `agent-${a}`;
        const state = new Map<string, JsonObject | null>();
        for await (const event of engine.replay(ns, agent)) for (const op of event.operations) state.set(op.key, op.value);
        const expected = [...state].filter(([, v]) => v !== null).sort(([x], [y]) => (x < y ? -1 : 1));
        const actual = await engine.scanPrefix(ns, agent, "");
        expect(actual.map((e) => [e.key, e.value])).toEqual(expected);
      }
    });

    it("stops a replay when its signal aborts", async () => {
      const { engine } = await open();
      for (let i = 0; i < 10; i++) await put(engine, "a", `k${i}`, { i });
      const controller = new AbortController();
      const seen: bigint[] = [];
      for await (const event of engine.replay(ns, "a", { signal: controller.signal })) {
        seen.push(event.commitTs);
        if (seen.length === 3) controller.abort();
      }
      expect(seen).toEqual([1n, 2n, 3n]);
    });

    it("scans prefixes in key order and never confuses separators", async () => {
      const { engine } = await open();
      const keys = ["b", "a/2", "a/10", "a/1", "a", "a\u0000", "a\u0000\u0001", "ab", "é", "\u{1F600}", "\uFFFF", "a/"];
      await engine.transact({ operations: keys.map((key) => ({ ...ref("agent", key), value: { key } })) });
      const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(await engine.listKeys(ns, "agent")).toEqual(sorted);
      expect((await engine.scanPrefix(ns, "agent", "a/")).map((e) => e.key)).toEqual(["a/", "a/1", "a/10", "a/2"]);
      expect((await engine.scanPrefix(ns, "agent", "a\u0000")).map((e) => e.key)).toEqual(["a\u0000", "a\u0000\u0001"]);
      expect((await engine.scanPrefix(ns, "agent", "zzz")).map((e) => e.key)).toEqual([]);
      const entry = (await engine.scanPrefix(ns, "agent", "é"))[0];
      expect(entry).toEqual({ key: "é", value: { key: "é" }, version: 1n, commitTs: 1n });

      // (namespace, agent, key) triples that would collide under naive concatenation.
      const triples: [string, string, string][] = [
        ["n", "a\u0000b", "c"],
        ["n", "a", "b\u0000c"],
        ["n\u0000a", "b", "c"],
        ["n", "a\u0000\u0001b", "c"],
        ["n", "a", "\u0001b\u0000c"],
        ["n/a", "b", "c"],
        ["n", "a/b", "c"],
      ];
      await engine.transact({ operations: triples.map(([namespace, agentId, key], i) => ({ namespace, agentId, key, value: { i } })) });
      for (const [i, [namespace, agentId, key]] of triples.entries()) {
        expect(await engine.get({ namespace, agentId, key })).toMatchObject({ value: { i }, version: 1n });
        expect(await engine.listKeys(namespace, agentId)).toEqual(
          triples.filter(([n, a]) => n === namespace && a === agentId).map(([, , k]) => k).sort(),
        );
        const events = await collect(engine.replay(namespace, agentId));
        expect(events.flatMap((e) => e.operations.map((op) => op.key))).toContain(key);
        expect(events.every((e) => e.namespace === namespace && e.agentId === agentId)).toBe(true);
      }
      expect(await engine.listKeys("n", "a")).toEqual(["\u0001b\u0000c", "b\u0000c"]);
    });

    it("wakes only the watchers of the agents a batch touched, and frees a cancelled watcher at once", async () => {
      const { engine } = await open();
      const controllers = Array.from({ length: 10 }, () => new AbortController());
      const seen: AgentEvent[][] = controllers.map(() => []);
      const loops = controllers.map(async (controller, i) => {
        for await (const event of engine.watch(ns, "watched", { signal: controller.signal })) (seen[i] as AgentEvent[]).push(event);
      });
      const waiting = async (n: number): Promise<void> => {
        while (engine.stats().watchersWaiting !== n) await new Promise((resolve) => setImmediate(resolve));
      };
      await waiting(10);
      for (let i = 0; i < 20; i++) await put(engine, `other-${i % 3}`, "k", { i });
      expect(engine.stats().watcherWakeups).toBe(0);
      expect(engine.stats().watchersWaiting).toBe(10);
      await put(engine, "watched", "k", { n: 1 });
      await waiting(10);
      expect(engine.stats().watcherWakeups).toBe(10);
      expect(seen.map((events) => events.map((e) => e.commitTs))).toEqual(seen.map(() => [21n]));
      (controllers[0] as AbortController).abort();
      expect(engine.stats().watchersWaiting).toBe(9);
      for (const controller of controllers) controller.abort();
      expect(engine.stats().watchersWaiting).toBe(0);
      await Promise.all(loops);
    });

    it("bounds staged data in bytes: per transaction and for all open transactions, each refused naming its limit", async () => {
      const { engine } = await open({ maxTransactionBytes: 10_000, maxStagedBytes: 25_000 });
      const big = { blob: "x".repeat(4_000) };
      const tx = engine.begin();
      engine.stageWrite(tx, ref("a", "k1"), big);
      engine.stageWrite(tx, ref("a", "k2"), big);
      const tooBig = await expectEngineError(() => engine.stageWrite(tx, ref("a", "k3"), big), "LIMIT_EXCEEDED");
      expect(tooBig.details).toMatchObject({ limit: "max_transaction_bytes", maxTransactionBytes: "10000" });
      expect(tooBig.message).toContain("max_transaction_bytes");
      // Rewriting a staged key replaces its bytes instead of adding them; the refused write left nothing behind.
      engine.stageWrite(tx, ref("a", "k2"), { small: true });
      engine.stageWrite(tx, ref("a", "k3"), big);
      expect(engine.stats().stagedBytes).toBeGreaterThan(8_000);
      // Two more open transactions fill the budget shared by all of them.
      const tx2 = engine.begin();
      engine.stageWrite(tx2, ref("b", "k1"), big);
      engine.stageWrite(tx2, ref("b", "k2"), big);
      const tx3 = engine.begin();
      engine.stageWrite(tx3, ref("c", "k1"), big);
      const full = await expectEngineError(() => engine.stageWrite(tx3, ref("c", "k2"), big), "LIMIT_EXCEEDED");
      expect(full.details).toMatchObject({ limit: "max_staged_bytes", maxStagedBytes: "25000" });
      // One-shot commits are charged while queued; an oversized one fails alone, its batch neighbours commit.
      const [lone, ...neighbours] = await Promise.allSettled([
        engine.transact({ operations: [{ ...ref("d", "k"), value: { blob: "y".repeat(20_000) } }] }),
        engine.transact({ operations: [{ ...ref("d", "n1"), value: { n: 1 } }] }),
        engine.transact({ operations: [{ ...ref("d", "n2"), value: { n: 2 } }] }),
      ]);
      expect(lone.status === "rejected" && (lone.reason as EngineError).details["limit"]).toBe("max_transaction_bytes");
      expect(neighbours.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
      // Ending transactions returns their bytes.
      engine.abort(tx2);
      engine.stageWrite(tx3, ref("c", "k2"), big);
      expect((await engine.commit(tx)).duplicate).toBe(false);
      expect((await engine.commit(tx3)).duplicate).toBe(false);
      expect(engine.stats().stagedBytes).toBe(0);
      expect(await engine.get(ref("a", "k3"))).toMatchObject({ value: big, version: 1n });
    });

    it("answers state as of a commit_ts for one key and for a whole agent", async () => {
      const { engine } = await open();
      await put(engine, "a", "x", { v: 1 }); // 1
      await put(engine, "a", "y", { v: 1 }); // 2
      await put(engine, "b", "x", { v: 1 }); // 3
      await put(engine, "a", "x", { v: 2 }); // 4
      await put(engine, "a", "y", null); // 5
      await put(engine, "a", "x", { v: 3 }); // 6
      expect(await engine.getAsOf(ref("a", "x"), 0n)).toMatchObject({ exists: false, version: 0n });
      expect(await engine.getAsOf(ref("a", "x"), 1n)).toEqual({ value: { v: 1 }, version: 1n, commitTs: 1n, exists: true });
      expect(await engine.getAsOf(ref("a", "x"), 3n)).toEqual({ value: { v: 1 }, version: 1n, commitTs: 1n, exists: true });
      expect(await engine.getAsOf(ref("a", "x"), 5n)).toEqual({ value: { v: 2 }, version: 2n, commitTs: 4n, exists: true });
      expect(await engine.getAsOf(ref("a", "x"), 6n)).toEqual({ value: { v: 3 }, version: 3n, commitTs: 6n, exists: true });
      // The future is refused: the same question must get the same answer later.
      const future = await expectEngineError(engine.getAsOf(ref("a", "x"), 7n), "INVALID_ARGUMENT");
      expect(future.details).toMatchObject({ field: "commit_ts", currentCommitTs: "6" });
      await expectEngineError(engine.getAgentAsOf(ns, "a", 99n), "INVALID_ARGUMENT");
      expect(await engine.getAsOf(ref("a", "y"), 5n)).toEqual({ value: null, version: 2n, commitTs: 5n, exists: false });
      const asOf = async (ts: bigint): Promise<[string, JsonObject, bigint][]> =>
        (await engine.getAgentAsOf(ns, "a", ts)).map((e) => [e.key, e.value, e.version]);
      expect(await asOf(0n)).toEqual([]);
      expect(await asOf(2n)).toEqual([["x", { v: 1 }, 1n], ["y", { v: 1 }, 1n]]);
      expect(await asOf(4n)).toEqual([["x", { v: 2 }, 2n], ["y", { v: 1 }, 1n]]);
      expect(await asOf(5n)).toEqual([["x", { v: 2 }, 2n]]);
      expect(await asOf(6n)).toEqual([["x", { v: 3 }, 3n]]);
    });

    it("pages listKeys and scanPrefix exactly: tombstones skipped, prefixes exact, cursors across NUL and high code points", async () => {
      const { engine } = await open();
      const odd = ["a", "a\u0000", "a\u0000\u0001", "a\u0000\u00ff", "a\u00ff", "a\uffff", "a\u{10FFFF}", "ab", "\u00ff", "\uffff", "\u{10FFFF}", "\u{10FFFF}\u0000"];
      const plain = Array.from({ length: 37 }, (_, i) => `p/${String(i).padStart(3, "0")}`);
      const all = [...odd, ...plain, "z1", "z2", "z3"];
      await engine.transact({ operations: all.map((key) => ({ ...ref("pg", key), value: { key } })) });
      // Tombstones: every third plain key, a NUL key, and the whole tail (z1..z3) after the last live key.
      const deleted = new Set([...plain.filter((_, i) => i % 3 === 0), "a\u0000\u0001", "z1", "z2", "z3"]);
      await engine.transact({ operations: [...deleted].map((key) => ({ ...ref("pg", key), value: null })) });
      const live = all.filter((k) => !deleted.has(k)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      /** Every page of one read: full pages end with nextAfter = their last key, the last page with null. */
      async function pages<T>(limit: number, read: (after: string | undefined) => Promise<Page<T>>, keyOf: (item: T) => string): Promise<T[]> {
        const out: T[] = [];
        let after: string | undefined;
        for (let n = 0; ; n++) {
          expect(n).toBeLessThan(200);
          const page = await read(after);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          out.push(...page.items);
          if (page.nextAfter === null) return out;
          expect(page.items.length).toBe(limit);
          expect(page.nextAfter).toBe(keyOf(page.items[page.items.length - 1] as T));
          after = page.nextAfter;
        }
      }
      const startsWith = (key: string, prefix: string): boolean => Buffer.from(key).subarray(0, Buffer.byteLength(prefix)).equals(Buffer.from(prefix));
      for (const prefix of ["", "a", "a\u0000", "p/", "p/01", "\u{10FFFF}", "\uffff", "zzz", "z"]) {
        const expected = live.filter((k) => startsWith(k, prefix));
        for (const limit of [1, 2, 3, 7, expected.length || 1, 1000]) {
          const opts = (after: string | undefined): { limit: number; after?: string } => ({ limit, ...(after === undefined ? {} : { after }) });
          const keys = await pages(limit, (after) => engine.listKeysPage(ns, "pg", { prefix, ...opts(after) }), (k) => k);
          expect(keys, `listKeysPage prefix=${JSON.stringify(prefix)} limit=${limit}`).toEqual(expected);
          const entries = await pages(limit, (after) => engine.scanPrefixPage(ns, "pg", prefix, opts(after)), (e) => e.key);
          expect(entries.map((e) => e.key), `scanPrefixPage prefix=${JSON.stringify(prefix)} limit=${limit}`).toEqual(expected);
          expect(entries.every((e) => (e.value as { key: string }).key === e.key && e.version === 1n)).toBe(true);
        }
      }
      // An exactly full last page says there is nothing more, even with tombstones after it.
      expect(await engine.listKeysPage(ns, "pg", { limit: live.length })).toMatchObject({ items: live, nextAfter: null });
      expect(await engine.listKeysPage(ns, "pg", { prefix: "z" })).toEqual({ items: [], nextAfter: null, bytes: 0 });
      // A cursor outside the prefix: before it starts at the prefix, past it is an empty page.
      expect((await engine.listKeysPage(ns, "pg", { prefix: "p/", after: "a", limit: 2 })).items).toEqual(["p/001", "p/002"]);
      expect(await engine.listKeysPage(ns, "pg", { prefix: "p/", after: "q", limit: 2 })).toEqual({ items: [], nextAfter: null, bytes: 0 });
      // A cursor on a deleted or never-written key continues right after it.
      expect((await engine.listKeysPage(ns, "pg", { prefix: "p/", after: "p/003", limit: 1 })).items).toEqual(["p/004"]);
      expect((await engine.listKeysPage(ns, "pg", { prefix: "p/", after: "p/0035", limit: 1 })).items).toEqual(["p/004"]);
      // The unpaged reads are the concatenation of the pages.
      expect(await engine.listKeys(ns, "pg")).toEqual(live);
      expect((await engine.scanPrefix(ns, "pg", "")).map((e) => e.key)).toEqual(live);
      await expect(engine.listKeysPage(ns, "pg", { limit: 0 })).rejects.toThrow(TypeError);
      await expectEngineError(engine.listKeysPage(ns, "pg", { after: "" }), "INVALID_ARGUMENT");
    });

    it("bounds a page by bytes: at least one item, stops once the stored keys and values reach maxBytes", async () => {
      const { engine } = await open();
      const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
      await engine.transact({ operations: keys.map((key, i) => ({ ...ref("bytes", key), value: { s: "x".repeat(90 + i) } })) });
      const size = (i: number): number => 2 + JSON.stringify({ s: "x".repeat(90 + i) }).length; // key + value JSON
      const one = await engine.scanPrefixPage(ns, "bytes", "", { maxBytes: 1 });
      expect(one).toMatchObject({ nextAfter: "k0", bytes: size(0) });
      expect(one.items.map((e) => e.key)).toEqual(["k0"]);
      // Full once the bytes reach 250: k0 + k1 = 201 < 250, + k2 = 303.
      const three = await engine.scanPrefixPage(ns, "bytes", "", { maxBytes: 250 });
      expect(three.items.map((e) => e.key)).toEqual(["k0", "k1", "k2"]);
      expect(three.bytes).toBe(size(0) + size(1) + size(2));
      const rest = await engine.scanPrefixPage(ns, "bytes", "", { maxBytes: 10_000, after: "k2" });
      expect(rest.items.map((e) => e.key)).toEqual(keys.slice(3));
      expect(rest.nextAfter).toBeNull();
      // Keys only: the values do not count.
      const keyPage = await engine.listKeysPage(ns, "bytes", { maxBytes: 6 });
      expect(keyPage).toEqual({ items: ["k0", "k1", "k2"], nextAfter: "k2", bytes: 6 });
    });

    it("pages the state as of a commit_ts: deleted keys skipped, later commits never shift the pages", async () => {
      const { engine } = await open();
      const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      await engine.transact({ operations: keys.map((key, i) => ({ ...ref("asof", key), value: { i } })) }); // 1
      const gone = new Set(keys.filter((_, i) => i % 4 === 1));
      await engine.transact({ operations: [...gone].map((key) => ({ ...ref("asof", key), value: null })) }); // 2
      await engine.transact({ operations: keys.filter((_, i) => i % 4 === 2).map((key) => ({ ...ref("asof", key), value: { updated: true } })) }); // 3
      const at2 = keys.filter((k) => !gone.has(k));
      for (const [ts, expected] of [[1n, keys], [2n, at2], [3n, at2]] as const) {
        for (const limit of [1, 3, 7, 100]) {
          const out: StateEntry[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await engine.getAgentAsOfPage(ns, "asof", ts, { limit, ...(after === undefined ? {} : { after }) });
            out.push(...page.items);
            if (page.nextAfter === null) break;
            expect(page.items.length).toBe(limit);
            after = page.nextAfter;
          }
          expect(out.map((e) => e.key), `as of ${ts}, limit ${limit}`).toEqual(expected);
          expect(out).toEqual(await engine.getAgentAsOf(ns, "asof", ts));
        }
      }
      const first = await engine.getAgentAsOfPage(ns, "asof", 2n, { limit: 5 });
      // Commits between pages (new keys inside the range, deletes of everything) change nothing as of ts 2.
      await engine.transact({ operations: [...keys.map((key) => ({ ...ref("asof", key), value: null })), { ...ref("asof", "k05a"), value: { late: true } }] });
      const second = await engine.getAgentAsOfPage(ns, "asof", 2n, { after: first.nextAfter as string });
      expect([...first.items, ...second.items].map((e) => e.key)).toEqual(at2);
      expect(second.items.find((e) => e.key === "k10")).toEqual({ key: "k10", value: { i: 10 }, version: 1n, commitTs: 1n });
    });

    it("replays the last N events newest first (reverse range with a limit)", async () => {
      const { engine } = await open();
      for (let i = 0; i < 12; i++) {
        await put(engine, "rev", `k${i}`, { i }); // odd commit_ts
        await put(engine, "other", "k", { i }); // even commit_ts
      }
      const ts = async (options: Parameters<Engine["replay"]>[2]): Promise<bigint[]> => (await collect(engine.replay(ns, "rev", options))).map((e) => e.commitTs);
      const all = Array.from({ length: 12 }, (_, i) => BigInt(2 * i + 1));
      expect(await ts({ reverse: true, limit: 3 })).toEqual([23n, 21n, 19n]);
      expect(await ts({ reverse: true })).toEqual([...all].reverse());
      expect(await ts({ reverse: true, limit: 50 })).toEqual([...all].reverse());
      expect(await ts({ limit: 4 })).toEqual(all.slice(0, 4));
      expect(await ts({ reverse: true, limit: 2, endTs: 10n })).toEqual([9n, 7n]);
      expect(await ts({ reverse: true, limit: 5, startTs: 18n, endTs: 22n })).toEqual([21n, 19n]);
      const [last] = await collect(engine.replay(ns, "rev", { reverse: true, limit: 1 }));
      expect(last).toMatchObject({ commitTs: 23n, agentId: "rev", operations: [{ key: "k11", value: { i: 11 }, version: 1n }] });
      expect(() => engine.replay(ns, "rev", { limit: 0 })).toThrow(TypeError);
    });

    it("watches from a commit_ts and then live, without gap or duplicate at the switch", async () => {
      const { engine } = await open();
      for (let i = 0; i < 20; i++) await put(engine, "w", `k${i % 3}`, { i });
      const controller = new AbortController();
      const seen: AgentEvent[] = [];
      const total = 20 + 200;
      let writer: Promise<void> | undefined;
      const watching = (async () => {
        for await (const event of engine.watch(ns, "w", { startTs: 5n, signal: controller.signal })) {
          seen.push(event);
          // Start writing while the historical part is still being delivered.
          writer ??= (async () => {
            await Promise.all(
              Array.from({ length: 4 }, async (_, w) => {
                for (let i = 0; i < 50; i++) {
                  await engine.transact({ operations: [{ ...ref("w", `live${w}`), value: { i } }, { ...ref("other", "x"), value: { i } }] });
                }
              }),
            );
          })();
          if (seen.length === total - 4) controller.abort();
        }
      })();
      await watching;
      await writer;
      const ts = seen.map((e) => e.commitTs);
      expect(ts).toEqual(Array.from({ length: total - 4 }, (_, i) => BigInt(i + 5)));
      expect(seen.every((e) => e.agentId === "w" && e.operations.length === 1)).toBe(true);
    });

    it("watch without startTs delivers only later commits and ends on close", async () => {
      const harness = await open();
      const { engine } = harness;
      await put(engine, "w", "old", { n: 0 });
      const iterator = engine.watch(ns, "w")[Symbol.asyncIterator]();
      const next = iterator.next();
      await put(engine, "w", "new", { n: 1 });
      const first = await next;
      expect(first.done).toBe(false);
      expect((first.value as AgentEvent).commitTs).toBe(2n);
      const pending = iterator.next();
      await engine.close();
      expect((await pending).done).toBe(true);
    });

    it("throws TypeError for misuse and EngineError for unacceptable values", async () => {
      const { engine } = await open({ maxValueBytes: 100 });
      const tx = engine.begin();
      expect(() => engine.stageWrite(tx, { namespace: ns, agentId: "a", key: 1 as unknown as string }, {})).toThrow(TypeError);
      expect(() => engine.stageWrite(tx, ref("a", "k"), [] as unknown as JsonObject)).toThrow(TypeError);
      expect(() => engine.stageWrite(tx, ref("a", "k"), null as unknown as JsonObject)).toThrow(TypeError);
      expect(() => engine.begin({ timeoutMs: 1.5 })).toThrow(TypeError);
      await expect(engine.getAtVersion(ref("a", "k"), 1 as unknown as bigint)).rejects.toThrow(TypeError);
      await expectEngineError(() => engine.stageWrite(tx, ref("a", ""), {}), "INVALID_ARGUMENT");
      await expectEngineError(() => engine.stageWrite(tx, ref("a", "\uD800"), {}), "INVALID_ARGUMENT");
      await expectEngineError(() => engine.stageWrite(tx, ref("a", "k"), { n: Number.NaN }), "INVALID_ARGUMENT");
      await expectEngineError(() => engine.stageWrite(tx, ref("a", "k"), { s: "x".repeat(200) }), "LIMIT_EXCEEDED");
      await expectEngineError(engine.transact({ operations: [{ ...ref("a", "k"), value: { s: "x".repeat(200) } }] }), "LIMIT_EXCEEDED");
      engine.stageWrite(tx, ref("a", "k"), { nested: { list: [1, "two", null, true, { deep: [] }] } });
      await engine.commit(tx);
      expect((await engine.get(ref("a", "k"))).value).toEqual({ nested: { list: [1, "two", null, true, { deep: [] }] } });
    });

    it("answers CLOSED after close, and close is idempotent", async () => {
      const { engine } = await open();
      const tx = engine.begin();
      const inflight = engine.transact({ operations: [{ ...ref("a", "k"), value: { n: 1 } }] });
      await Promise.all([engine.close(), engine.close()]);
      expect((await inflight).commitTs).toBe(1n);
      await expectEngineError(() => engine.begin(), "CLOSED");
      await expectEngineError(() => engine.stageWrite(tx, ref("a", "k"), {}), "CLOSED");
      await expectEngineError(engine.get(ref("a", "k")), "CLOSED");
      await expectEngineError(engine.transact({}), "CLOSED");
      await expectEngineError(() => engine.replay(ns, "a"), "CLOSED");
    });

    if (supports.retention !== false) {
      runRetentionContract(open, supports);
      runPurgeContract(open, supports);
    } else {
      it("refuses a history retention policy and a purge clearly and compacts nothing (this backend keeps every event)", async () => {
        const { engine } = await open();
        await engine.transact({ operations: [{ ...ref("a", "k"), value: { v: 1 } }] });
        const refused = await expectEngineError(engine.setRetentionPolicy("default", { kind: "duration", keepMs: 1000 }), "INVALID_ARGUMENT");
        expect(refused.message).toContain("not available on a shared");
        expect(await engine.compactHistory()).toBe(0);
        expect((await expectEngineError(engine.purge({ namespace: ns, agentId: "a" }), "INVALID_ARGUMENT")).message).toContain("not available on a shared");
        expect((await engine.getAsOf(ref("a", "k"), 1n)).value).toEqual({ v: 1 });
      });
    }

    it("lists namespaces and agents in pages, with prefixes, key counts and last commit", async () => {
      let now = 1_700_000_000_000;
      const { engine } = await open({ clock: () => now });
      const write = (namespace: string, agentId: string, key: string, value: JsonObject | null) =>
        engine.transact({ operations: [{ namespace, agentId, key, value }] });
      await write("ns-b", "agent-2", "k", { n: 1 });
      await write("ns-a", "agent-1", "k1", { n: 1 });
      await write("ns-a", "agent-1", "k2", { n: 1 });
      now += 5000;
      await write("ns-a", "agent-1", "k1", null);
      await write("ns-a", "agent-10", "k", { n: 1 });
      await write("ns-a", "gone", "k", null);
      // One transaction over two namespaces counts for both.
      await engine.transact({ operations: [{ namespace: "ns-c", agentId: "x", key: "k", value: { n: 1 } }, { namespace: "ns-a", agentId: "agent-2", key: "k", value: { n: 1 } }] });
      await write("with\u0000nul", "a\u0000b", "k", { n: 1 });

      expect((await engine.listNamespaces()).items.map((n) => n.namespace)).toEqual(["ns-a", "ns-b", "ns-c", "with\u0000nul"]);
      const first = await engine.listNamespaces({ limit: 2 });
      expect(first.items.map((n) => n.namespace)).toEqual(["ns-a", "ns-b"]);
      expect(first.nextAfter).toBe("ns-b");
      const second = await engine.listNamespaces({ limit: 2, after: "ns-b" });
      expect(second).toMatchObject({ items: [{ namespace: "ns-c" }, { namespace: "with\u0000nul" }], nextAfter: null });
      expect((await engine.listNamespaces({ prefix: "ns-" })).items.map((n) => n.namespace)).toEqual(["ns-a", "ns-b", "ns-c"]);
      expect((await engine.listNamespaces({ prefix: "zz" })).items).toEqual([]);

      const agents = await engine.listAgents("ns-a");
      expect(agents.nextAfter).toBeNull();
      expect(agents.items).toEqual([
        { namespace: "ns-a", agentId: "agent-1", keyCount: 1, lastCommitTs: 4n, lastCommittedAtMs: now },
        { namespace: "ns-a", agentId: "agent-10", keyCount: 1, lastCommitTs: 5n, lastCommittedAtMs: now },
        { namespace: "ns-a", agentId: "agent-2", keyCount: 1, lastCommitTs: 7n, lastCommittedAtMs: now },
        // Every key deleted: still listed, it has a history.
        { namespace: "ns-a", agentId: "gone", keyCount: 0, lastCommitTs: 6n, lastCommittedAtMs: now },
      ]);
      const page1 = await engine.listAgents("ns-a", { limit: 3, prefix: "agent-" });
      expect(page1.items.map((a) => a.agentId)).toEqual(["agent-1", "agent-10", "agent-2"]);
      expect(page1.nextAfter).toBeNull();
      const page2 = await engine.listAgents("ns-a", { limit: 1, prefix: "agent-1" });
      expect(page2.items.map((a) => a.agentId)).toEqual(["agent-1"]);
      expect(page2.nextAfter).toBe("agent-1");
      expect((await engine.listAgents("ns-a", { limit: 1, prefix: "agent-1", after: "agent-1" })).items.map((a) => a.agentId)).toEqual(["agent-10"]);
      expect((await engine.listAgents("with\u0000nul")).items.map((a) => a.agentId)).toEqual(["a\u0000b"]);
      expect((await engine.listAgents("nobody")).items).toEqual([]);
      await expectEngineError(engine.listAgents(""), "INVALID_ARGUMENT");
    });

    if (supports.persistence) {
      it("keeps committed data, versions, idempotency keys and commit_ts across reopen", async () => {
        const harness = await open();
        await put(harness.engine, "a", "k", { n: 1 });
        await harness.engine.transact({ operations: [{ ...ref("a", "k"), value: { n: 2 } }], idempotencyKey: "once" });
        const open1 = harness.engine.begin();
        harness.engine.stageWrite(open1, ref("a", "lost"), { n: 1 });
        const engine = await harness.reopen();
        expect(engine.commitTs()).toBe(2n);
        expect(engine.recovery.commitTs).toBe(2n);
        expect(await engine.get(ref("a", "k"))).toEqual({ value: { n: 2 }, version: 2n, commitTs: 2n, exists: true });
        expect((await engine.get(ref("a", "lost"))).exists).toBe(false);
        await expectEngineError(() => engine.stageWrite(open1, ref("a", "lost"), {}), "TXN_NOT_FOUND");
        expect(await engine.transact({ operations: [{ ...ref("a", "k"), value: { n: 2 } }], idempotencyKey: "once" })).toEqual({
          commitTs: 2n,
          duplicate: true,
        });
        await expectEngineError(engine.transact({ operations: [{ ...ref("a", "k"), value: { n: 9 } }], idempotencyKey: "once" }), "IDEMPOTENCY_KEY_REUSED");
        expect((await put(engine, "a", "k", { n: 3 }))).toBe(3n);
        expect((await collect(engine.replay(ns, "a"))).map((e) => e.operations[0]?.version)).toEqual([1n, 2n, 3n]);
      });
    }
  });
}
