// `npm run bench -- --commit-stall [--baseline DIR]`: does request handling stall while the
// engine fsyncs? Issue 12 item 2. In alternating rounds, a fresh daemon of this build ("after")
// and, with --baseline, one of another checkout's build ("before": DIR/apps/daemon/dist/main.js,
// built) each get P1 (64 closed-loop grpc-js Transact clients, one 200-byte write per commit,
// 100 keys per client's agent) and, over the same window, one Health prober on its own
// connection: Health p50/p99/max under P1 load says whether the
// event loop stops during commit writes. The prober sends at a fixed rate (every 10 ms, not
// waiting for answers), so both builds serve the same probe load and the daemon CPU per commit
// (from /proc over the P1 window) compares. Before P1, the same prober alone gives the idle
// Health latency. Writes
// results/commit-stall.{json,md}.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchValue } from "./bench-value.js";
import { StatehouseGrpcClient } from "./clients/statehouse-grpc-client.js";
import { runHealthProber } from "./health-prober.js";
import { runClosedLoop, type ClosedLoopResult } from "./closed-loop.js";
import { fdatasyncRate } from "./context/fdatasync-rate.js";
import { cpuProbe, cpuWindow } from "./cpu-probe.js";
import { describeMachine, loadAverage1m } from "./machine-info.js";
import { combineWindows, ThreadCpuWindow } from "./proc-io.js";
import { DAEMON_MAIN } from "@statehouse/test-services";
import { startDaemon } from "./peers/statehouse-daemon.js";
import { median, percentileOfSorted, roundSig } from "./stats.js";

export interface CommitStallBenchOptions {
  outDir: string;
  scratchDir: string;
  rounds: number;
  windowMs: number;
  /** Repository root of the "before" build, or null for this build only. */
  baseline: string | null;
  command: string;
}

type Variant = "before" | "after";

export interface CommitStallReport {
  command: string;
  machine: ReturnType<typeof describeMachine>;
  fdatasync: { opsPerSec: number; p50Ms: number };
  windowMs: number;
  rounds: number;
  mains: Partial<Record<Variant, string>>;
  summaries: Partial<Record<Variant, Record<string, number>>>;
  ratios: Record<string, number | null>;
  raw: Partial<Record<Variant, Measured[]>>;
}

interface Measured {
  p1: ClosedLoopResult;
  healthUnderLoad: ProbeResult;
  healthIdle: ProbeResult;
  /** The daemon's own event-loop delay over the P1 window (prom-client's histogram, 10 ms resolution). */
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
  /** Mean transactions per group commit over the P1 window (statehouse_group_commit_size). */
  transactionsPerBatch: number;
  loadAverage: number;
}

const WARMUP_MS = 1000;
const IDLE_MS = 2000;

/** Health probes sent every PROBE_INTERVAL_MS, whatever the answers do (so both builds get the same probe load). */
interface ProbeResult {
  probes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const PROBE_INTERVAL_MS = 10;

/** Probes Health from a worker thread (health-prober.ts) for `warmupMs + durationMs`; the latencies of those sent after the warm-up. */
async function probeHealth(address: string, warmupMs: number, durationMs: number): Promise<ProbeResult> {
  const latencies = await runHealthProber({ address, intervalMs: PROBE_INTERVAL_MS, warmupMs, durationMs });
  latencies.sort((a, b) => a - b);
  return { probes: latencies.length, p50Ms: percentileOfSorted(latencies, 50), p99Ms: percentileOfSorted(latencies, 99), maxMs: latencies[latencies.length - 1] ?? Number.NaN };
}

interface Scrape {
  /** The daemon's event-loop delay since the previous scrape (prom-client resets its histogram at each /metrics), in ms. */
  loop: { p50Ms: number; p99Ms: number; maxMs: number };
  /** statehouse_group_commit_size's sum and count so far (transactions, batches). */
  transactions: number;
  batches: number;
}

async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    loop: { p50Ms: 1000 * value("nodejs_eventloop_lag_p50_seconds"), p99Ms: 1000 * value("nodejs_eventloop_lag_p99_seconds"), maxMs: 1000 * value("nodejs_eventloop_lag_max_seconds") },
    transactions: value("statehouse_group_commit_size_sum"),
    batches: value("statehouse_group_commit_size_count"),
  };
}

