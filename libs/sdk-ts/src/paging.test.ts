// Paged reads against the real daemon, through a transport that records every request:
// listKeys sends its prefix to the daemon, every page is one round trip, iterators stop
// fetching when the caller stops, lastEvents reads only the last events.
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatehouseClient } from "./core/statehouse-client.js";
import { testDaemonUrl, uniqueAgent } from "./test-support/daemon.js";

interface Recorded {
  method: string;
  input: Record<string, unknown>;
}

/** A real Connect transport that records the method and request of each call. */
class RecordingClient extends StatehouseClient {
  static create(url: string): { client: RecordingClient; calls: Recorded[] } {
    const calls: Recorded[] = [];
    const client = new RecordingClient(url, (baseUrl) => {
      const inner = createConnectTransport({ baseUrl, httpVersion: "1.1" });
      return {
        unary: (method, ...rest) => {
          calls.push({ method: method.name, input: rest[3] as Record<string, unknown> });
          return inner.unary(method, ...rest);
        },
        stream: (method, signal, timeoutMs, header, input, contextValues) => {
          const recorded = (async function* () {
            for await (const message of input) {
              calls.push({ method: method.name, input: message as Record<string, unknown> });
              yield message;
            }
          })();
          return inner.stream(method, signal, timeoutMs, header, recorded, contextValues);
        },
      } satisfies Transport;
    });
    return { client, calls };
  }

  private constructor(url: string, createTransport: (url: string) => Transport) {
    super({ url }, createTransport);
  }
}

let daemon: { url: string; dispose: () => Promise<void> };
let client: RecordingClient;
let calls: Recorded[];
const agent = uniqueAgent("paging");
const aKeys = Array.from({ length: 25 }, (_, i) => `a/${String(i).padStart(2, "0")}`);
const deleted = new Set(aKeys.filter((_, i) => i % 5 === 3));
const liveA = aKeys.filter((k) => !deleted.has(k));
let writtenAt = 0n;
const commits: bigint[] = [];

beforeAll(async () => {
  daemon = await testDaemonUrl();
  ({ client, calls } = RecordingClient.create(daemon.url));
  const tx = await client.beginTransaction();
  for (const key of [...aKeys, "tool/x", "tool/y"]) tx.write(agent, key, { key });
  writtenAt = await tx.commit();
  commits.push(writtenAt);
  const del = await client.beginTransaction();
  for (const key of deleted) del.delete(agent, key);
  commits.push(await del.commit());
  for (let i = 0; i < 4; i++) {
    const t = await client.beginTransaction();
    t.write(agent, `e${i}`, { i });
    commits.push(await t.commit());
  }
});

afterAll(async () => {
  await client?.close();
  await daemon?.dispose();
});

/** The calls `run` made of `method` (or of its batched form, e.g. ReplayBatches for Replay). */
function callsOf(method: string, run: () => Promise<unknown>): Promise<Recorded[]> {
  const from = calls.length;
  return run().then(() => calls.slice(from).filter((c) => c.method === method || c.method === `${method}Batches`));
}

