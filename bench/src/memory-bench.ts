// Where statehoused's resident memory goes under the scale bench's P1 load, and what a setting
// changes. Starts the daemon (as the systemd unit does: its Node flags and environment) on a data
// set once per variant, rounds interleaved; each run serves the `--scale` load of
// workloads/restart-workloads.ts (64 clients, 3 reads : 1 write over the whole key space, then the
// 64-client one-write Transact window whose commits/s is P1) while sampling, every 100 ms,
// /proc/PID/status (VmRSS, RssAnon, RssFile), the daemon's /metrics (V8 heap spaces, external
// memory, RocksDB's own accounting) and, at the end, /proc/PID/smaps by mapping. It reports per
// variant the peak RSS (VmHWM), P1 and the daemon's CPU per commit, and the split of the sample
// with the highest RSS.
//
//   node bench/dist/memory-bench.js --data-dir /var/tmp/statehouse-datasets/dataset-100k --records 100000 \
//     [--rounds 3] [--seconds 10] [--variant "name;ENV=value;--node-flag=value;@/checkout/apps/daemon/dist/main.js" ...]
// A variant's node flags replace the unit's flag of the same name (or are added); `-flag` removes one;
// `@path` runs another build of the daemon (e.g. a checkout of the commit before a change);
// `data=path` gives the variant its own copy of the data set.
// Needs `npx nx run-many -t build -p bench daemon` first.
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NAMESPACE } from "./bench-env.js";
import { benchValue } from "./bench-value.js";
import { StatehouseGrpcClient } from "./clients/statehouse-grpc-client.js";
import { runClosedLoop } from "./closed-loop.js";
import { cpuProbe, cpuWindow } from "./cpu-probe.js";
import { loadAverage1m } from "./machine-info.js";
import { memoryOf, startDaemon, unitProcessTuning } from "./peers/statehouse-daemon.js";
import { combineWindows, ThreadCpuWindow } from "./proc-io.js";
import { median } from "./stats.js";

const AGENTS = 1000;
const MIB = 1024 * 1024;

export interface Variant {
  name: string;
  env: Record<string, string>;
  nodeFlags: string[];
  /** Another checkout's apps/daemon/dist/main.js (a "@/path" token), e.g. the commit before a change. */
  daemonMain?: string;
  /** Its own copy of the data set (a "data=/path" token): RocksDB settings that change the LSM shape would otherwise reshape one store back and forth. */
  dataDir?: string;
}

/** "name;ENV=value;--flag=value;-flag;@/other/checkout/apps/daemon/dist/main.js" → a variant over the unit's flags and environment. */
export function parseVariant(spec: string, unit = unitProcessTuning()): Variant {
  const [name = "", ...tokens] = spec.split(";").map((t) => t.trim());
  if (name === "") throw new Error(`variant ${JSON.stringify(spec)}: no name`);
  const env: Record<string, string> = { ...unit.env };
  let nodeFlags = [...unit.nodeFlags];
  let daemonMain: string | undefined;
  let dataDir: string | undefined;
  const flagName = (flag: string): string => flag.replace(/^-+/, "").split("=")[0] ?? flag;
  for (const token of tokens) {
    if (token === "") continue;
    if (token.startsWith("@")) {
      daemonMain = token.slice(1);
    } else if (token.startsWith("data=")) {
      dataDir = token.slice("data=".length);
    } else if (token.startsWith("--")) {
      nodeFlags = [...nodeFlags.filter((f) => flagName(f) !== flagName(token)), token];
    } else if (token.startsWith("-")) {
      nodeFlags = nodeFlags.filter((f) => flagName(f) !== flagName(token));
    } else {
      const eq = token.indexOf("=");
      if (eq <= 0) throw new Error(`variant ${name}: ${JSON.stringify(token)} is neither ENV=value nor a --flag`);
      env[token.slice(0, eq)] = token.slice(eq + 1);
    }
  }
  return { name, env, nodeFlags, ...(daemonMain === undefined ? {} : { daemonMain }), ...(dataDir === undefined ? {} : { dataDir }) };
}

interface Sample {
  rssMiB: number;
  anonMiB: number;
  fileMiB: number;
  /** V8's committed heap by space, from prom-client's nodejs_heap_space_size_total_bytes. */
  heapSpacesMiB: Record<string, number>;
  heapUsedMiB: number;
  externalMiB: number;
  rocksMiB: Record<string, number>;
  versionCacheMiB: number;
  /** TCP connections open (statehouse_open_connections): the bench's grpc-js clients share one. */
  connections: number;
}

function procStatus(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kib("VmRSS") / 1024, anon: kib("RssAnon") / 1024, file: (kib("RssFile") + kib("RssShmem")) / 1024 };
}

