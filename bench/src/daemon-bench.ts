// statehoused protocol benchmark: calls/s of a no-op RPC (Health) versus a
// one-write commit through Transact and through BeginTransaction/Write/Commit,
// per protocol (gRPC via @grpc/grpc-js; Connect over h2c and HTTP/1.1 and
// gRPC-Web over HTTP/1.1 via connect-node), at concurrency 1 and 64, all in
// one run against one daemon (RocksDB, fsync on), printed with the ratios.
//
// Self-contained (no relative imports) so Node can run the TypeScript source:
//   node_modules/.bin/node bench/src/daemon-bench.ts [--duration-ms 3000]
//     [--warmup-ms 1000] [--concurrency 1,64] [--protocols grpc,connect-h2c,connect-h1,grpc-web]
//     [--daemon-node-flags=--cpu-prof --cpu-prof-dir=/tmp/prof] [--fsync 1] [--rounds 1]
// Needs `npx nx run daemon:build` first. Not a test: numbers depend on the machine.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { StatehouseService } from "@statehouse/api";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NODE = join(REPO_ROOT, "node_modules/.bin/node");
const DAEMON_MAIN = join(REPO_ROOT, "apps/daemon/dist/main.js");
const S = StatehouseService.method;

type Protocol = "grpc" | "connect-h2c" | "connect-h1" | "grpc-web";
const PROTOCOL_LABELS: Record<Protocol, string> = {
  grpc: "gRPC (grpc-js)",
  "connect-h2c": "Connect h2c",
  "connect-h1": "Connect HTTP/1.1",
  "grpc-web": "gRPC-Web HTTP/1.1",
};

/** Calls one unary method; the same shape for every protocol. */
type Unary = <I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>) => Promise<MessageShape<O>>;

interface BenchClient {
  call: Unary;
  close(): void;
}

function grpcJsClient(address: string): BenchClient {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call: Unary = (method, input) =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/${method.parent.typeName}/${method.name}`,
        (value: MessageInitShape<typeof method.input>) => Buffer.from(toBinary(method.input, create(method.input, value))),
        (bytes: Buffer) => fromBinary(method.output, bytes),
        input,
        (error, response) => (error === null ? resolve(response as MessageShape<typeof method.output>) : reject(error)),
      );
    });
  return { call, close: () => client.close() };
}

function connectClient(url: string, protocol: Exclude<Protocol, "grpc">): BenchClient {
  let transport: Transport;
  let close = (): void => undefined;
  if (protocol === "connect-h2c") {
    const sessionManager = new Http2SessionManager(url);
    transport = createConnectTransport({ baseUrl: url, httpVersion: "2", sessionManager });
    close = () => sessionManager.abort();
  } else if (protocol === "connect-h1") {
    transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
  } else {
    transport = createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" });
  }
  const call: Unary = async (method, input) => (await transport.unary(method, undefined, undefined, undefined, input)).message;
  return { call, close };
}

interface Daemon {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

async function startDaemon(dataDir: string, nodeFlags: string[], env: Record<string, string>): Promise<Daemon> {
  if (!existsSync(DAEMON_MAIN)) throw new Error(`${DAEMON_MAIN} is missing: run npx nx run daemon:build first`);
  const readyFile = join(dataDir, "..", "ready.json");
  const child = spawn(NODE, [...nodeFlags, DAEMON_MAIN], {
    env: {
      PATH: process.env["PATH"] ?? "",
      STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0",
      STATEHOUSE_DATA_DIR: dataDir,
      STATEHOUSE_READY_FILE: readyFile,
      STATEHOUSE_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; i < 3000; i++) {
    if (child.exitCode !== null) throw new Error(`statehoused exited with ${child.exitCode}`);
    if (existsSync(readyFile)) {
      const ready = JSON.parse(readFileSync(readyFile, "utf8")) as { address: string; pid: number };
      return {
        ...ready,
        stop: async () => {
          child.kill("SIGTERM");
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  throw new Error("statehoused not ready after 30 s");
}

/** CPU seconds (user + system) used so far by a process, from /proc. */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface LoopResult {
  opsPerSec: number;
  daemonCpu: number;
  clientCpu: number;
}

function clientCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Closed loop: `concurrency` workers, each awaiting one operation at a time.
 * The window opens at the first completion after the warm-up and closes at the
 * last completion before warm-up + duration; CPU is read at both ends.
 */
async function closedLoop(concurrency: number, warmupMs: number, durationMs: number, daemonPid: number, op: (worker: number, seq: number) => Promise<void>): Promise<LoopResult> {
  const from = performance.now() + warmupMs;
  const end = from + durationMs;
  let ops = 0;
  let opened: { at: number; daemon: number; client: number } | null = null;
  let lastAt = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let seq = 0; performance.now() < end; seq++) {
        await op(worker, seq);
        const t = performance.now();
        if (t < from || t > end) continue;
        if (opened === null) opened = { at: t, daemon: cpuSecondsOf(daemonPid), client: clientCpuSeconds() };
        else ops++;
        lastAt = t;
      }
    }),
  );
  const closed = { daemon: cpuSecondsOf(daemonPid), client: clientCpuSeconds() };
  const start = opened as { at: number; daemon: number; client: number } | null;
  if (start === null || lastAt <= start.at) throw new Error("no operation completed inside the measurement window");
  const seconds = (lastAt - start.at) / 1000;
  const cpuSeconds = (performance.now() - start.at) / 1000;
  return { opsPerSec: ops / seconds, daemonCpu: (closed.daemon - start.daemon) / cpuSeconds, clientCpu: (closed.client - start.client) / cpuSeconds };
}

interface Row {
  protocol: Protocol;
  concurrency: number;
  health: LoopResult;
  transact: LoopResult;
  /** ops = transactions (3 calls each). */
  bwc: LoopResult;
}

async function measure(client: BenchClient, protocol: Protocol, concurrency: number, warmupMs: number, durationMs: number, daemonPid: number): Promise<Row> {
  const agent = (w: number): string => `${protocol}-c${concurrency}-w${w}`;
  const health = await closedLoop(concurrency, warmupMs, durationMs, daemonPid, async () => {
    await client.call(S.health, {});
  });
  const transact = await closedLoop(concurrency, warmupMs, durationMs, daemonPid, async (w, seq) => {
    await client.call(S.transact, { operations: [{ namespace: "bench", agentId: agent(w), key: `k${seq % 100}`, value: { seq, note: "one write" } }] });
  });
  const bwc = await closedLoop(concurrency, warmupMs, durationMs, daemonPid, async (w, seq) => {
    const { txnId } = await client.call(S.beginTransaction, {});
    await client.call(S.write, { txnId, namespace: "bench", agentId: agent(w), key: `k${seq % 100}`, value: { seq, note: "one write" } });
    await client.call(S.commit, { txnId });
  });
  return { protocol, concurrency, health, transact, bwc };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One row per protocol and concurrency: the median of each figure over the rounds. */
function medianRows(rows: Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = `${row.protocol}/${row.concurrency}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const med = (group: Row[], pick: (r: Row) => LoopResult): LoopResult => ({
    opsPerSec: median(group.map((r) => pick(r).opsPerSec)),
    daemonCpu: median(group.map((r) => pick(r).daemonCpu)),
    clientCpu: median(group.map((r) => pick(r).clientCpu)),
  });
  return [...groups.values()].map((group) => ({
    protocol: group[0]?.protocol ?? "grpc",
    concurrency: group[0]?.concurrency ?? 0,
    health: med(group, (r) => r.health),
    transact: med(group, (r) => r.transact),
    bwc: med(group, (r) => r.bwc),
  }));
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}

