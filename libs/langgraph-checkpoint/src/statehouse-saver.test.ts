// StatehouseSaver beyond the official suite (validation.test.ts): one
// transaction per write, LangGraph's own graphs, a daemon SIGKILL between
// interrupt and resume, deletes that span transactions, input over a limit.
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { ERROR, emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import { Statehouse, StatehouseError } from "@statehouse/sdk";
import { DaemonProcess } from "@statehouse/sdk/test-support";
import { afterAll, beforeAll, expect, it } from "vitest";
import { StatehouseSaver } from "./index.js";

let daemon: DaemonProcess;
const clients: Statehouse[] = [];

function saver(namespace: string, options: ConstructorParameters<typeof StatehouseSaver>[1] = {}): StatehouseSaver {
  const client = new Statehouse({ url: daemon.url, namespace });
  clients.push(client);
  return new StatehouseSaver(client, options);
}

function uniqueNamespace(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

beforeAll(async () => {
  daemon = await DaemonProcess.start();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await daemon?.dispose();
});

const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function workflow() {
  return new StateGraph(State)
    .addNode("plan", () => ({ steps: ["plan"] }))
    .addNode("act", () => ({ steps: ["act"] }))
    .addEdge(START, "plan")
    .addEdge("plan", "act")
    .addEdge("act", END);
}

it("put is one transaction: the channel blobs, the checkpoint and the thread index commit together", async () => {
  const s = saver(uniqueNamespace("lg-put"));
  const checkpoint = { ...emptyCheckpoint(), id: uuid6(0), channel_values: { a: 1, b: "two" }, channel_versions: { a: 1, b: 1 } };
  await s.put({ configurable: { thread_id: "t1" } }, checkpoint, { source: "input", step: -1, parents: {} }, { a: 1, b: 1 });
  const [event] = await s.client.lastEvents(s.threadAgent("t1"), 5);
  expect(event?.operations.map((op) => op.key).sort()).toEqual([`blob//a/1`, `blob//b/1`, `checkpoint//${checkpoint.id}`]);
  const [indexEvent] = await s.client.lastEvents(s.layout.indexAgent, 5);
  expect(indexEvent?.txnId).toBe(event?.txnId);
  expect(indexEvent?.operations.map((op) => op.key)).toEqual(["t1"]);
});

it("putWrites is one transaction; a task's regular write is kept on a retry, a special write (ERROR) replaced", async () => {
  const s = saver(uniqueNamespace("lg-writes"));
  const config = await s.put({ configurable: { thread_id: "t1" } }, { ...emptyCheckpoint(), id: uuid6(0) }, { source: "loop", step: 0, parents: {} }, {});
  await s.putWrites(config, [["x", 1], ["y", 2], [ERROR, "first failure"]], "task-a", "~path");
  const events = await s.client.lastEvents(s.threadAgent("t1"), 1);
  expect(events[0]?.operations).toHaveLength(3);
  await s.putWrites(config, [["x", 100], [ERROR, "second failure"]], "task-a", "~path");
  const tuple = await s.getTuple(config);
  expect(tuple?.pendingWrites).toEqual(
    expect.arrayContaining([
      ["task-a", "x", 1],
      ["task-a", "y", 2],
      ["task-a", ERROR, "second failure"],
    ]),
  );
  expect(tuple?.pendingWrites).toHaveLength(3);
});

it("a LangGraph graph interrupted before a node resumes after a daemon SIGKILL, through a new client and saver", async () => {
  const namespace = uniqueNamespace("lg-graph");
  const config = { configurable: { thread_id: "resumable" } };
  const first = workflow().compile({ checkpointer: saver(namespace), interruptBefore: ["act"] });
  expect((await first.invoke({ steps: ["start"] }, config)).steps).toEqual(["start", "plan"]);
  expect((await first.getState(config)).next).toEqual(["act"]);

  await daemon.kill("SIGKILL");
  await daemon.restart();

  const second = workflow().compile({ checkpointer: saver(namespace), interruptBefore: ["act"] });
  expect((await second.getState(config)).next).toEqual(["act"]);
  expect((await second.invoke(null, config)).steps).toEqual(["start", "plan", "act"]);
  const history = [];
  for await (const snapshot of second.getStateHistory(config)) history.push(snapshot.values);
  expect(history[0]).toEqual({ steps: ["start", "plan", "act"] });
  expect(history.at(-1)).toEqual({ steps: [] });
});

it("deleteThread past its batch size takes several transactions and leaves nothing; other threads stay", async () => {
  const s = saver(uniqueNamespace("lg-delete"), { deleteBatchSize: 3 });
  const graph = workflow().compile({ checkpointer: s });
  await graph.invoke({ steps: [] }, { configurable: { thread_id: "gone" } });
  await graph.invoke({ steps: [] }, { configurable: { thread_id: "kept" } });
  expect((await s.client.listKeys(s.threadAgent("gone"))).length).toBeGreaterThan(3);
  await s.deleteThread("gone");
  expect(await s.client.listKeys(s.threadAgent("gone"))).toEqual([]);
  expect(await s.getTuple({ configurable: { thread_id: "gone" } })).toBeUndefined();
  expect(await s.client.listKeys(s.layout.indexAgent)).toEqual(["kept"]);
  const listed = [];
  for await (const tuple of s.list({})) listed.push(tuple.config.configurable?.["thread_id"]);
  expect(new Set(listed)).toEqual(new Set(["kept"]));
});

it("a channel value over the value limit fails with LIMIT_EXCEEDED naming it, and nothing of that checkpoint is stored", async () => {
  const s = saver(uniqueNamespace("lg-limit"));
  const checkpoint = { ...emptyCheckpoint(), id: uuid6(0), channel_values: { small: "ok", big: "x".repeat(2 * 1024 * 1024) }, channel_versions: { small: 1, big: 1 } };
  const error: unknown = await s
    .put({ configurable: { thread_id: "t1" } }, checkpoint, { source: "input", step: -1, parents: {} }, { small: 1, big: 1 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(StatehouseError);
  expect((error as StatehouseError).code).toBe("LIMIT_EXCEEDED");
  expect((error as StatehouseError).message).toMatch(/limit of 1048576/);
  expect(await s.client.listKeys(s.threadAgent("t1"))).toEqual([]);
  expect(await s.getTuple({ configurable: { thread_id: "t1" } })).toBeUndefined();
  expect(await s.client.health()).toBe("ok");
});
