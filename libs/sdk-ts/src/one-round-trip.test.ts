// One RPC per transaction, counted by the daemon itself: statehouse_rpc_requests_total
// on /metrics must grow by exactly the Transact (plus one GetState per tx.get) for
// withTransaction, beginTransaction/commit and transact, over every transport.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransactionError, type StatehouseClient } from "./index.js";
import { DaemonProcess } from "@statehouse/test-services";
import { uniqueAgent } from "./test-support/daemon.js";
import { TRANSPORTS } from "./test-support/transports.js";

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await DaemonProcess.start();
});

afterAll(async () => {
  await daemon?.dispose();
});

/** statehouse_rpc_requests_total by RPC, read from the daemon's /metrics. */
async function rpcCounts(): Promise<Map<string, number>> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^statehouse_rpc_requests_total\{rpc="(\w+)"\} (\d+)$/gm)) {
    counts.set(match[1] ?? "", Number(match[2]));
  }
  return counts;
}

/** The RPCs `work` caused, by name (only those that grew). */
async function rpcsOf(work: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await rpcCounts();
  await work();
  const after = await rpcCounts();
  const grown: Record<string, number> = {};
  for (const [rpc, n] of after) if (n > (before.get(rpc) ?? 0)) grown[rpc] = n - (before.get(rpc) ?? 0);
  return grown;
}

describe.each(TRANSPORTS)("$name", (transport) => {
  let client: StatehouseClient;

  beforeAll(() => {
    client = transport.create({ url: daemon.url });
  });

  afterAll(async () => {
    await client?.close();
  });

  it("withTransaction without reads is one Transact; with tx.get it adds only the GetState", async () => {
    const agent = uniqueAgent("one-rpc");
    expect(
      await rpcsOf(() =>
        client.withTransaction((tx) => {
          tx.write(agent, "a", { n: 1 });
          tx.write(agent, "b", { n: 2 });
        }),
      ),
    ).toEqual({ Transact: 1 });
    expect(
      await rpcsOf(() =>
        client.withTransaction(async (tx) => {
          const a = await tx.get(agent, "a");
          tx.write(agent, "a", { n: (a.value?.["n"] as number) + 1 });
        }),
      ),
    ).toEqual({ GetState: 1, Transact: 1 });
    expect(await client.getState(agent, "a")).toMatchObject({ value: { n: 2 }, version: 2n });
  });

  it("beginTransaction/commit is one Transact; abort makes no call", async () => {
    const agent = uniqueAgent("one-rpc-manual");
    expect(
      await rpcsOf(async () => {
        const tx = await client.beginTransaction();
        tx.write(agent, "k", { v: 1 });
        tx.delete(agent, "gone");
        await tx.commit();
      }),
    ).toEqual({ Transact: 1 });
    expect(
      await rpcsOf(async () => {
        const tx = await client.beginTransaction();
        tx.write(agent, "k", { v: 2 });
        await tx.abort();
      }),
    ).toEqual({});
    expect(await client.getState(agent, "k")).toMatchObject({ value: { v: 1 }, version: 1n });
  });

  it("transact(ops) is one Transact for writes and deletes", async () => {
    const agent = uniqueAgent("transact");
    let commitTs = 0n;
    expect(
      await rpcsOf(async () => {
        ({ commitTs } = await client.transact([
          { agentId: agent, key: "a", value: { n: 1 } },
          { agentId: agent, key: "b", delete: true },
        ]));
      }),
    ).toEqual({ Transact: 1 });
    expect(await client.getState(agent, "a")).toMatchObject({ value: { n: 1 }, commitTs });
    expect(await client.getState(agent, "b")).toMatchObject({ exists: false, version: 1n, commitTs });
    await expect(client.transact([{ agentId: agent, key: "c" } as never])).rejects.toThrow(TypeError);
  });

  it("a transaction older than its timeout fails at commit with TXN_EXPIRED and sends nothing", async () => {
    const agent = uniqueAgent("expired-local");
    const tx = await client.beginTransaction({ timeoutMs: 50 });
    tx.write(agent, "k", { v: 1 });
    await new Promise((r) => setTimeout(r, 200));
    let error: unknown;
    expect(
      await rpcsOf(async () => {
        error = await tx.commit().catch((e: unknown) => e);
      }),
    ).toEqual({});
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ code: "TXN_EXPIRED" });
    expect(tx.state).toBe("failed");
    expect((await client.getState(agent, "k")).exists).toBe(false);
  });

  it("replay and watch use the batched streams", async () => {
    const agent = uniqueAgent("batched");
    const { commitTs } = await client.transact([{ agentId: agent, key: "k", value: { v: 1 } }]);
    expect(
      await rpcsOf(async () => {
        const events = [];
        for await (const event of client.replay(agent)) events.push(event.commitTs);
        expect(events).toEqual([commitTs]);
        for await (const event of client.watch(agent, { startTs: commitTs })) {
          expect(event.commitTs).toBe(commitTs);
          break;
        }
      }),
    ).toEqual({ ReplayBatches: 1, WatchBatches: 1 });
  });
});