function pct(a: number, b: number): string {
  return `${Math.round((100 * a) / b)}%`;
}

function table(rows: Row[]): string {
  const lines = [
    "| protocol | clients | Health calls/s | Transact commits/s | Transact / Health | Begin+Write+Commit txns/s (calls/s) | B/W/C calls / Health | daemon CPU µs per call (H/T/BWC) | daemon / client cores busy (H) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const perCall = [r.health.daemonCpu / r.health.opsPerSec, r.transact.daemonCpu / r.transact.opsPerSec, r.bwc.daemonCpu / (3 * r.bwc.opsPerSec)]
      .map((v) => Math.round(v * 1e6))
      .join(" / ");
    lines.push(
      `| ${PROTOCOL_LABELS[r.protocol]} | ${r.concurrency} | ${fmt(r.health.opsPerSec)} | ${fmt(r.transact.opsPerSec)} | ${pct(r.transact.opsPerSec, r.health.opsPerSec)} | ` +
        `${fmt(r.bwc.opsPerSec)} (${fmt(3 * r.bwc.opsPerSec)}) | ${pct(3 * r.bwc.opsPerSec, r.health.opsPerSec)} | ${perCall} | ${r.health.daemonCpu.toFixed(2)} / ${r.health.clientCpu.toFixed(2)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "duration-ms": { type: "string", default: "3000" },
      "warmup-ms": { type: "string", default: "1000" },
      concurrency: { type: "string", default: "1,64" },
      protocols: { type: "string", default: "grpc,connect-h2c,connect-h1,grpc-web" },
      "daemon-node-flags": { type: "string", default: "" },
      fsync: { type: "string", default: "1" },
      rounds: { type: "string", default: "1" },
    },
  });
  const durationMs = Number(values["duration-ms"]);
  const warmupMs = Number(values["warmup-ms"]);
  const concurrencies = values.concurrency.split(",").map(Number);
  const protocols = values.protocols.split(",") as Protocol[];
  const nodeFlags = values["daemon-node-flags"].split(" ").filter((f) => f !== "");
  const work = mkdtempSync(join(tmpdir(), "statehoused-bench-"));
  const daemon = await startDaemon(join(work, "data"), nodeFlags, { STATEHOUSE_FSYNC_ON_COMMIT: values.fsync });
  const rows: Row[] = [];
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const protocol of protocols) {
        const client = protocol === "grpc" ? grpcJsClient(daemon.address) : connectClient(`http://${daemon.address}`, protocol);
        for (const concurrency of concurrencies) {
          const row = await measure(client, protocol, concurrency, warmupMs, durationMs, daemon.pid);
          rows.push(row);
          process.stderr.write(`${PROTOCOL_LABELS[protocol]} x${concurrency}: health ${fmt(row.health.opsPerSec)}/s, transact ${fmt(row.transact.opsPerSec)}/s, bwc ${fmt(row.bwc.opsPerSec)} txn/s\n`);
        }
        client.close();
      }
    }
  } finally {
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(
    `statehoused protocol benchmark: ${availableParallelism()} CPUs, Node ${process.version}, daemon node flags: ${nodeFlags.join(" ") || "(none added)"}, ` +
      `fsync ${values.fsync === "1" ? "on" : "off"}, RocksDB, ${durationMs} ms per cell after ${warmupMs} ms warm-up, median of ${values.rounds} interleaved round(s), client and daemon on the same machine`,
  );
  console.log(table(medianRows(rows)));
}

await main();
