// Every client method against the real daemon, over every transport of both
// entry points.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConflictError,
  NotFoundError,
  StatehouseError,
  TransactionError,
  type ReplayEvent,
  type StatehouseClient,
} from "./index.js";
import { testDaemonUrl, uniqueAgent } from "./test-support/daemon.js";
import { TRANSPORTS } from "./test-support/transports.js";

let daemon: { url: string; dispose: () => Promise<void> };

beforeAll(async () => {
  daemon = await testDaemonUrl();
});

afterAll(async () => {
  await daemon?.dispose();
});

/** Collects a stream into an array. */
async function collect(events: AsyncIterable<ReplayEvent>): Promise<ReplayEvent[]> {
  const out: ReplayEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

/** Commits one transaction that writes (or, with null, deletes) each key. */
async function commit(client: StatehouseClient, agent: string, ops: Record<string, object | null>): Promise<bigint> {
  const tx = await client.beginTransaction();
  for (const [key, value] of Object.entries(ops)) {
    if (value === null) tx.delete(agent, key);
    else tx.write(agent, key, value as Record<string, never>);
  }
  return tx.commit();
}

describe.each(TRANSPORTS)("$name", (transport) => {
  let client: StatehouseClient;
  let other: StatehouseClient;

  beforeAll(() => {
    client = transport.create({ url: daemon.url });
    other = transport.create({ url: daemon.url });
  });

  afterAll(async () => {
    await client?.close();
    await other?.close();
  });

  it("health and version", async () => {
    expect(await client.health()).toBe("ok");
    const info = await client.version();
    expect(info.version).toMatch(/\d+\.\d+/);
    expect(typeof info.gitSha).toBe("string");
  });

  it("daemonStatus follows the latest commit_ts and carries the recovery report", async () => {
    const { commitTs } = await client.transact([{ agentId: uniqueAgent("status"), key: "k", value: {} }]);
    const status = await client.daemonStatus();
    expect(status.commitTs).toBeGreaterThanOrEqual(commitTs);
    expect(status.version).toBe((await client.version()).version);
    expect(status.recovery.commitTs).toBeLessThan(commitTs);
    expect(typeof status.recovery.storage).toBe("string");
    expect(status.startedAt).toBeInstanceOf(Date);
    expect(status.writable).toBe(true);
    expect(status.committedTransactions).toBeGreaterThanOrEqual(1);
  });

  it("commits a transaction and reads it back from another client", async () => {
    const agent = uniqueAgent("commit");
    const tx = await client.beginTransaction();
    expect(tx.state).toBe("open");
    tx.write(agent, "plan", { steps: ["a", "b"], done: false, n: 1.5, nested: { x: null } });
    tx.write(agent, "note", { text: "héllo ✓" });
    const commitTs = await tx.commit();
    expect(typeof commitTs).toBe("bigint");
    expect(commitTs).toBeGreaterThan(0n);
    expect(tx.state).toBe("committed");
    expect(tx.commitTs).toBe(commitTs);

    expect(await other.getState(agent, "plan")).toEqual({
      value: { steps: ["a", "b"], done: false, n: 1.5, nested: { x: null } },
      version: 1n,
      commitTs,
      exists: true,
    });
    expect((await other.getState(agent, "note")).value).toEqual({ text: "héllo ✓" });
  });

  it("reports a key never written as not existing, version 0", async () => {
    expect(await client.getState(uniqueAgent("none"), "missing")).toEqual({
      value: null,
      version: 0n,
      commitTs: 0n,
      exists: false,
    });
  });

  it("delete writes a tombstone: not existing, version advances, gone from listKeys and scanPrefix", async () => {
    const agent = uniqueAgent("delete");
    await commit(client, agent, { "k/1": { v: 1 }, "k/2": { v: 2 } });
    const ts = await commit(client, agent, { "k/1": null });
    expect(await client.getState(agent, "k/1")).toEqual({ value: null, version: 2n, commitTs: ts, exists: false });
    expect(await client.listKeys(agent)).toEqual(["k/2"]);
    expect((await client.scanPrefix(agent, "k/")).map((e) => e.key)).toEqual(["k/2"]);
  });

  it("getStateAtVersion returns old versions and NotFoundError for a missing one", async () => {
    const agent = uniqueAgent("versions");
    const ts1 = await commit(client, agent, { k: { v: 1 } });
    const ts2 = await commit(client, agent, { k: { v: 2 } });
    expect(await client.getStateAtVersion(agent, "k", 1)).toEqual({ value: { v: 1 }, version: 1n, commitTs: ts1, exists: true });
    expect(await client.getStateAtVersion(agent, "k", 2n)).toEqual({ value: { v: 2 }, version: 2n, commitTs: ts2, exists: true });
    const error = await client.getStateAtVersion(agent, "k", 99).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: "VERSION_NOT_FOUND", status: "NOT_FOUND" });
  });

  it("getStateAsOf and getAgentStateAsOf read history by commit_ts", async () => {
    const agent = uniqueAgent("asof");
    const ts1 = await commit(client, agent, { a: { v: 1 }, b: { v: 1 } });
    const ts2 = await commit(client, agent, { a: { v: 2 }, b: null, c: { v: 1 } });
    expect(await client.getStateAsOf(agent, "a", ts1)).toEqual({ value: { v: 1 }, version: 1n, commitTs: ts1, exists: true });
    expect(await client.getStateAsOf(agent, "a", ts2)).toMatchObject({ value: { v: 2 }, version: 2n });
    expect(await client.getStateAsOf(agent, "c", ts1)).toMatchObject({ exists: false, value: null });
    expect(await client.getAgentStateAsOf(agent, ts1)).toEqual([
      { key: "a", value: { v: 1 }, version: 1n, commitTs: ts1 },
      { key: "b", value: { v: 1 }, version: 1n, commitTs: ts1 },
    ]);
    expect((await client.getAgentStateAsOf(agent, ts2)).map((e) => e.key)).toEqual(["a", "c"]);
  });

  it("listKeys and scanPrefix return key order, with prefix filters", async () => {
    const agent = uniqueAgent("keys");
    const ts = await commit(client, agent, { "tool/b": { n: 2 }, "tool/a": { n: 1 }, "note/x": { n: 3 } });
    expect(await client.listKeys(agent)).toEqual(["note/x", "tool/a", "tool/b"]);
    expect(await client.listKeys(agent, { prefix: "tool/" })).toEqual(["tool/a", "tool/b"]);
    expect(await client.scanPrefix(agent, "tool/")).toEqual([
      { key: "tool/a", value: { n: 1 }, version: 1n, commitTs: ts },
      { key: "tool/b", value: { n: 2 }, version: 1n, commitTs: ts },
    ]);
    expect(await client.listKeys(uniqueAgent("empty"))).toEqual([]);
  });

  it("replay returns one event per transaction, only this agent's operations, in commit_ts order", async () => {
    const agent = uniqueAgent("replay");
    const otherAgent = uniqueAgent("replay-other");
    const ts1 = await commit(client, agent, { a: { v: 1 } });
    const tx = await client.beginTransaction();
    tx.write(agent, "b", { v: 1 });
    tx.write(otherAgent, "x", { v: 1 });
    tx.delete(agent, "a");
    const ts2 = await tx.commit();
    const ts3 = await commit(client, agent, { b: { v: 2 } });

    const events = await collect(client.replay(agent));
    expect(events.map((e) => e.commitTs)).toEqual([ts1, ts2, ts3]);
    const second = events[1];
    expect(second?.agentId).toBe(agent);
    expect(second?.namespace).toBe("default");
    expect(second?.txnId).not.toBe("");
    expect(second?.committedAt).toBeInstanceOf(Date);
    expect(second?.operations).toEqual(
      expect.arrayContaining([
        { key: "b", value: { v: 1 }, version: 1n },
        { key: "a", value: null, version: 2n },
      ]),
    );
    expect(second?.operations).toHaveLength(2);

    const window = await collect(client.replay(agent, { startTs: ts2, endTs: ts2 }));
    expect(window.map((e) => e.commitTs)).toEqual([ts2]);
    expect((await collect(client.replay(agent, { startTs: ts3 }))).map((e) => e.commitTs)).toEqual([ts3]);
  });

  it("watch replays from startTs, then follows live commits; breaking the loop ends it", async () => {
    const agent = uniqueAgent("watch");
    const ts1 = await commit(client, agent, { k: { v: 1 } });
    const seen: bigint[] = [];
    let ts2 = 0n;
    for await (const event of client.watch(agent, { startTs: ts1 })) {
      seen.push(event.commitTs);
      if (seen.length === 1) {
        ts2 = await commit(other, agent, { k: { v: 2 } });
      } else {
        expect(event.operations).toEqual([{ key: "k", value: { v: 2 }, version: 2n }]);
        break;
      }
    }
    expect(seen).toEqual([ts1, ts2]);
  });

  it("tx.get records the version seen: a concurrent change makes the commit fail with ConflictError", async () => {
    const agent = uniqueAgent("conflict");
    await commit(client, agent, { counter: { n: 1 } });
    const tx = await client.beginTransaction();
    const seen = await tx.get(agent, "counter");
    expect(seen).toMatchObject({ value: { n: 1 }, version: 1n, exists: true });
    await commit(other, agent, { counter: { n: 10 } });
    tx.write(agent, "counter", { n: 2 });
    tx.write(agent, "side", { touched: true });
    const error = await tx.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ code: "CONFLICT", status: "ABORTED" });
    expect(tx.state).toBe("failed");
    expect((await client.getState(agent, "counter")).value).toEqual({ n: 10 });
    expect((await client.getState(agent, "side")).exists).toBe(false);
  });

  it("tx.get of a key never written conflicts when someone creates it", async () => {
    const agent = uniqueAgent("conflict-new");
    const tx = await client.beginTransaction();
    expect(await tx.get(agent, "slot")).toMatchObject({ exists: false, version: 0n });
    await commit(other, agent, { slot: { owner: "other" } });
    tx.write(agent, "slot", { owner: "me" });
    await expect(tx.commit()).rejects.toBeInstanceOf(ConflictError);
    expect((await client.getState(agent, "slot")).value).toEqual({ owner: "other" });
  });

  it("tx.get reads this transaction's pending writes", async () => {
    const agent = uniqueAgent("ryw");
    await commit(client, agent, { k: { v: 1 } });
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 2 });
    expect(await tx.get(agent, "k")).toMatchObject({ value: { v: 2 }, exists: true, version: 1n });
    tx.delete(agent, "k");
    expect(await tx.get(agent, "k")).toMatchObject({ value: null, exists: false, version: 1n });
    await tx.commit();
    expect(await client.getState(agent, "k")).toMatchObject({ exists: false, version: 2n });
  });

  it("transaction lifecycle: second commit, use after abort, abort idempotent, abort after commit", async () => {
    const agent = uniqueAgent("lifecycle");
    const tx = await client.beginTransaction();
    tx.write(agent, "k", { v: 1 });
    await tx.commit();
    await expect(tx.commit()).rejects.toMatchObject({ name: "TransactionError", code: "TXN_ALREADY_COMMITTED" });
    expect(() => tx.write(agent, "k", { v: 2 })).toThrow(TransactionError);
    await expect(tx.abort()).rejects.toMatchObject({ code: "TXN_ALREADY_COMMITTED" });

    const aborted = await client.beginTransaction();
    aborted.write(agent, "k", { v: 3 });
    await aborted.abort();
    await aborted.abort();
    expect(aborted.state).toBe("aborted");
    expect(() => aborted.delete(agent, "k")).toThrow(expect.objectContaining({ code: "TXN_ABORTED" }));
    await expect(aborted.commit()).rejects.toMatchObject({ code: "TXN_ABORTED" });
    expect((await client.getState(agent, "k")).value).toEqual({ v: 1 });
    expect(await collect(client.replay(agent))).toHaveLength(1);
  });

  it("an expired transaction fails at commit with TransactionError TXN_EXPIRED", async () => {
    const agent = uniqueAgent("expired");
    const tx = await client.beginTransaction({ timeoutMs: 100 });
    tx.write(agent, "k", { v: 1 });
    await new Promise((r) => setTimeout(r, 600));
    const error = await tx.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ code: "TXN_EXPIRED" });
    expect((await client.getState(agent, "k")).exists).toBe(false);
  });

  it("await using aborts an uncommitted transaction", async () => {
    const agent = uniqueAgent("using");
    let leaked: { state: string } | undefined;
    {
      await using tx = await client.beginTransaction();
      tx.write(agent, "k", { v: 1 });
      leaked = tx;
    }
    expect(leaked.state).toBe("aborted");
    expect((await client.getState(agent, "k")).exists).toBe(false);
  });

  it("namespaces are separate", async () => {
    const agent = uniqueAgent("ns");
    const tx = await client.beginTransaction({ namespace: "team-a" });
    tx.write(agent, "k", { v: "a" });
    await tx.commit();
    expect((await client.getState(agent, "k")).exists).toBe(false);
    expect((await client.getState(agent, "k", { namespace: "team-a" })).value).toEqual({ v: "a" });
    const scoped = transport.create({ url: daemon.url, namespace: "team-a" });
    try {
      expect(await scoped.listKeys(agent)).toEqual(["k"]);
      const [event] = await collect(scoped.replay(agent));
      expect(event?.namespace).toBe("team-a");
    } finally {
      await scoped.close();
    }
  });

  it("withTransaction commits when fn resolves and returns its result", async () => {
    const agent = uniqueAgent("with");
    const outcome = await client.withTransaction(async (tx) => {
      const seen = await tx.get(agent, "counter");
      tx.write(agent, "counter", { n: ((seen.value?.["n"] as number | undefined) ?? 0) + 1 });
      return "done";
    });
    expect(outcome).toMatchObject({ result: "done", attempts: 1, duplicate: false });
    expect(await client.getState(agent, "counter")).toMatchObject({ value: { n: 1 }, commitTs: outcome.commitTs });
  });

  it("withTransaction aborts and rethrows when fn throws", async () => {
    const agent = uniqueAgent("with-throw");
    const boom = new Error("boom");
    await expect(
      client.withTransaction((tx) => {
        tx.write(agent, "k", { v: 1 });
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect((await client.getState(agent, "k")).exists).toBe(false);
  });

  it("withTransaction retries a conflict, re-running fn", async () => {
    const agent = uniqueAgent("with-retry");
    await commit(client, agent, { counter: { n: 0 } });
    let runs = 0;
    const outcome = await client.withTransaction(
      async (tx) => {
        runs++;
        const seen = await tx.get(agent, "counter");
        if (runs === 1) await commit(other, agent, { counter: { n: 100 } });
        tx.write(agent, "counter", { n: (seen.value?.["n"] as number) + 1 });
      },
      { retries: 2, backoffMs: 1 },
    );
    expect(runs).toBe(2);
    expect(outcome.attempts).toBe(2);
    expect((await client.getState(agent, "counter")).value).toEqual({ n: 101 });
  });

  it("withTransaction gives up after `retries` conflicts", async () => {
    const agent = uniqueAgent("with-give-up");
    let runs = 0;
    const error = await client
      .withTransaction(
        async (tx) => {
          runs++;
          await tx.get(agent, "k");
          await commit(other, agent, { k: { run: runs } });
          tx.write(agent, "k", { mine: true });
        },
        { retries: 1, backoffMs: 1 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(runs).toBe(2);
  });

  it("validates writes at once: plain JSON objects only, size limit", async () => {
    const small = transport.create({ url: daemon.url, maxValueBytes: 64 });
    try {
      const tx = await small.beginTransaction();
      const agent = uniqueAgent("validate");
      const cyclic: Record<string, unknown> = {};
      cyclic["self"] = cyclic;
      for (const bad of [null, [], "text", 3, new Date(), new Map(), { f: () => 1 }, { n: Number.NaN }, { u: undefined }, { b: 1n }, cyclic]) {
        expect(() => tx.write(agent, "k", bad as never)).toThrow(TypeError);
      }
      expect(() => tx.write("", "k", {})).toThrow(TypeError);
      expect(() => tx.write(agent, "k", { text: "x".repeat(100) })).toThrow(
        expect.objectContaining({ name: "StatehouseError", code: "LIMIT_EXCEEDED" }),
      );
      const value = { list: [1, 2] };
      tx.write(agent, "k", value);
      value.list.push(3);
      await tx.commit();
      expect((await small.getState(agent, "k")).value).toEqual({ list: [1, 2] });
    } finally {
      await small.close();
    }
  });

  it("maps the daemon's rejection of an invalid request to a StatehouseError", async () => {
    const error = await client.getState(uniqueAgent("invalid"), "k".repeat(5000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StatehouseError);
    expect((error as StatehouseError).code).toMatch(/^(INVALID_REQUEST|LIMIT_EXCEEDED)$/);
    expect(error).not.toBeInstanceOf(TransactionError);
  });

  it("rejects misuse with TypeError before any call", async () => {
    await expect(client.getStateAtVersion("a", "k", -1)).rejects.toThrow(TypeError);
    expect(() => client.replay("a", { startTs: 1.5 })).toThrow(TypeError);
    expect(() => client.watch("")).toThrow(TypeError);
  });
});
