// Pages of ListKeys, ScanPrefix and GetStateAsOf, and Replay limit/reverse, against the real
// daemon (RocksDB): page sizes capped by the limits, byte budgets, tokens bound to their
// request, and old clients (no paging fields) still getting the complete answer.
import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ErrorCode, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DaemonProcess } from "@statehouse/test-services";
import { collect, ConnectDriver, failure, GrpcJsDriver, type RpcDriver } from "./test-support/rpc-drivers.js";

const S = StatehouseService.method;
const ns = "paging";
const KEYS = 50_000;
const BIG_VALUE = 100 * 1024;

let daemon: DaemonProcess;
let drivers: RpcDriver[];

beforeAll(async () => {
  daemon = await DaemonProcess.start({
    env: {
      STATEHOUSE_MAX_UNPAGED_BYTES: String(1024 * 1024),
      STATEHOUSE_MAX_PAGE_BYTES: String(256 * 1024),
      STATEHOUSE_MAX_PAGE_ENTRIES: "1000",
      STATEHOUSE_MAX_PAGE_KEYS: "10000",
    },
  });
  drivers = [new GrpcJsDriver(daemon.address), new ConnectDriver("connect-h2c", createConnectTransport({ baseUrl: daemon.url, httpVersion: "2" }))];
  const keys = Array.from({ length: KEYS }, (_, i) => `k${String(i).padStart(5, "0")}`);
  for (let i = 0; i < KEYS; i += 10_000) {
    const operations = keys.slice(i, i + 10_000).map((key) => ({ namespace: ns, agentId: "huge", key, value: { n: Number(key.slice(1)) } }));
    await drivers[0]?.unary(S.transact, { operations });
  }
  // Tombstones inside the range: every key ending in 7 of the first 10 000.
  await drivers[0]?.unary(S.transact, { operations: keys.slice(0, 10_000).filter((k) => k.endsWith("7")).map((key) => ({ namespace: ns, agentId: "huge", key, delete: true })) });
  const big = Array.from({ length: 20 }, (_, i) => ({ namespace: ns, agentId: "big", key: `b${String(i).padStart(2, "0")}`, value: { s: "x".repeat(BIG_VALUE) } }));
  await drivers[0]?.unary(S.transact, { operations: big });
}, 120_000);

afterAll(async () => {
  for (const d of drivers) d.close();
  await daemon.dispose();
});

const liveHuge = (): string[] =>
  Array.from({ length: KEYS }, (_, i) => `k${String(i).padStart(5, "0")}`).filter((k, i) => i >= 10_000 || !k.endsWith("7"));

