// Several engines (as several statehoused would) on one PostgreSQL schema: one truth.
import { EngineError, openSharedEngine, type AgentEvent, type Engine } from "@statehouse/engine";
import { afterEach, describe, expect, it } from "vitest";
import { PostgresKv } from "./postgres-kv.ts";
import { usePostgres } from "./test-support/postgres.ts";

const postgres = usePostgres();
const ns = "cluster";
const opened: Engine[] = [];
const schemas: string[] = [];

afterEach(async () => {
  for (const engine of opened.splice(0)) await engine.close();
  for (const schema of schemas.splice(0)) await postgres.dropSchema(schema);
});

async function cluster(n: number, options: { notify?: boolean } = {}): Promise<Engine[]> {
  const schema = postgres.freshSchema();
  schemas.push(schema);
  const engines: Engine[] = [];
  for (let i = 0; i < n; i++) {
    const engine = await openSharedEngine(await PostgresKv.open({ connectionString: postgres.url, schema, ...options }));
    opened.push(engine);
    engines.push(engine);
  }
  return engines;
}

async function collect(iterable: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> {
  const out: AgentEvent[] = [];
  for await (const event of iterable) out.push(event);
  return out;
}

describe("several engines on one PostgreSQL", () => {
  it("a commit through one engine is visible through the others at once: get, replay, as-of, listKeys", async () => {
    const [a, b] = (await cluster(2)) as [Engine, Engine];
    const { commitTs } = await a.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { n: 1 } }] });
    const record = await b.get({ namespace: ns, agentId: "x", key: "k" });
    expect(record).toMatchObject({ value: { n: 1 }, version: 1n, commitTs, exists: true });
    expect((await collect(b.replay(ns, "x"))).map((e) => e.commitTs)).toEqual([commitTs]);
    expect((await b.getAsOf({ namespace: ns, agentId: "x", key: "k" }, commitTs)).value).toEqual({ n: 1 });
    expect(await b.listKeys(ns, "x")).toEqual(["k"]);
    const second = await b.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { n: 2 } }] });
    expect(second.commitTs).toBe(commitTs + 1n);
    expect((await a.get({ namespace: ns, agentId: "x", key: "k" })).version).toBe(2n);
  });

  it("numbers concurrent commits from three engines densely and once each; read-modify-write loses no update", async () => {
    const engines = await cluster(3);
    const perEngine = 40;
    const increments = engines.map((engine, e) =>
      (async () => {
        const results: bigint[] = [];
        for (let i = 0; i < perEngine; i++) {
          for (;;) {
            const tx = engine.begin();
            const current = await engine.read(tx, { namespace: ns, agentId: "counter", key: "n" });
            const n = current.exists ? Number((current.value as { n: number }).n) : 0;
            engine.stageWrite(tx, { namespace: ns, agentId: "counter", key: "n" }, { n: n + 1 });
            engine.stageWrite(tx, { namespace: ns, agentId: `writer-${e}`, key: `k${i}` }, { i });
            try {
              results.push((await engine.commit(tx, { idempotencyKey: `${e}.${i}` })).commitTs);
              break;
            } catch (error) {
              if (!(error instanceof EngineError) || error.code !== "CONFLICT") throw error;
            }
          }
        }
        return results;
      })(),
    );
    const all = (await Promise.all(increments)).flat();
    const total = engines.length * perEngine;
    expect(new Set(all).size).toBe(total);
    const sorted = [...all].sort((x, y) => (x < y ? -1 : 1));
    expect(sorted).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
    for (const engine of engines) {
      const counter = await engine.get({ namespace: ns, agentId: "counter", key: "n" });
      expect(counter.value).toEqual({ n: total });
      expect(counter.version).toBe(BigInt(total));
    }
    // Versions of the contended key are one per commit, in commit_ts order, on every engine.
    const history = await collect((engines[2] as Engine).replay(ns, "counter"));
    expect(history.map((e) => e.operations[0]?.version)).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
  });

  it("an idempotency key committed through one engine is a duplicate through another; other content is refused", async () => {
    const [a, b] = (await cluster(2)) as [Engine, Engine];
    const op = { namespace: ns, agentId: "x", key: "k", value: { v: 1 } };
    const operations = [op];
    const first = await a.transact({ operations, idempotencyKey: "req-1" });
    expect(await b.transact({ operations, idempotencyKey: "req-1" })).toEqual({ commitTs: first.commitTs, duplicate: true });
    const reused = await b.transact({ operations: [{ ...op, value: { v: 2 } }], idempotencyKey: "req-1" }).catch((e: unknown) => e);
    expect((reused as EngineError).code).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("a precondition is checked against commits made through other engines", async () => {
    const [a, b] = (await cluster(2)) as [Engine, Engine];
    await a.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 1 } }] });
    const refused = await b
      .transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 2 } }], preconditions: [{ namespace: ns, agentId: "x", key: "k", mustNotExist: true }] })
      .catch((e: unknown) => e);
    expect((refused as EngineError).code).toBe("CONFLICT");
    await b.transact({
      operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 2 } }],
      preconditions: [{ namespace: ns, agentId: "x", key: "k", expectedVersion: 1n }],
    });
  });

  for (const notify of [true, false]) {
    it(`Watch on one engine sees every engine's commits in commit_ts order, no gap, none twice (${notify ? "LISTEN/NOTIFY" : "polling only"})`, async () => {
      const engines = await cluster(3, { notify });
      const watcher = engines[1] as Engine;
      const controller = new AbortController();
      const total = 60;
      const seen: AgentEvent[] = [];
      const watching = (async () => {
        for await (const event of watcher.watch(ns, "shared", { startTs: 1n, signal: controller.signal })) {
          seen.push(event);
          if (seen.length === total) controller.abort();
        }
      })();
      await Promise.all(
        engines.map(async (engine, e) => {
          for (let i = 0; i < total / engines.length; i++) {
            await engine.transact({ operations: [{ namespace: ns, agentId: "shared", key: `from-${e}`, value: { i } }] });
          }
        }),
      );
      await watching;
      expect(seen.map((event) => event.commitTs)).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
      expect(new Set(seen.map((event) => event.operations[0]?.key))).toEqual(new Set(["from-0", "from-1", "from-2"]));
    });
  }

  it("with no watcher, an engine follows the others' commits without reading their events; a later watcher still sees them all", async () => {
    const [a] = (await cluster(1)) as [Engine];
    // A second engine on the same schema whose reads of the event log are counted.
    const kv = await PostgresKv.open({ connectionString: postgres.url, schema: schemas[0] as string });
    let eventReads = 0;
    const counted = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop === "iterator") return (range: Parameters<PostgresKv["iterator"]>[0]) => (eventReads++, target.iterator(range));
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const b = await openSharedEngine(counted);
    opened.push(b);
    const waitFor = async (ts: bigint) => {
      while (b.stats().commitTs < ts) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    for (let i = 0; i < 10; i++) await a.transact({ operations: [{ namespace: ns, agentId: "quiet", key: "k", value: { i } }] });
    await waitFor(10n);
    expect(eventReads).toBe(0);
    // A watcher started now replays what was skipped; one waiting is woken by the next commits.
    const controller = new AbortController();
    const seen: bigint[] = [];
    const watching = (async () => {
      for await (const event of b.watch(ns, "quiet", { startTs: 1n, signal: controller.signal })) {
        seen.push(event.commitTs);
        if (seen.length === 15) controller.abort();
      }
    })();
    while (seen.length < 10) await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 10; i < 15; i++) await a.transact({ operations: [{ namespace: ns, agentId: "quiet", key: "k", value: { i } }] });
    await watching;
    expect(seen).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i + 1)));
    expect(eventReads).toBeGreaterThan(0);
  });

  it("refuses commits when the database went back (acknowledged commits lost, e.g. failover to a lagging replica), reads go on", async () => {
    const [a] = (await cluster(1)) as [Engine];
    const schema = schemas[schemas.length - 1] as string;
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: postgres.url });
    await client.connect();
    try {
      await a.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 1 } }] });
      await client.query(`CREATE TABLE "${schema}".older AS SELECT * FROM "${schema}".kv`);
      await a.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 2 } }] });
      await client.query(`BEGIN; DELETE FROM "${schema}".kv; INSERT INTO "${schema}".kv SELECT * FROM "${schema}".older; COMMIT`);
    } finally {
      await client.end();
    }
    const refused = await a.transact({ operations: [{ namespace: ns, agentId: "x", key: "k", value: { v: 3 } }] }).catch((e: unknown) => e);
    expect((refused as EngineError).code).toBe("CORRUPTION");
    expect((refused as EngineError).message).toContain("lost acknowledged commits");
    expect(a.stats().writable).toBe(false);
    expect((await a.get({ namespace: ns, agentId: "x", key: "k" })).value).toEqual({ v: 1 });
  });
});
