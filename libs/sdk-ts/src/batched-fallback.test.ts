// replay() and watch() against a statehouse.v1 server older than the batched
// streams: a small connect-node server that implements only Replay and Watch
// (ReplayBatches and WatchBatches answer UNIMPLEMENTED, as from an older
// daemon). The SDK falls back to the per-event streams, keeps the same public
// shape, and stops asking for batches on that client.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ReplayEventSchema, StatehouseService, type ReplayEvent as ReplayEventMessage } from "@statehouse/api";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { StatehouseClient } from "./index.js";
import { TRANSPORTS } from "./test-support/transports.js";

const EVENTS: ReplayEventMessage[] = [1n, 2n, 3n].map((ts) =>
  create(ReplayEventSchema, {
    txnId: `t${ts}`,
    commitTs: ts,
    namespace: "default",
    agentId: "old",
    operations: [{ key: "k", value: { n: Number(ts) }, version: ts }],
  }),
);

const calls: string[] = [];

function routes(router: ConnectRouter): void {
  router.service(StatehouseService, {
    async *replay(req) {
      calls.push("Replay");
      yield* EVENTS.filter((e) => req.startTs === undefined || e.commitTs >= req.startTs);
    },
    async *watch(req, ctx) {
      calls.push("Watch");
      yield* EVENTS.filter((e) => req.startTs === undefined || e.commitTs >= req.startTs);
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    },
  });
}

let h2: http2.Http2Server;
let h1: http.Server;
let h2Url: string;
let h1Url: string;

async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  h2 = http2.createServer(connectNodeAdapter({ routes }));
  h1 = http.createServer(connectNodeAdapter({ routes }));
  h2Url = await listen(h2);
  h1Url = await listen(h1);
});

afterAll(async () => {
  await new Promise((resolve) => h2.close(resolve));
  await new Promise((resolve) => h1.close(resolve));
});

describe.each(TRANSPORTS)("$name", (transport) => {
  let client: StatehouseClient;

  beforeEach(() => {
    // A fresh client per test: each one learns about the old server by itself.
    // Connect over HTTP/1.1 and the fetch-based browser entry need HTTP/1.1; the rest HTTP/2.
    const http1 = transport.name.includes("HTTP/1.1") || transport.name.includes("fetch");
    client = transport.create({ url: http1 ? h1Url : h2Url });
  });

  afterEach(async () => {
    await client?.close();
  });

  it("replay falls back to Replay when ReplayBatches is UNIMPLEMENTED, then uses Replay directly", async () => {
    calls.length = 0;
    const seen: bigint[] = [];
    for await (const event of client.replay("old")) seen.push(event.commitTs);
    expect(seen).toEqual([1n, 2n, 3n]);
    const again: bigint[] = [];
    for await (const event of client.replay("old", { startTs: 2n })) again.push(event.commitTs);
    expect(again).toEqual([2n, 3n]);
    expect(calls).toEqual(["Replay", "Replay"]);
  });

  it("watch falls back to Watch; events arrive one at a time", async () => {
    calls.length = 0;
    const seen: bigint[] = [];
    for await (const event of client.watch("old", { startTs: 2n })) {
      seen.push(event.commitTs);
      expect(event.operations[0]).toMatchObject({ key: "k", value: { n: Number(event.commitTs) } });
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([2n, 3n]);
    expect(calls).toEqual(["Watch"]);
  });
});