describe("paged reads", () => {
  it("listKeys sends the prefix to the daemon and follows the pages to the end", async () => {
    let keys: string[] = [];
    const prefixed = await callsOf("ListKeys", async () => {
      keys = await client.listKeys(agent, { prefix: "tool/", pageSize: 1 });
    });
    expect(keys).toEqual(["tool/x", "tool/y"]);
    // One key per page, two pages: the daemon filtered (with client-side filtering it would be 27 pages).
    expect(prefixed.map((c) => c.input["prefix"])).toEqual(["tool/", "tool/"]);
    expect(prefixed.map((c) => c.input["pageSize"])).toEqual([1, 1]);
    expect(prefixed[0]?.input["pageToken"]).toBe("");
    expect(prefixed[1]?.input["pageToken"]).not.toBe("");

    const all = await callsOf("ListKeys", async () => {
      keys = await client.listKeys(agent, { pageSize: 7 });
    });
    const expected = [...liveA, "e0", "e1", "e2", "e3", "tool/x", "tool/y"].sort();
    expect(keys).toEqual(expected);
    expect(all).toHaveLength(Math.ceil(expected.length / 7));
    // Without pageSize the SDK still pages (asks for the daemon's cap), never the unpaged form.
    const defaults = await callsOf("ListKeys", () => client.listKeys(agent));
    expect(defaults.map((c) => c.input["pageSize"])).toEqual([10_000]);
  });

  it("iterateKeys and iterateScan fetch only the pages the caller consumes", async () => {
    const seen: string[] = [];
    const fetched = await callsOf("ListKeys", async () => {
      for await (const key of client.iterateKeys(agent, { prefix: "a/", pageSize: 2 })) {
        seen.push(key);
        if (seen.length === 3) break;
      }
    });
    expect(seen).toEqual(liveA.slice(0, 3));
    expect(fetched).toHaveLength(2);
    const entries = [];
    for await (const entry of client.iterateScan(agent, "a/", { pageSize: 4 })) entries.push(entry);
    expect(entries.map((e) => e.key)).toEqual(liveA);
    expect(entries[0]).toEqual({ key: "a/00", value: { key: "a/00" }, version: 1n, commitTs: writtenAt });
    expect(await client.scanPrefix(agent, "a/", { pageSize: 3 })).toEqual(entries);
    expect(() => client.iterateScan(agent, "a/", { pageSize: 0 })).toThrow(TypeError);
  });

  it("getAgentStateAsOf pages through the state at a commit_ts", async () => {
    const pages = await callsOf("GetStateAsOf", async () => {
      const asOf = await client.getAgentStateAsOf(agent, writtenAt, { pageSize: 10 });
      expect(asOf.map((e) => e.key)).toEqual([...aKeys, "tool/x", "tool/y"]);
    });
    expect(pages).toHaveLength(3);
    const later = await client.getAgentStateAsOf(agent, commits[1] as bigint, { pageSize: 4 });
    expect(later.map((e) => e.key)).toEqual([...liveA, "tool/x", "tool/y"]);
  });

  it("lastEvents asks the daemon for the last N events newest first and returns them oldest first", async () => {
    let last: Awaited<ReturnType<StatehouseClient["lastEvents"]>> = [];
    const streams = await callsOf("Replay", async () => {
      last = await client.lastEvents(agent, 3);
    });
    expect(last.map((e) => e.commitTs)).toEqual(commits.slice(-3));
    expect(last[2]?.operations).toEqual([{ key: "e3", value: { i: 3 }, version: 1n }]);
    expect(streams.map((c) => [c.input["limit"], c.input["reverse"]])).toEqual([[3, true]]);
    expect((await client.lastEvents(agent, 100)).map((e) => e.commitTs)).toEqual(commits);
    expect(await client.lastEvents(agent, 0)).toEqual([]);
    const newestFirst = [];
    for await (const event of client.replay(agent, { limit: 2, reverse: true })) newestFirst.push(event.commitTs);
    expect(newestFirst).toEqual(commits.slice(-2).reverse());
  });

  it("listAgents and listNamespaces page through what the daemon holds, sending the prefix", async () => {
    const ns = `${agent}-ns`;
    for (const id of ["x1", "x2", "x3"]) await client.transact([{ agentId: id, key: "k", value: { id } }], { namespace: ns });
    await client.transact([{ agentId: "x2", key: "k", delete: true }], { namespace: ns });
    let agents: Awaited<ReturnType<StatehouseClient["listAgents"]>> = [];
    const pages = await callsOf("ListAgents", async () => {
      agents = await client.listAgents({ namespace: ns, prefix: "x", pageSize: 2 });
    });
    expect(agents.map((a) => [a.agentId, a.keyCount])).toEqual([["x1", 1], ["x2", 0], ["x3", 1]]);
    expect(agents[0]?.namespace).toBe(ns);
    expect(agents[0]?.lastCommittedAt).toBeInstanceOf(Date);
    expect(agents[1]?.lastCommitTs).toBeGreaterThan(agents[2]?.lastCommitTs ?? 0n);
    expect(pages.map((c) => [c.input["prefix"], c.input["pageSize"]])).toEqual([["x", 2], ["x", 2]]);
    const own = await client.listAgents({ prefix: agent });
    expect(own.map((a) => a.agentId)).toEqual([agent]);
    expect(await client.listNamespaces({ prefix: ns })).toEqual([ns]);
    const all = await client.listNamespaces({ pageSize: 1 });
    expect(all).toContain(ns);
    expect(all).toContain("default");
    expect(() => client.iterateAgents({ pageSize: 0 })).toThrow(TypeError);
  });
});
