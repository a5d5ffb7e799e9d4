// The engine proxy against the engine itself (in memory), over a real
// MessageChannel: same answers, errors with their code and details, one
// message per event-loop turn each way, streams with backpressure and
// cancellation. A Worker test at the end sends the same calls from another
// thread (structured clone of every value type the RPCs use).
import { once } from "node:events";
import { MessageChannel, Worker } from "node:worker_threads";
import { EngineError, openEngine, type AgentEvent, type Engine } from "@statehouse/engine";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { engineProxy, serveEngine, type EngineProxy } from "./engine-proxy.js";
import { errorFromWire, errorToWire, type ChannelServer } from "./port-channel.js";

const ref = (key: string) => ({ namespace: "ns", agentId: "a1", key });

let engine: Engine;
let server: ChannelServer;
let proxy: EngineProxy;
let channel: MessageChannel;

async function openPair(window?: number): Promise<void> {
  engine = await openEngine({ inMemory: true });
  channel = new MessageChannel();
  server = serveEngine(engine, channel.port1);
  proxy = engineProxy(channel.port2, engine.recovery, window === undefined ? {} : { window });
}

beforeEach(async () => {
  await openPair();
});

afterEach(async () => {
  channel.port1.close();
  await engine.close();
});

async function commitN(n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await engine.transact({ operations: [{ ...ref(`k${i}`), value: { i } }], preconditions: [] });
}