describe.each(["grpc-js", "connect-h2c"])("over %s", (name) => {
  const rpc = (): RpcDriver => drivers.find((d) => d.name === name) as RpcDriver;

  it("lists a 50k-key agent in pages of at most max_page_keys, each token leading to the next page", async () => {
    const pages: string[][] = [];
    let pageToken = "";
    do {
      const page = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", pageSize: 100_000, pageToken });
      pages.push(page.keys);
      pageToken = page.nextPageToken;
      expect(pages.length).toBeLessThan(20);
    } while (pageToken !== "");
    const live = liveHuge();
    // 49 000 live keys: four full pages of 10 000 (the cap, not the 100 000 asked for), then 9 000.
    expect(pages.map((p) => p.length)).toEqual([10_000, 10_000, 10_000, 10_000, 9_000]);
    expect(pages.flat()).toEqual(live);
  });

  it("old clients (no paging fields) get the complete answer in one response", async () => {
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge" })).keys).toEqual(liveHuge());
    const unpaged = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge" });
    expect(unpaged.nextPageToken).toBe("");
    const scan = await rpc().unary(S.scanPrefix, { namespace: ns, agentId: "huge", prefix: "k4999" });
    expect(scan.entries.map((e) => e.key)).toEqual(Array.from({ length: 10 }, (_, i) => `k4999${i}`));
    expect(scan.nextPageToken).toBe("");
  });

  it("filters ListKeys by prefix on the server, paged with an exact page size", async () => {
    const first = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", prefix: "k0000", pageSize: 4 });
    expect(first.keys).toEqual(["k00000", "k00001", "k00002", "k00003"]);
    const second = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", prefix: "k0000", pageSize: 4, pageToken: first.nextPageToken });
    // k00007 is deleted.
    expect(second.keys).toEqual(["k00004", "k00005", "k00006", "k00008"]);
    const last = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", prefix: "k0000", pageSize: 4, pageToken: second.nextPageToken });
    expect(last).toMatchObject({ keys: ["k00009"], nextPageToken: "" });
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", prefix: "k49999" })).keys).toEqual(["k49999"]);
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", prefix: "nothing" })).keys).toEqual([]);
  });

  it("ends a ScanPrefix page at max_page_bytes and refuses an unpaged answer over max_unpaged_bytes", async () => {
    // 20 values of 100 KiB: 2 MiB, over the 1 MiB unpaged limit.
    const tooBig = await failure(rpc().unary(S.scanPrefix, { namespace: ns, agentId: "big", prefix: "" }));
    expect(tooBig.code).toBe(Code.ResourceExhausted);
    expect(tooBig.detail?.code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(tooBig.detail?.details["limit"]).toBe("max_unpaged_bytes");
    expect(tooBig.message).toMatch(/page_size/);
    // Keys alone are small: the unpaged ListKeys of the same agent is fine.
    expect((await rpc().unary(S.listKeys, { namespace: ns, agentId: "big" })).keys).toHaveLength(20);
    const sizes: number[] = [];
    const keys: string[] = [];
    let pageToken = "";
    do {
      const page = await rpc().unary(S.scanPrefix, { namespace: ns, agentId: "big", prefix: "b", pageSize: 1000, pageToken });
      sizes.push(page.entries.length);
      keys.push(...page.entries.map((e) => e.key));
      expect(page.entries.every((e) => (e.value as { s: string }).s.length === BIG_VALUE)).toBe(true);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    // 256 KiB budget: a page is full at its third 100 KiB value.
    expect(sizes).toEqual([3, 3, 3, 3, 3, 3, 2]);
    expect(keys).toEqual(Array.from({ length: 20 }, (_, i) => `b${String(i).padStart(2, "0")}`));
  });

  it("pages GetStateAsOf (whole agent) at a fixed commit_ts", async () => {
    const { commitTs } = await rpc().unary(S.transact, { operations: [{ namespace: ns, agentId: `asof-${name}`, key: "a", value: { v: 1 } }, { namespace: ns, agentId: `asof-${name}`, key: "b", value: { v: 1 } }, { namespace: ns, agentId: `asof-${name}`, key: "c", value: { v: 1 } }] });
    await rpc().unary(S.transact, { operations: [{ namespace: ns, agentId: `asof-${name}`, key: "b", delete: true }, { namespace: ns, agentId: `asof-${name}`, key: "aa", value: { v: 2 } }] });
    const first = await rpc().unary(S.getStateAsOf, { namespace: ns, agentId: `asof-${name}`, commitTs, pageSize: 2 });
    expect(first.entries.map((e) => e.key)).toEqual(["a", "b"]);
    const second = await rpc().unary(S.getStateAsOf, { namespace: ns, agentId: `asof-${name}`, commitTs, pageSize: 2, pageToken: first.nextPageToken });
    expect(second).toMatchObject({ entries: [{ key: "c" }], nextPageToken: "" });
    expect((await rpc().unary(S.getStateAsOf, { namespace: ns, agentId: `asof-${name}`, commitTs })).entries.map((e) => e.key)).toEqual(["a", "b", "c"]);
  });

  it("rejects bad page tokens with INVALID_ARGUMENT naming page_token", async () => {
    const page = await rpc().unary(S.listKeys, { namespace: ns, agentId: "huge", pageSize: 2 });
    for (const [what, request] of [
      ["garbage", { namespace: ns, agentId: "huge", pageSize: 2, pageToken: "not a token!" }],
      ["truncated", { namespace: ns, agentId: "huge", pageSize: 2, pageToken: page.nextPageToken.slice(0, 4) }],
      ["another prefix", { namespace: ns, agentId: "huge", prefix: "k1", pageSize: 2, pageToken: page.nextPageToken }],
      ["another agent", { namespace: ns, agentId: "big", pageSize: 2, pageToken: page.nextPageToken }],
    ] as const) {
      const bad = await failure(rpc().unary(S.listKeys, request));
      expect(bad.code, what).toBe(Code.InvalidArgument);
      expect(bad.detail?.code, what).toBe(ErrorCode.INVALID_REQUEST);
      expect(bad.detail?.details["field"], what).toBe("page_token");
    }
    // A ListKeys token is not a ScanPrefix token.
    const scan = await failure(rpc().unary(S.scanPrefix, { namespace: ns, agentId: "huge", prefix: "", pageSize: 2, pageToken: page.nextPageToken }));
    expect(scan.detail?.details["field"]).toBe("page_token");
  });

  it("replays the last N events newest first with limit and reverse", async () => {
    const agentId = `tail-${name}`;
    const ts: bigint[] = [];
    for (let i = 0; i < 8; i++) ts.push((await rpc().unary(S.transact, { operations: [{ namespace: ns, agentId, key: `e${i}`, value: { i } }] })).commitTs);
    const last3 = await collect(rpc().stream(S.replay, { namespace: ns, agentId, limit: 3, reverse: true }));
    expect(last3.map((e) => e.commitTs)).toEqual(ts.slice(-3).reverse());
    expect(last3[0]?.operations[0]).toMatchObject({ key: "e7", value: { i: 7 } });
    const first2 = await collect(rpc().stream(S.replay, { namespace: ns, agentId, limit: 2 }));
    expect(first2.map((e) => e.commitTs)).toEqual(ts.slice(0, 2));
    expect((await collect(rpc().stream(S.replay, { namespace: ns, agentId }))).map((e) => e.commitTs)).toEqual(ts);
  });
});