async function round(variant: Variant, main: string, options: CommitStallBenchOptions, scratch: string, index: number): Promise<Measured> {
  const dataDir = join(scratch, `${variant}-${index}`);
  const daemon = await startDaemon({ dataDir, workDir: scratch, name: `commit-stall-${variant}-${index}`, main });
  const writers = new StatehouseGrpcClient(daemon.address);
  try {
    const healthIdle = await probeHealth(daemon.address, WARMUP_MS, IDLE_MS);
    const loadAverage = loadAverage1m();
    let loopDelay = { p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN };
    let first: Promise<Scrape> | null = null;
    let transactionsPerBatch = Number.NaN;
    const [p1, healthUnderLoad] = await Promise.all([
      runClosedLoop({
        concurrency: 64,
        warmupMs: WARMUP_MS,
        durationMs: options.windowMs,
        window: combineWindows(cpuWindow(cpuProbe({ pid: daemon.pid, withChildren: false })), new ThreadCpuWindow(daemon.pid), {
          // The scrape at the window's start resets the daemon's event-loop delay histogram.
          start: () => {
            first = scrape(daemon.url);
          },
          stop: () => ({}),
        }),
        op: async (worker, seq) => {
          await writers.transact([{ namespace: "bench", agentId: `stall-${worker}`, key: `k${seq % 100}`, value: benchValue(seq) }]);
        },
      }).then(async (result) => {
        const last = await scrape(daemon.url);
        const start = await (first as Promise<Scrape> | null);
        loopDelay = last.loop;
        if (start !== null) transactionsPerBatch = (last.transactions - start.transactions) / (last.batches - start.batches);
        return result;
      }),
      probeHealth(daemon.address, WARMUP_MS, options.windowMs),
    ]);
    return { p1, healthUnderLoad, healthIdle, loopDelay, transactionsPerBatch, loadAverage };
  } finally {
    writers.close();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runCommitStallBench(options: CommitStallBenchOptions): Promise<{ markdown: string; files: string[]; report: CommitStallReport }> {
  const mains: Partial<Record<Variant, string>> = { after: DAEMON_MAIN };
  if (options.baseline !== null) {
    const before = join(options.baseline, "apps", "daemon", "dist", "main.js");
    if (!existsSync(before)) throw new Error(`--baseline: ${before} is missing (build that checkout's daemon first)`);
    mains.before = before;
  }
  const variants = Object.keys(mains).sort() as Variant[]; // "after", "before"
  mkdirSync(options.scratchDir, { recursive: true });
  const machine = describeMachine(options.scratchDir, loadAverage1m());
  const scratch = mkdtempSync(join(options.scratchDir, "statehouse-commit-stall-bench-"));
  const disk = fdatasyncRate(scratch, 2000);
  const results: Partial<Record<Variant, Measured[]>> = {};
  try {
    for (let i = 0; i < options.rounds; i++) {
      for (const variant of i % 2 === 0 ? variants : [...variants].reverse()) {
        (results[variant] ??= []).push(await round(variant, mains[variant] as string, options, scratch, i));
        console.error(`[bench] commit-stall round ${i + 1}/${options.rounds} ${variant} done`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const summary = (variant: Variant) => {
    const runs = results[variant] ?? [];
    const med = (pick: (m: Measured) => number): number => roundSig(median(runs.map(pick)));
    return {
      p1CommitsPerSec: med((m) => m.p1.opsPerSec),
      daemonCpuUsPerCommit: med((m) => m.p1["serverCpuUsPerOp"] ?? Number.NaN),
      jsThreadCpuUsPerCommit: med((m) => m.p1["jsThreadCpuUsPerOp"] ?? Number.NaN),
      loopDelayP99Ms: med((m) => m.loopDelay.p99Ms),
      transactionsPerBatch: med((m) => m.transactionsPerBatch),
      loopDelayMaxMs: med((m) => m.loopDelay.maxMs),
      healthIdleP99Ms: med((m) => m.healthIdle.p99Ms),
      healthP50Ms: med((m) => m.healthUnderLoad.p50Ms),
      healthP99Ms: med((m) => m.healthUnderLoad.p99Ms),
      healthMaxMs: med((m) => m.healthUnderLoad.maxMs),
      transactP99Ms: med((m) => m.p1.p99Ms),
      loadAverage: med((m) => m.loadAverage),
    };
  };
  const summaries = Object.fromEntries(variants.map((v) => [v, summary(v)])) as Partial<Record<Variant, ReturnType<typeof summary>>>;
  // Ratios of the same round (after ÷ before), then the median: drift between rounds cancels out.
  const ratio = (pick: (m: Measured) => number): number | null => {
    const before = results.before;
    const after = results.after;
    if (before === undefined || after === undefined) return null;
    return roundSig(median(after.map((m, i) => pick(m) / pick(before[i] as Measured))));
  };
  const ratios = {
    p1CommitsPerSec: ratio((m) => m.p1.opsPerSec),
    daemonCpuUsPerCommit: ratio((m) => m.p1["serverCpuUsPerOp"] ?? Number.NaN),
    jsThreadCpuUsPerCommit: ratio((m) => m.p1["jsThreadCpuUsPerOp"] ?? Number.NaN),
    healthP50Ms: ratio((m) => m.healthUnderLoad.p50Ms),
    healthP99Ms: ratio((m) => m.healthUnderLoad.p99Ms),
    healthMaxMs: ratio((m) => m.healthUnderLoad.maxMs),
  };
  const report: CommitStallReport = { command: options.command, machine, fdatasync: disk, windowMs: options.windowMs, rounds: options.rounds, mains, summaries, ratios, raw: results };
  const row = (label: string, s: ReturnType<typeof summary>): string =>
    `| ${label} | ${s.p1CommitsPerSec} | ${s.daemonCpuUsPerCommit} | ${s.jsThreadCpuUsPerCommit} | ${s.transactionsPerBatch} | ${s.transactP99Ms} | ${s.loopDelayP99Ms} | ${s.loopDelayMaxMs} | ${s.healthIdleP99Ms} | ${s.healthP50Ms} | ${s.healthP99Ms} | ${s.healthMaxMs} | ${s.loadAverage} |`;
  const x = (value: number | null): string => (value === null ? "" : `${value}×`);
  const markdown = [
    "# Commit stalls: Health latency while P1 commits (issue 12 item 2)",
    "",
    `\`${options.command}\` — ${options.rounds} alternating rounds of ${options.windowMs / 1000} s windows (${WARMUP_MS / 1000} s warm-up); each round a fresh daemon (fsync on, defaults). P1: 64 closed-loop grpc-js Transact clients; Health: 1 grpc-js client on its own connection sending a call every ${PROBE_INTERVAL_MS} ms (not waiting for answers; latency from each send) over the same window ("idle": ${IDLE_MS / 1000} s before P1). Daemon CPU per commit includes the probes (the same number in both builds); "of which JS thread" is the daemon's main thread alone (/proc/PID/task/PID). The daemon's event-loop delay is prom-client's (monitorEventLoopDelay, 10 ms resolution) over the P1 window, from /metrics. The prober runs in its own worker thread of the bench process. Medians of the rounds; the disk does ${roundSig(disk.opsPerSec)} fdatasync/s (p50 ${roundSig(disk.p50Ms)} ms). Load average (1 min) ${machine.loadAverage.start} at the start, per round in the last column.`,
    "",
    "| daemon | P1 commits/s (64 clients) | daemon CPU µs per commit | of which JS thread | transactions per batch | Transact p99 (ms) | daemon event-loop delay p99 under P1 (ms) | … max (ms) | Health p99 idle (ms) | Health p50 under P1 (ms) | Health p99 under P1 (ms) | Health max under P1 (ms) | load average |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...variants.map((v) => row(v === "after" ? `after (this build)` : `before (${options.baseline ?? ""})`, summaries[v] as ReturnType<typeof summary>)),
    ...(results.before === undefined
      ? []
      : [`| after ÷ before (median of per-round ratios) | ${x(ratios.p1CommitsPerSec)} | ${x(ratios.daemonCpuUsPerCommit)} | ${x(ratios.jsThreadCpuUsPerCommit)} | | | | | | ${x(ratios.healthP50Ms)} | ${x(ratios.healthP99Ms)} | ${x(ratios.healthMaxMs)} | |`]),
    "",
  ].join("\n");
  mkdirSync(options.outDir, { recursive: true });
  const files = [join(options.outDir, "commit-stall.json"), join(options.outDir, "commit-stall.md")];
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1] as string, markdown);
  return { markdown, files, report };
}
