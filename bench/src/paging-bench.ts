// Daemon memory of large reads, paged versus unpaged. Loads one agent with --keys records of
// --value-bytes each into a fresh daemon (RocksDB), then reads the whole agent four ways while
// sampling the daemon's VmRSS every 5 ms from /proc: ListKeys and ScanPrefix in pages (what
// the SDKs send), the same two unpaged (what old clients send; max_unpaged_bytes raised so
// they are allowed), and, on a second agent of --events one-key commits, Replay of the last
// 10 events (reverse, what `statehousectl tail` sends) versus the whole history.
// Reports the peak RSS above the level just before each read, and its wall time.
//
//   npx nx run bench:build && node_modules/.bin/node bench/src/paging-bench.ts [--keys 40000] [--value-bytes 1024] [--events 20000]
// (The default stays under the daemon's 64 MiB response limit, connect's writeMaxBytes, so
// the unpaged reads can answer at all; beyond it they are refused, which the table shows.)
// The daemon comes from the shared test launcher (@statehouse/test-services, its built dist).
// No relative imports, so Node runs the source.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";
import { DaemonProcess } from "@statehouse/test-services";

const S = StatehouseService.method;
const MIB = 1024 * 1024;

const { values: args } = parseArgs({ options: { keys: { type: "string", default: "40000" }, "value-bytes": { type: "string", default: "1024" }, events: { type: "string", default: "20000" } } });
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args["value-bytes"]);

function rssBytes(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(line?.[1] ?? Number.NaN) * 1024;
}

interface Row {
  peakMiB: number;
  ms: number;
  /** Items read, or why the read was refused. */
  items: number | string;
}

/** Runs fn while sampling the daemon's RSS; returns the peak above the level at the start. */
async function measure(pid: number, fn: () => Promise<number>): Promise<Row> {
  await new Promise((r) => setTimeout(r, 500));
  const base = rssBytes(pid);
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 5);
  const started = performance.now();
  try {
    let items: number | string;
    try {
      items = await fn();
    } catch (error) {
      items = `refused: ${error instanceof Error ? error.message : String(error)}`;
    }
    return { peakMiB: (Math.max(peak, rssBytes(pid)) - base) / MIB, ms: performance.now() - started, items };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const daemon = await DaemonProcess.start({
    logLevel: "warn",
    env: { STATEHOUSE_FSYNC_ON_COMMIT: "0", STATEHOUSE_MAX_UNPAGED_BYTES: String(4096 * MIB) },
  });
  try {
    const { address, pid } = daemon;
    const sessionManager = new Http2SessionManager(`http://${address}`);
    const t = createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "2", sessionManager, readMaxBytes: 0x7fffffff });
    const unary = <I extends object, O>(method: Parameters<typeof t.unary>[0], input: I): Promise<O> =>
      t.unary(method, undefined, undefined, undefined, input as never).then((r) => r.message as O);
    const ns = "bench";
    const agentId = "huge";
    const filler = "x".repeat(Math.max(0, VALUE_BYTES - 16));
    const perTxn = Math.max(1, Math.min(10_000, Math.floor((2 * MIB) / (VALUE_BYTES + 64))));
    for (let i = 0; i < KEYS; i += perTxn) {
      const operations = [];
      for (let k = i; k < Math.min(KEYS, i + perTxn); k++) operations.push({ namespace: ns, agentId, key: `k${String(k).padStart(8, "0")}`, value: { s: filler } });
      await unary(S.transact, { operations });
    }
    // A second agent with a long history of small commits, for the last-N replay.
    const EVENTS = Number(args.events);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < EVENTS) {
          const i = next++;
          await unary(S.transact, { operations: [{ namespace: ns, agentId: "history", key: `k${i % 100}`, value: { i } }] });
        }
      }),
    );
    const loadedMiB = rssBytes(pid) / MIB;

    const pagedKeys = async (): Promise<number> => {
      let n = 0;
      let pageToken = "";
      do {
        const page = await unary<object, { keys: string[]; nextPageToken: string }>(S.listKeys, { namespace: ns, agentId, pageSize: 10_000, pageToken });
        n += page.keys.length;
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      return n;
    };
    const pagedScan = async (): Promise<number> => {
      let n = 0;
      let pageToken = "";
      do {
        const page = await unary<object, { entries: unknown[]; nextPageToken: string }>(S.scanPrefix, { namespace: ns, agentId, prefix: "", pageSize: 1000, pageToken });
        n += page.entries.length;
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      return n;
    };
    const count = async (stream: AsyncIterable<unknown>): Promise<number> => {
      let n = 0;
      for await (const _ of stream) n++;
      return n;
    };
    const replay = async (input: object): Promise<number> => count((await t.stream(S.replay, undefined, undefined, undefined, (async function* () {
      yield input as never;
    })())).message);

    const rows: [string, Row][] = [];
    rows.push(["ListKeys, pages of 10 000 (SDKs)", await measure(pid, pagedKeys)]);
    rows.push(["ScanPrefix, pages of 1 000 (SDKs)", await measure(pid, pagedScan)]);
    rows.push([`Replay of ${EVENTS} one-key commits, last 10 (limit + reverse)`, await measure(pid, () => replay({ namespace: ns, agentId: "history", limit: 10, reverse: true }))]);
    rows.push([`Replay of ${EVENTS} one-key commits, whole history (old tail)`, await measure(pid, () => replay({ namespace: ns, agentId: "history" }))]);
    rows.push(["ListKeys, unpaged (old clients)", await measure(pid, async () => (await unary<object, { keys: string[] }>(S.listKeys, { namespace: ns, agentId })).keys.length)]);
    rows.push(["ScanPrefix, unpaged (old clients)", await measure(pid, async () => (await unary<object, { entries: unknown[] }>(S.scanPrefix, { namespace: ns, agentId, prefix: "" })).entries.length)]);
    sessionManager.abort();

    console.log(`statehoused paging benchmark: ${KEYS} records of ${VALUE_BYTES} B in one agent (${((KEYS * VALUE_BYTES) / MIB).toFixed(0)} MiB of values), RocksDB, daemon RSS ${loadedMiB.toFixed(0)} MiB after loading; Node ${process.version}`);
    console.log("");
    console.log("| read | items | daemon peak RSS above its level before the read | wall time |");
    console.log("|---|---:|---:|---:|");
    for (const [name, r] of rows) console.log(`| ${name} | ${r.items} | ${r.peakMiB.toFixed(1)} MiB | ${(r.ms / 1000).toFixed(2)} s |`);
  } finally {
    await daemon.dispose();
  }
}

await main();
