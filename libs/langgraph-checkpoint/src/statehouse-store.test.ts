// StatehouseStore against a real daemon, operation by operation beside
// LangGraph's own InMemoryStore (the reference behaviour), plus what only
// Statehouse adds: a batch's writes are one transaction.
import { InMemoryStore, type BaseStore, type Item } from "@langchain/langgraph-checkpoint";
import { uniqueAgent, useTestDaemon } from "@statehouse/sdk/test-support";
import { expect, it } from "vitest";
import { StatehouseStore } from "./index.js";

const daemon = useTestDaemon();

function freshStore(namespace = uniqueAgent("lg-store")): StatehouseStore {
  return new StatehouseStore(daemon.client(), { namespace });
}

const id = (item: Pick<Item, "namespace" | "key">): string => `${item.namespace.join("|")}#${item.key}`;
const plain = (items: Item[]) => items.map((i) => ({ namespace: i.namespace, key: i.key, value: i.value })).sort((a, b) => (id(a) < id(b) ? -1 : 1));
const sortedNs = (ns: string[][]) => ns.map((n) => n.join("|")).sort();

async function fill(store: BaseStore): Promise<void> {
  await store.put(["users", "u1"], "prefs", { theme: "dark", n: 3 });
  await store.put(["users", "u1"], "profile", { name: "Ada", n: 5 });
  await store.put(["users", "u2"], "prefs", { theme: "light", n: 1 });
  await store.put(["usersx"], "k", { n: 9 });
  await store.put(["docs", "d", "e"], "x/y:z", { tags: ["a"], n: 2 });
}

it("get, search (prefix, filter operators, offset/limit) and listNamespaces answer as InMemoryStore does", async () => {
  const ours = freshStore();
  const ref = new InMemoryStore();
  await fill(ours);
  await fill(ref);

  for (const [ns, key] of [[["users", "u1"], "prefs"], [["docs", "d", "e"], "x/y:z"], [["users"], "prefs"], [["nope"], "k"]] as const) {
    const [a, b] = await Promise.all([ours.get([...ns], key), ref.get([...ns], key)]);
    expect(a === null ? null : plain([a])).toEqual(b === null ? null : plain([b]));
  }
  const searches: [string[], Parameters<BaseStore["search"]>[1]][] = [
    [["users"], {}],
    [["users", "u1"], {}],
    [[], { limit: 100 }],
    [["users"], { filter: { theme: "dark" } }],
    [["users"], { filter: { n: { $gt: 2 } } }],
    [[], { filter: { n: { $in: [1, 9] } } }],
    [[], { filter: { n: { $gte: 2, $lt: 5 } } }],
    [[], { filter: { n: { $ne: 3 }, theme: { $nin: ["light"] } } }],
  ];
  for (const [prefix, options] of searches) {
    expect(plain(await ours.search(prefix, options)), JSON.stringify([prefix, options])).toEqual(plain(await ref.search(prefix, options)));
  }
  const page = await ours.search([], { offset: 1, limit: 2 });
  expect(page).toHaveLength(2);
  expect(plain(await ours.search([], { limit: 100 })).map(id)).toEqual(expect.arrayContaining(page.map(id)));

  const listings: Parameters<BaseStore["listNamespaces"]>[0][] = [
    {},
    { prefix: ["users"] },
    { suffix: ["u1"] },
    { prefix: ["docs", "*"] },
    { maxDepth: 1 },
    { prefix: ["users"], maxDepth: 1 },
  ];
  for (const options of listings) {
    expect(sortedNs(await ours.listNamespaces(options)), JSON.stringify(options)).toEqual(sortedNs(await ref.listNamespaces(options)));
  }
  expect(await ours.listNamespaces({ limit: 2, offset: 1 })).toHaveLength(2);

  await Promise.all([ours.delete(["users", "u2"], "prefs"), ref.delete(["users", "u2"], "prefs")]);
  expect(await ours.get(["users", "u2"], "prefs")).toBeNull();
  // InMemoryStore keeps listing a namespace whose last item was deleted (its
  // map entry stays); a namespace here exists while it holds an item, as in
  // the Postgres store.
  expect(sortedNs(await ref.listNamespaces())).toContain("users|u2");
  expect(sortedNs(await ours.listNamespaces())).toEqual(sortedNs(await ref.listNamespaces()).filter((ns) => ns !== "users|u2"));
});

it("an update keeps createdAt and moves updatedAt; values are stored as JSON (a Date becomes its ISO string)", async () => {
  const store = freshStore();
  await store.put(["a"], "k", { v: 1 });
  const first = await store.get(["a"], "k");
  await new Promise((r) => setTimeout(r, 5));
  const when = new Date("2026-01-02T03:04:05.000Z");
  await store.put(["a"], "k", { v: 2, when, gone: undefined });
  const second = await store.get(["a"], "k");
  expect(second?.value).toEqual({ v: 2, when: when.toISOString() });
  expect(second?.createdAt).toEqual(first?.createdAt);
  expect(second?.updatedAt.getTime()).toBeGreaterThan(first?.updatedAt.getTime() ?? Infinity);
});

it("a batch's puts and deletes commit in one transaction, and its reads see the store from before the batch", async () => {
  const namespace = uniqueAgent("lg-store");
  const store = freshStore(namespace);
  await store.put(["m"], "old", { v: 0 });
  const [before, , ,] = await store.batch([
    { namespace: ["m"], key: "old" },
    { namespace: ["m"], key: "a", value: { v: 1 } },
    { namespace: ["m"], key: "b", value: { v: 2 } },
    { namespace: ["m"], key: "old", value: null },
  ]);
  expect(before?.value).toEqual({ v: 0 });
  const [event] = await store.client.lastEvents(store.agentId, 1, { namespace });
  expect(event?.operations.map((op) => [op.key, op.value === null ? "deleted" : "written"]).sort()).toEqual([
    ["m/:a", "written"],
    ["m/:b", "written"],
    ["m/:old", "deleted"],
  ]);
  expect(plain(await store.search(["m"])).map((i) => i.key)).toEqual(["a", "b"]);
});