/** Resolves after `turns` event-loop turns. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("unary calls", () => {
  it("answer as the engine does, synchronous calls included", async () => {
    const txnId = await proxy.begin({ timeoutMs: 5000 });
    expect(typeof txnId).toBe("string");
    await proxy.stageWrite(txnId, ref("x"), { n: 1, nested: { list: [1, "two", null, true] } });
    await proxy.stageDelete(txnId, ref("gone"));
    const committed = await proxy.commit(txnId);
    expect(committed.commitTs).toBe(1n);
    expect(await proxy.get(ref("x"))).toEqual(await engine.get(ref("x")));
    expect(await proxy.get(ref("x"))).toEqual({ value: { n: 1, nested: { list: [1, "two", null, true] } }, version: 1n, commitTs: 1n, exists: true });
    const result = await proxy.transact({ operations: [{ ...ref("y"), value: { n: 2 } }], preconditions: [], idempotencyKey: "k1" });
    expect(result).toEqual({ commitTs: 2n, duplicate: false });
    expect(await proxy.transact({ operations: [{ ...ref("y"), value: { n: 2 } }], preconditions: [], idempotencyKey: "k1" })).toEqual({ commitTs: 2n, duplicate: true });
    expect(await proxy.commitTs()).toBe(2n);
    expect((await proxy.stats()).commitTs).toBe(2n);
    expect(await proxy.listKeysPage("ns", "a1", {})).toEqual(await engine.listKeysPage("ns", "a1", {}));
    expect(await proxy.scanPrefixPage("ns", "a1", "", {})).toEqual(await engine.scanPrefixPage("ns", "a1", "", {}));
    expect(await proxy.listRetention()).toEqual(engine.listRetention());
    expect(server.pending).toBe(0);
  });

  it("reject with an EngineError that keeps its code and details", async () => {
    await proxy.transact({ operations: [{ ...ref("c"), value: { v: 1 } }], preconditions: [] });
    const conflict = await proxy.transact({ operations: [{ ...ref("c"), value: { v: 2 } }], preconditions: [{ ...ref("c"), expectedVersion: 7n }] }).catch((e: unknown) => e);
    const direct = await engine.transact({ operations: [{ ...ref("c"), value: { v: 2 } }], preconditions: [{ ...ref("c"), expectedVersion: 7n }] }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(EngineError);
    expect(direct).toBeInstanceOf(EngineError);
    const [a, b] = [conflict as EngineError, direct as EngineError];
    expect({ code: a.code, message: a.message, details: a.details, name: a.name }).toEqual({ code: b.code, message: b.message, details: b.details, name: b.name });
    expect(a.code).toBe("CONFLICT");
    // A synchronous throw of the engine (unknown transaction) is a rejection here.
    await expect(proxy.stageWrite("no-such-txn", ref("x"), { v: 1 })).rejects.toMatchObject({ name: "EngineError", code: "TXN_NOT_FOUND" });
    // Programmer misuse stays a TypeError.
    await expect(proxy.get(null as never)).rejects.toBeInstanceOf(TypeError);
  });

  it("send the calls of one event-loop turn in one message, and answer them in one", async () => {
    await commitN(3);
    const sentBefore = proxy.channel.sent;
    const receivedBefore = server.received;
    const repliesBefore = server.sent;
    const reads = await Promise.all(Array.from({ length: 64 }, (_, i) => proxy.get(ref(`k${i % 3}`))));
    expect(reads.map((r) => r.version)).toEqual(Array.from({ length: 64 }, () => 1n));
    expect(proxy.channel.sent - sentBefore).toBe(1);
    expect(server.received - receivedBefore).toBe(1);
    expect(server.sent - repliesBefore).toBe(1);
    // 64 commits of one turn: one message there, and the engine's group commit answers them together.
    const commits = await Promise.all(Array.from({ length: 64 }, (_, i) => proxy.transact({ operations: [{ ...ref(`t${i}`), value: { i } }], preconditions: [] })));
    expect(new Set(commits.map((c) => c.commitTs)).size).toBe(64);
    expect(proxy.channel.sent - sentBefore).toBe(2);
  });

  it("error objects cross as their kind", () => {
    const engineError = errorFromWire(errorToWire(new EngineError("LIMIT_EXCEEDED", "too big", { details: { limit: "max_value_bytes" } })));
    expect(engineError).toBeInstanceOf(EngineError);
    expect(engineError).toMatchObject({ code: "LIMIT_EXCEEDED", message: "too big", details: { limit: "max_value_bytes" } });
    expect(errorFromWire(errorToWire(new TypeError("bad")))).toBeInstanceOf(TypeError);
    const range = errorFromWire(errorToWire(new RangeError("out")));
    expect({ name: range.name, message: range.message }).toEqual({ name: "RangeError", message: "out" });
    expect(errorFromWire(errorToWire("plain")).message).toBe("plain");
  });
});

describe("streams", () => {
  it("replay yields the engine's events in order, with its options", async () => {
    await commitN(20);
    const collect = async (events: AsyncIterable<AgentEvent>): Promise<AgentEvent[]> => {
      const out: AgentEvent[] = [];
      for await (const e of events) out.push(e);
      return out;
    };
    expect(await collect(proxy.replay("ns", "a1"))).toEqual(await collect(engine.replay("ns", "a1")));
    const options = { startTs: 3n, endTs: 15n, limit: 5, reverse: true };
    const some = await collect(proxy.replay("ns", "a1", options));
    expect(some).toEqual(await collect(engine.replay("ns", "a1", options)));
    expect(some.map((e) => e.commitTs)).toEqual([15n, 14n, 13n, 12n, 11n]);
    expect(server.openStreams).toBe(0);
  });

  it("a replay failing in the engine fails with the engine's error", async () => {
    const events = proxy.replay("ns", "a1", { limit: -1 });
    const error = await (async () => {
      for await (const _ of events) void _;
    })().catch((e: unknown) => e);
    const direct = await (async () => {
      for await (const _ of engine.replay("ns", "a1", { limit: -1 })) void _;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf((direct as Error).constructor);
    expect((error as Error).message).toBe((direct as Error).message);
    expect(server.openStreams).toBe(0);
  });

  it("reads at most one window ahead of a slow consumer (backpressure)", async () => {
    channel.port1.close();
    await engine.close();
    await openPair(16);
    await commitN(200);
    let served = 0;
    // Count what the serving side pulled from the engine: wrap the engine's replay.
    const original = engine.replay.bind(engine);
    engine.replay = (namespace, agentId, options) => ({
      async *[Symbol.asyncIterator]() {
        for await (const e of original(namespace, agentId, options)) {
          served += 1;
          yield e;
        }
      },
    });
    let consumed = 0;
    for await (const _ of proxy.replay("ns", "a1")) {
      consumed += 1;
      await turns(3);
      expect(served - consumed).toBeLessThanOrEqual(16);
      if (consumed === 100) break;
    }
    await turns(3);
    expect(served).toBeLessThanOrEqual(100 + 16);
    expect(server.openStreams).toBe(0);
  });

  it("a watch follows live commits and is cancelled on the engine's side when the consumer stops", async () => {
    await commitN(2);
    const seen: bigint[] = [];
    const watching = (async () => {
      for await (const e of proxy.watch("ns", "a1", { startTs: 1n })) {
        seen.push(e.commitTs);
        if (seen.length === 4) break;
      }
    })();
    await turns(5);
    expect(server.openStreams).toBe(1);
    await commitN(3, 10);
    await watching;
    expect(seen).toEqual([1n, 2n, 3n, 4n]);
    await turns(3);
    expect(server.openStreams).toBe(0);
    expect(engine.stats().watchersWaiting ?? 0).toBe(0);
  });

  it("a watch ends when the consumer's signal aborts, and the engine's side stops", async () => {
    const controller = new AbortController();
    const seen: bigint[] = [];
    const watching = (async () => {
      for await (const e of proxy.watch("ns", "a1", { signal: controller.signal })) seen.push(e.commitTs);
    })();
    await turns(5);
    await commitN(1);
    await turns(5);
    controller.abort();
    await watching;
    expect(seen).toEqual([1n]);
    await turns(3);
    expect(server.openStreams).toBe(0);
  });

  it("closeStreams ends every open stream for its consumer", async () => {
    const watching = (async () => {
      const out: bigint[] = [];
      for await (const e of proxy.watch("ns", "a1")) out.push(e.commitTs);
      return out;
    })();
    await turns(5);
    expect(server.openStreams).toBe(1);
    server.closeStreams();
    expect(await watching).toEqual([]);
  });
});

describe("across threads", () => {
  it("a worker thread's calls reach the engine and come back whole", async () => {
    const { port1, port2 } = new MessageChannel();
    const served = serveEngine(engine, port1);
    // The worker sends the raw frames the proxy would (it cannot import TypeScript sources).
    const worker = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       const port = workerData.port;
       const replies = [];
       port.on("message", (frames) => {
         replies.push(...frames);
         // Calls of one message run concurrently: the read goes once the commit is answered.
         if (replies.length === 2) port.postMessage([[0, 3, "get", [{ namespace: "ns", agentId: "a1", key: "w" }]]]);
         if (replies.length === 3) { parentPort.postMessage(replies); port.close(); }
       });
       port.postMessage([
         [0, 1, "transact", [{ operations: [{ namespace: "ns", agentId: "a1", key: "w", value: { big: 1, s: "é" } }], preconditions: [] }]],
         [0, 2, "stageWrite", ["no-such-txn", { namespace: "ns", agentId: "a1", key: "w" }, { v: 1 }]],
       ]);`,
      { eval: true, workerData: { port: port2 }, transferList: [port2] },
    );
    const [replies] = (await once(worker, "message")) as [unknown[][]];
    await worker.terminate();
    port1.close();
    const byId = new Map(replies.map((f) => [f[1], f]));
    expect(byId.get(1)).toEqual([0, 1, { commitTs: 1n, duplicate: false }]);
    expect(byId.get(2)?.[0]).toBe(1);
    expect(errorFromWire(byId.get(2)?.[2] as never)).toMatchObject({ code: "TXN_NOT_FOUND" });
    expect(byId.get(3)).toEqual([0, 3, { value: { big: 1, s: "é" }, version: 1n, commitTs: 1n, exists: true }]);
    expect(served.received).toBe(2);
  });
});
