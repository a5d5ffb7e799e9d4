// ReplayBatches / WatchBatches against a real daemon process: batch bounds
// (events and bytes), order across batches, uncompressed batches whatever the
// client accepts, and the per-RPC request counter on /metrics.
import http2 from "node:http2";

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type EventBatch, EventBatchSchema, ReplayRequestSchema, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from "./statehouse-service.js";
import { DaemonProcess } from "@statehouse/test-services";
import { envelope, h2Call } from "./test-support/raw-http.js";
import { allDrivers, collect, type RpcDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const ns = "batches";

let daemon: DaemonProcess;
let rpc: RpcDriver;
let drivers: RpcDriver[];

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_FSYNC_ON_COMMIT: "0" } });
  drivers = allDrivers(daemon.address);
  const h2 = drivers.find((d) => d.name === "connect-h2c");
  if (h2 === undefined) throw new Error("no connect-h2c driver");
  rpc = h2;
});

afterAll(async () => {
  for (const d of drivers) d.close();
  await daemon.dispose();
});

/** Commits `count` one-write transactions for the agent, 64 at a time; returns their commit_ts in order. */
async function commitMany(agentId: string, count: number, value: (i: number) => Record<string, unknown>): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let start = 0; start < count; start += 64) {
    const chunk = Array.from({ length: Math.min(64, count - start) }, (_, j) =>
      rpc.unary(S.transact, { operations: [{ namespace: ns, agentId, key: `k${start + j}`, value: value(start + j) as never }] }),
    );
    for (const r of await Promise.all(chunk)) out.push(r.commitTs);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe("ReplayBatches", () => {
  it("cuts a long history into batches of at most MAX_BATCH_EVENTS, every event once, in order", async () => {
    const agentId = "many";
    const tss = await commitMany(agentId, 2 * MAX_BATCH_EVENTS + 500, (i) => ({ i }));
    const batches = await collect(rpc.stream(S.replayBatches, { namespace: ns, agentId }));
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.every((b) => b.events.length > 0 && b.events.length <= MAX_BATCH_EVENTS)).toBe(true);
    expect(batches.flatMap((b) => b.events.map((e) => e.commitTs))).toEqual(tss);

    const reversed = await collect(rpc.stream(S.replayBatches, { namespace: ns, agentId, reverse: true, limit: 1500 }));
    expect(reversed.flatMap((b) => b.events.map((e) => e.commitTs))).toEqual(tss.slice(-1500).reverse());
  });

  it("keeps a batch near MAX_BATCH_BYTES and sends an event larger than that alone", async () => {
    const agentId = "big";
    const text = "x".repeat(40 * 1024);
    const tss = await commitMany(agentId, 20, (i) => ({ i, text }));
    await rpc.unary(S.transact, {
      operations: [{ namespace: ns, agentId, key: "huge", value: { text: "y".repeat(MAX_BATCH_BYTES + 1024) } as never }],
    });
    const batches = await collect(rpc.stream(S.replayBatches, { namespace: ns, agentId }));
    const sizes = batches.map((b) => toBinary(EventBatchSchema, b).length);
    // 20 events of 40 KiB need at least 4 batches of at most 256 KiB, then the large one.
    expect(batches.length).toBeGreaterThanOrEqual(5);
    for (const size of sizes.slice(0, -1)) expect(size).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    expect(batches.at(-1)?.events.map((e) => e.operations[0]?.key)).toEqual(["huge"]);
    expect(batches.flatMap((b) => b.events.map((e) => e.commitTs)).slice(0, 20)).toEqual(tss);
  });

  it("is sent uncompressed to a client that accepts gzip (Replay's large messages are gzipped)", async () => {
    const agentId = "gzip";
    await commitMany(agentId, 8, (i) => ({ i, text: "z".repeat(4096) }));
    const session = http2.connect(daemon.url);
    try {
      const body = envelope(toBinary(ReplayRequestSchema, create(ReplayRequestSchema, { namespace: ns, agentId })));
      const headers = { "content-type": "application/connect+proto", "connect-protocol-version": "1", "connect-accept-encoding": "gzip" };
      const flagsOf = (res: { body: Buffer }): number[] => {
        const flags: number[] = [];
        for (let at = 0; at + 5 <= res.body.length; at += 5 + res.body.readUInt32BE(at + 1)) flags.push(res.body.readUInt8(at));
        return flags;
      };
      const batched = await h2Call(session, "/statehouse.v1.StatehouseService/ReplayBatches", headers, body);
      expect(batched.status).toBe(200);
      const batchFlags = flagsOf(batched);
      // Data envelopes (flag bit 1 clear is data; 2 marks the end-stream message).
      const data = batchFlags.filter((f) => (f & 2) === 0);
      expect(data.length).toBeGreaterThan(0);
      expect(data.every((f) => (f & 1) === 0)).toBe(true);
      const first = batched.body.subarray(5, 5 + batched.body.readUInt32BE(1));
      expect(fromBinary(EventBatchSchema, first).events.length).toBe(8);

      const single = await h2Call(session, "/statehouse.v1.StatehouseService/Replay", headers, body);
      expect(flagsOf(single).filter((f) => (f & 2) === 0).every((f) => (f & 1) === 1)).toBe(true);
    } finally {
      session.close();
    }
  });
});

describe("WatchBatches", () => {
  it("catches up in batches, then sends live commits as they come, over every protocol", async () => {
    for (const driver of drivers) {
      const agentId = `watch-${driver.name}`;
      const tss = await commitMany(agentId, MAX_BATCH_EVENTS + 10, (i) => ({ i }));
      const controller = new AbortController();
      const it = driver.stream(S.watchBatches, { namespace: ns, agentId, startTs: tss[0] }, { signal: controller.signal })[Symbol.asyncIterator]();
      const seen: bigint[] = [];
      while (seen.length < tss.length) {
        const next: IteratorResult<EventBatch> = await it.next();
        if (next.done === true) throw new Error("WatchBatches ended");
        expect(next.value.events.length).toBeLessThanOrEqual(MAX_BATCH_EVENTS);
        seen.push(...next.value.events.map((e) => e.commitTs));
      }
      expect(seen).toEqual(tss);
      const live = await rpc.unary(S.transact, { operations: [{ namespace: ns, agentId, key: "live", value: { live: true } }] });
      const liveBatch: IteratorResult<EventBatch> = await it.next();
      expect(liveBatch.done === true ? [] : liveBatch.value.events.map((e) => e.commitTs)).toEqual([live.commitTs]);
      controller.abort();
      await it.return?.();
    }
  });
});

describe("statehouse_rpc_requests_total", () => {
  it("counts each statehouse.v1 call once, by RPC", async () => {
    const before = await metric("statehouse_rpc_requests_total", 'rpc="Transact"');
    const beforeBatches = await metric("statehouse_rpc_requests_total", 'rpc="ReplayBatches"');
    await rpc.unary(S.transact, { operations: [{ namespace: ns, agentId: "count", key: "k", value: { n: 1 } }] });
    await rpc.unary(S.transact, { operations: [{ namespace: ns, agentId: "count", key: "k", value: { n: 2 } }] });
    await collect(rpc.stream(S.replayBatches, { namespace: ns, agentId: "count" }));
    expect(await metric("statehouse_rpc_requests_total", 'rpc="Transact"')).toBe(before + 2);
    expect(await metric("statehouse_rpc_requests_total", 'rpc="ReplayBatches"')).toBe(beforeBatches + 1);
  });
});
