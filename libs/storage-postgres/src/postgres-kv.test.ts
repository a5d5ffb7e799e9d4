// The store itself on a real PostgreSQL: versioned migrations (once, under concurrency,
// refusing a newer schema), range reads in the engine's byte order, snapshot iterators, the
// commit lock serialising batches, and announcements in order.
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATIONS } from "./migrations.ts";
import { PostgresKv } from "./postgres-kv.ts";
import { usePostgres } from "./test-support/postgres.ts";

const postgres = usePostgres();
const stores: PostgresKv[] = [];
const schemas: string[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const schema of schemas.splice(0)) await postgres.dropSchema(schema);
});

function freshSchema(): string {
  const schema = postgres.freshSchema();
  schemas.push(schema);
  return schema;
}

async function open(schema: string): Promise<PostgresKv> {
  const store = await PostgresKv.open({ connectionString: postgres.url, schema });
  stores.push(store);
  return store;
}

async function sql<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const b = (text: string): Buffer => Buffer.from(text, "latin1");

describe("PostgresKv", () => {
  it("applies each migration once, even when several daemons start at the same moment", async () => {
    const schema = freshSchema();
    const opened = await Promise.all(Array.from({ length: 4 }, () => open(schema)));
    expect(opened.flatMap((store) => store.migrations.applied).sort()).toEqual(MIGRATIONS.map((m) => m.version));
    const rows = await sql<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect((await open(schema)).migrations.applied).toEqual([]);
  });

  it("refuses a schema migrated by a newer statehoused", async () => {
    const schema = freshSchema();
    await open(schema);
    await sql(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (9999, 'from the future')`);
    await expect(PostgresKv.open({ connectionString: postgres.url, schema })).rejects.toThrow(/migration 9999, newer than this statehoused knows/);
  });

  it("keeps every byte of keys and values exactly: all 256 byte values, quotes, backslashes, braces, empty values", async () => {
    const store = await open(freshSchema());
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const awkward = [all, b(`'"\\{},NULL`), b("\\x41"), Buffer.of(0), b("plain")];
    const entries = awkward.map((key, i) => ({ key: Buffer.concat([b("k"), key]), value: i === 1 ? Buffer.alloc(0) : Buffer.concat([key, key]) }));
    const locked = await store.lock([]);
    await locked.commit(entries.map(({ key, value }) => ({ type: "put", key, value })), null);
    expect(await store.getMany(entries.map((e) => e.key))).toEqual(entries.map((e) => e.value));
    // Read back under the lock (the batch read path) and delete one (the delete path).
    const second = await store.lock(entries.map((e) => e.key));
    expect(second.values).toEqual(entries.map((e) => e.value));
    await second.commit([{ type: "del", key: entries[0]?.key as Buffer }], null);
    expect(await store.getMany([entries[0]?.key as Buffer, entries[2]?.key as Buffer])).toEqual([undefined, entries[2]?.value]);
  });

  it("reads ranges in byte order (not collation order), forward and reverse, with limits and exclusive bounds", async () => {
    const kv = await open(freshSchema());
    const keys = ["\u0000a", "\u0001", "A", "a", "a\u0000", "a\u00ff", "b", "\u00ff"].map(b);
    const locked = await kv.lock([]);
    await locked.commit(keys.map((key, i) => ({ type: "put", key, value: Buffer.of(i) })), null);
    const read = async (range: Parameters<PostgresKv["iterator"]>[0], max = 3): Promise<string[]> => {
      const iterator = kv.iterator(range);
      const out: string[] = [];
      for (;;) {
        const rows = await iterator.next(max);
        if (rows.length === 0) break;
        out.push(...rows.map(([key]) => key.toString("latin1")));
      }
      iterator.close();
      return out;
    };
    expect(await read({})).toEqual(keys.map((key) => key.toString("latin1")));
    expect(await read({ gte: b("a"), lt: b("b") })).toEqual(["a", "a\u0000", "a\u00ff"]);
    expect(await read({ gt: b("a"), lt: b("b") })).toEqual(["a\u0000", "a\u00ff"]);
    expect(await read({ gte: b("A"), reverse: true, limit: 4 })).toEqual(["\u00ff", "b", "a\u00ff", "a\u0000"]);
    expect(await read({ snapshot: true, gte: b("b") })).toEqual(["b", "\u00ff"]);
    expect(await kv.getMany([b("a"), b("missing"), b("\u00ff")])).toEqual([Buffer.of(3), undefined, Buffer.of(7)]);
  });

  it("a snapshot iterator keeps its view while other batches commit; a plain one sees them", async () => {
    const kv = await open(freshSchema());
    const first = await kv.lock([]);
    await first.commit(Array.from({ length: 10 }, (_, i) => ({ type: "put", key: b(`k${i}`), value: Buffer.of(i) })), null);
    const snapshot = kv.iterator({ snapshot: true });
    const plain = kv.iterator({});
    expect((await snapshot.next(5)).length).toBe(5);
    expect((await plain.next(5)).length).toBe(5);
    const second = await kv.lock([]);
    await second.commit([{ type: "del", key: b("k7") }, { type: "put", key: b("k8"), value: Buffer.of(80) }], null);
    const rest = await snapshot.next(100);
    expect(rest.map(([key, value]) => [key.toString(), value[0]])).toEqual([["k5", 5], ["k6", 6], ["k7", 7], ["k8", 8], ["k9", 9]]);
    const live = await plain.next(100);
    expect(live.map(([key, value]) => [key.toString(), value[0]])).toEqual([["k5", 5], ["k6", 6], ["k8", 80], ["k9", 9]]);
    snapshot.close();
    plain.close();
  });

  it("the commit lock serialises batches across stores; a released batch writes nothing; announcements arrive in order", async () => {
    const schema = freshSchema();
    const [a, c] = [await open(schema), await open(schema)];
    const heard: number[] = [];
    c.onCommitted((ts) => heard.push(ts));
    const held = await a.lock([b("x")]);
    let secondGranted = false;
    const second = c.lock([b("x")]).then((batch) => {
      secondGranted = true;
      return batch;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(secondGranted).toBe(false);
    await held.commit([{ type: "put", key: b("x"), value: b("from a") }], 1);
    const granted = await second;
    expect(granted.values).toEqual([b("from a")]);
    await granted.release();
    const third = await a.lock([]);
    await third.commit([{ type: "put", key: b("y"), value: b("y") }], 2);
    while (heard.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heard).toEqual([1, 2]);
  });
});
