// ListNamespaces, ListAgents and GetDaemonStatus against the real daemon (RocksDB): pages
// capped by max_page_entries, tokens bound to their request, key counts, last commit times;
// the status's commit_ts and recovery report, also after a restart.
import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ErrorCode, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { failure, GrpcJsDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;

let daemon: DaemonProcess;
let rpc: GrpcJsDriver;
const before = Date.now();

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_MAX_PAGE_ENTRIES: "3" } });
  rpc = new GrpcJsDriver(daemon.address);
  for (const ns of ["cat-b", "cat-a", "cat-c", "cat-d", "other"]) {
    await rpc.unary(S.transact, { operations: [{ namespace: ns, agentId: "a", key: "k", value: { n: 1 } }] });
  }
  const operations = Array.from({ length: 250 }, (_, i) => ({ namespace: "cat-a", agentId: "big", key: `k${i}`, value: { i } }));
  await rpc.unary(S.transact, { operations });
  await rpc.unary(S.transact, { operations: [{ namespace: "cat-a", agentId: "big", key: "k0", delete: true }] });
  for (const agentId of ["b1", "b2", "b3", "b4"]) await rpc.unary(S.transact, { operations: [{ namespace: "cat-a", agentId, key: "x", value: {} }] });
}, 60_000);

afterAll(async () => {
  rpc.close();
  await daemon.dispose();
});

describe("ListNamespaces", () => {
  it("pages through every namespace in byte order, at most max_page_entries a page", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await rpc.unary(S.listNamespaces, { pageSize: 100, pageToken });
      expect(page.namespaces.length).toBeLessThanOrEqual(3);
      seen.push(...page.namespaces.map((n) => n.namespace));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["cat-a", "cat-b", "cat-c", "cat-d", "other"]);
  });

  it("filters by prefix and refuses a token from another request", async () => {
    const page = await rpc.unary(S.listNamespaces, { prefix: "cat-", pageSize: 2 });
    expect(page.namespaces.map((n) => n.namespace)).toEqual(["cat-a", "cat-b"]);
    const next = await rpc.unary(S.listNamespaces, { prefix: "cat-", pageSize: 2, pageToken: page.nextPageToken });
    expect(next.namespaces.map((n) => n.namespace)).toEqual(["cat-c", "cat-d"]);
    const error = await failure(rpc.unary(S.listNamespaces, { prefix: "oth", pageToken: page.nextPageToken }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.detail?.code).toBe(ErrorCode.INVALID_REQUEST);
    expect(error.message).toContain("page_token");
  });
});

describe("ListAgents", () => {
  it("answers key counts (deleted keys excluded) and the last commit", async () => {
    const page = await rpc.unary(S.listAgents, { namespace: "cat-a", prefix: "big" });
    expect(page.nextPageToken).toBe("");
    expect(page.agents).toHaveLength(1);
    const big = page.agents[0];
    expect(big?.agentId).toBe("big");
    expect(big?.namespace).toBe("cat-a");
    expect(big?.keyCount).toBe(249n);
    expect(big?.lastCommitTs).toBe(7n);
    const at = big?.lastCommittedAt === undefined ? 0 : timestampMs(big.lastCommittedAt);
    expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it("pages a namespace's agents, page_size 0 meaning the capped default", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await rpc.unary(S.listAgents, { namespace: "cat-a", pageToken });
      expect(page.agents.length).toBeLessThanOrEqual(3);
      seen.push(...page.agents.map((a) => a.agentId));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(["a", "b1", "b2", "b3", "b4", "big"]);
  });

  it("reads the default namespace for an empty one, as every other RPC does", async () => {
    await rpc.unary(S.transact, { operations: [{ namespace: "default", agentId: "d", key: "k", value: {} }] });
    const page = await rpc.unary(S.listAgents, { namespace: "" });
    expect(page.agents.map((a) => [a.namespace, a.agentId])).toEqual([["default", "d"]]);
  });

  it("refuses a prefix over max_key_bytes with LIMIT_EXCEEDED naming the limit", async () => {
    const error = await failure(rpc.unary(S.listAgents, { namespace: "cat-a", prefix: "p".repeat(5000) }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.message).toContain("max_key_bytes");
  });
});

describe("GetDaemonStatus", () => {
  it("answers version, commit_ts, counters and the recovery report of this start", async () => {
    const status = await rpc.unary(S.getDaemonStatus, {});
    const head = await rpc.unary(S.transact, { operations: [{ namespace: "cat-z", agentId: "s", key: "k", value: {} }] });
    const after = await rpc.unary(S.getDaemonStatus, {});
    expect(after.commitTs).toBe(head.commitTs);
    expect(after.committedTransactions).toBe(status.committedTransactions + 1n);
    expect(after.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(after.writable).toBe(true);
    expect(after.rssBytes).toBeGreaterThan(1024n * 1024n);
    expect(after.recovery?.storage).toBe("rocksdb");
    expect(after.recovery?.commitTs).toBe(0n);
    expect(after.startedAt === undefined ? 0 : timestampMs(after.startedAt)).toBeGreaterThanOrEqual(before - 1000);
  });

  it("reports what recovery replayed after a SIGKILL", async () => {
    const head = (await rpc.unary(S.getDaemonStatus, {})).commitTs;
    rpc.close();
    await daemon.stop("SIGKILL");
    const restarted = await DaemonProcess.start({ dataDir: daemon.dataDir });
    rpc = new GrpcJsDriver(restarted.address);
    const status = await rpc.unary(S.getDaemonStatus, {}).finally(() => restarted.dispose());
    expect(status.commitTs).toBe(head);
    expect(status.recovery?.commitTs).toBe(head);
    expect(Number(status.recovery?.eventsReplayed ?? 0n) + Number(status.recovery?.snapshotTs ?? 0n)).toBeGreaterThanOrEqual(Number(head));
  });
});
