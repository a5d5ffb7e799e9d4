// A commit refused because the daemon's disk is full is a TransactionError with code
// STORAGE_FULL (as in the Python SDK), and withTransaction does not retry it. A real full
// disk needs a tmpfs (e2e/src/suites/disk-full.e2e.ts); here a small connect-node server
// answers Transact the way the daemon does then: RESOURCE_EXHAUSTED with the
// StatehouseError detail STORAGE_FULL.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";

import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ErrorCode, StatehouseErrorSchema, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TransactionError, type StatehouseClient } from "./index.js";
import { TRANSPORTS } from "./test-support/transports.js";

let transacts = 0;

function routes(router: ConnectRouter): void {
  router.service(StatehouseService, {
    transact() {
      transacts++;
      throw new ConnectError("disk full", Code.ResourceExhausted, undefined, [
        { desc: StatehouseErrorSchema, value: { code: ErrorCode.STORAGE_FULL, message: "the disk is full", details: { path: "/data" } } },
      ]);
    },
  });
}

let h2: http2.Http2Server;
let h1: http.Server;
const urls = { h1: "", h2: "" };

async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  h2 = http2.createServer(connectNodeAdapter({ routes }));
  h1 = http.createServer(connectNodeAdapter({ routes }));
  urls.h2 = await listen(h2);
  urls.h1 = await listen(h1);
});

afterAll(async () => {
  await new Promise((resolve) => h2.close(resolve));
  await new Promise((resolve) => h1.close(resolve));
});

describe.each(TRANSPORTS)("$name", (transport) => {
  let client: StatehouseClient;

  beforeAll(() => {
    const http1 = transport.name.includes("HTTP/1.1") || transport.name.includes("fetch");
    client = transport.create({ url: http1 ? urls.h1 : urls.h2 });
  });

  afterAll(async () => {
    await client?.close();
  });

  it("commit, transact and withTransaction throw TransactionError STORAGE_FULL, not retried", async () => {
    const tx = await client.beginTransaction();
    tx.write("a", "k", { v: 1 });
    const error = await tx.commit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ code: "STORAGE_FULL", message: "the disk is full", details: { path: "/data" }, status: "RESOURCE_EXHAUSTED" });
    expect(tx.state).toBe("failed");
    expect(tx.commitOutcomeUnknown).toBe(false);

    await expect(client.transact([{ agentId: "a", key: "k", value: { v: 1 } }])).rejects.toMatchObject({ name: "TransactionError", code: "STORAGE_FULL" });
    const before = transacts;
    await expect(client.withTransaction((t) => t.write("a", "k", { v: 1 }), { retries: 3, backoffMs: 1 })).rejects.toMatchObject({
      name: "TransactionError",
      code: "STORAGE_FULL",
    });
    expect(transacts - before).toBe(1);
  });
});