async function sample(pid: number, url: string): Promise<Sample> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const labelled = (metric: string, label: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [, key, value] of text.matchAll(new RegExp(`^${metric}\\{${label}="([^"]+)"\\} (\\S+)$`, "gm"))) {
      if (key !== undefined) out[key] = Number(value) / MIB;
    }
    return out;
  };
  const plain = (metric: string): number => Number(new RegExp(`^${metric} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / MIB;
  const proc = procStatus(pid);
  return {
    rssMiB: proc.rss,
    anonMiB: proc.anon,
    fileMiB: proc.file,
    heapSpacesMiB: labelled("nodejs_heap_space_size_total_bytes", "space"),
    heapUsedMiB: plain("nodejs_heap_size_used_bytes"),
    externalMiB: plain("nodejs_external_memory_bytes"),
    rocksMiB: labelled("statehouse_storage_memory_bytes", "part"),
    versionCacheMiB: plain("statehouse_version_cache_bytes"),
    connections: plain("statehouse_open_connections") * MIB,
  };
}

/** Resident MiB by mapping: the node binary, the RocksDB binding, other files, V8's and malloc's anonymous memory. */
function smapsByMapping(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let current = "anonymous";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const path = header[1] ?? "";
      current = path === "" ? "anonymous" : path.startsWith("[") ? path : path.endsWith("/node") ? "node binary" : path.includes("rocksdb") ? "rocksdb binding" : "other files";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) out[current] = (out[current] ?? 0) + Number(rss[1]) / 1024;
  }
  return out;
}

function recordOf(i: number): { agentId: string; key: string } {
  return { agentId: `agent-${i % AGENTS}`, key: `step/${i}` };
}

interface RunResult {
  vmHwmMiB: number;
  commitsPerSec: number;
  cpuUsPerCommit: number;
  jsUsPerCommit: number;
  rocksdbUsPerCommit: number;
  peak: Sample;
  smaps: Record<string, number>;
}

async function runVariant(variant: Variant, dataDir: string, records: number, seconds: number): Promise<RunResult> {
  const workDir = mkdtempSync(join(tmpdir(), "statehouse-memory-bench-"));
  const daemon = await startDaemon({ dataDir, workDir, name: variant.name.replace(/\W+/g, "-"), env: variant.env, nodeFlags: variant.nodeFlags, ...(variant.daemonMain === undefined ? {} : { main: variant.daemonMain }) });
  let peak: Sample | null = null;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await sample(daemon.pid, daemon.url).catch(() => null);
      if (s !== null && (peak === null || s.rssMiB > peak.rssMiB)) peak = s;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    using client = new StatehouseGrpcClient(daemon.address);
    // The scale bench's serveLoad: reads and writes over the whole key space.
    await runClosedLoop({
      concurrency: 64,
      warmupMs: 0,
      durationMs: seconds * 1000,
      op: async (_worker, seq) => {
        const { agentId, key } = recordOf(Math.floor(Math.random() * records));
        if (seq % 4 === 3) await client.transact([{ namespace: NAMESPACE, agentId, key, value: benchValue(seq) }]);
        else if (!(await client.getState(NAMESPACE, agentId, key)).exists) throw new Error(`${agentId}/${key} missing`);
      },
    });
    // Its commitWindow: P1, 64 clients of one-write Transact.
    const p1 = await runClosedLoop({
      concurrency: 64,
      warmupMs: 1000,
      durationMs: seconds * 1000,
      window: combineWindows(cpuWindow(cpuProbe({ pid: daemon.pid, withChildren: false })), new ThreadCpuWindow(daemon.pid)),
      op: async (w, seq) => {
        await client.transact([{ namespace: NAMESPACE, ...recordOf((w * 7919 + seq * 64) % records), value: benchValue(seq) }]);
      },
    });
    sampling = false;
    await sampler;
    const smaps = smapsByMapping(daemon.pid);
    if (peak === null) throw new Error("no memory sample");
    return {
      vmHwmMiB: memoryOf(daemon.pid).vmHwmKiB / 1024,
      commitsPerSec: p1.opsPerSec,
      cpuUsPerCommit: p1["serverCpuUsPerOp"] ?? Number.NaN,
      jsUsPerCommit: p1["jsThreadCpuUsPerOp"] ?? Number.NaN,
      rocksdbUsPerCommit: p1["rocksdbCpuUsPerOp"] ?? Number.NaN,
      peak,
      smaps,
    };
  } finally {
    sampling = false;
    await sampler;
    await daemon.stop();
  }
}

const fmt = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? "—" : n.toFixed(1));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "data-dir": { type: "string" },
      records: { type: "string", default: "100000" },
      rounds: { type: "string", default: "3" },
      seconds: { type: "string", default: "10" },
      variant: { type: "string", multiple: true },
    },
  });
  const dataDir = values["data-dir"];
  if (dataDir === undefined) throw new Error("--data-dir is required (a data set left by npm run bench -- --scale --datasets-dir DIR)");
  const variants = (values.variant ?? ["unit"]).map((spec) => parseVariant(spec));
  const records = Number(values.records);
  const load0 = loadAverage1m();
  const results = variants.map(() => [] as RunResult[]);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, variant] of variants.entries()) {
      const r = await runVariant(variant, variant.dataDir ?? dataDir, records, Number(values.seconds));
      results[i]?.push(r);
      process.stderr.write(`round ${round + 1} ${variant.name}: VmHWM ${fmt(r.vmHwmMiB)} MiB, P1 ${r.commitsPerSec.toFixed(0)}/s, ${fmt(r.cpuUsPerCommit)} µs CPU/commit (RocksDB ${fmt(r.rocksdbUsPerCommit)}), load ${loadAverage1m().toFixed(2)}\n`);
    }
  }
  console.log(`statehoused memory under the scale bench's P1 load, ${records} records (${dataDir}), median of ${values.rounds} interleaved rounds, ${values.seconds} s windows; load average (1 min) ${load0.toFixed(2)} at start, ${loadAverage1m().toFixed(2)} at end (2 cores)\n`);
  console.log("| variant | node flags | environment | peak RSS VmHWM (MiB) | min–max | P1 commits/s | daemon CPU µs/commit | JS thread µs/commit | RocksDB threads µs/commit |");
  console.log("|---|---|---|--:|--:|--:|--:|--:|--:|");
  for (const [i, variant] of variants.entries()) {
    const rs = results[i] ?? [];
    const m = (pick: (r: RunResult) => number): number => median(rs.map(pick));
    const hwm = rs.map((r) => r.vmHwmMiB);
    const env = Object.entries(variant.env).map(([k, v]) => `${k}=${v}`).join(" ");
    console.log(`| ${variant.name} | ${variant.nodeFlags.join(" ")} | ${env} | ${fmt(m((r) => r.vmHwmMiB))} | ${fmt(Math.min(...hwm))}–${fmt(Math.max(...hwm))} | ${m((r) => r.commitsPerSec).toFixed(0)} | ${fmt(m((r) => r.cpuUsPerCommit))} | ${fmt(m((r) => r.jsUsPerCommit))} | ${fmt(m((r) => r.rocksdbUsPerCommit))} |`);
  }
  console.log("\nSplit at the sample with the highest RSS (MiB, median over rounds; V8 spaces are committed sizes):\n");
  const spaces = [...new Set(results.flat().flatMap((r) => Object.keys(r.peak.heapSpacesMiB)))].sort();
  const rocks = [...new Set(results.flat().flatMap((r) => Object.keys(r.peak.rocksMiB)))].sort();
  const mappings = [...new Set(results.flat().flatMap((r) => Object.keys(r.smaps)))].sort();
  const rows: [string, (r: RunResult) => number][] = [
    ["RSS at that sample", (r) => r.peak.rssMiB],
    ["… file-backed", (r) => r.peak.fileMiB],
    ["… anonymous", (r) => r.peak.anonMiB],
    ["V8 heap committed (all spaces)", (r) => Object.values(r.peak.heapSpacesMiB).reduce((a, b) => a + b, 0)],
    ...spaces.map((s): [string, (r: RunResult) => number] => [`… ${s}`, (r) => r.peak.heapSpacesMiB[s] ?? 0]),
    ["V8 heap used", (r) => r.peak.heapUsedMiB],
    ["V8 external (Buffers etc.)", (r) => r.peak.externalMiB],
    ...rocks.map((p): [string, (r: RunResult) => number] => [`RocksDB ${p}`, (r) => r.peak.rocksMiB[p] ?? 0]),
    ["engine version cache (estimate, in the V8 heap above; — before it was exported)", (r) => r.peak.versionCacheMiB],
    ["TCP connections open (a count, not MiB)", (r) => r.peak.connections],
    [
      "anonymous − V8 committed − RocksDB (malloc: node, http2, buffers, fragmentation)",
      (r) => r.peak.anonMiB - Object.values(r.peak.heapSpacesMiB).reduce((a, b) => a + b, 0) - (r.peak.rocksMiB["memtables"] ?? 0) - (r.peak.rocksMiB["block_cache"] ?? 0) - (r.peak.rocksMiB["table_readers"] ?? 0),
    ],
    ...mappings.map((p): [string, (r: RunResult) => number] => [`smaps at the end: ${p}`, (r) => r.smaps[p] ?? 0]),
  ];
  console.log(`| part | ${variants.map((v) => v.name).join(" | ")} |`);
  console.log(`|---|${variants.map(() => "--:").join("|")}|`);
  for (const [label, pick] of rows) console.log(`| ${label} | ${variants.map((_, i) => fmt(median((results[i] ?? []).map(pick)))).join(" | ")} |`);
}

await main();
