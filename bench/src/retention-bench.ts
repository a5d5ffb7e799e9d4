// `npm run bench -- --retention`: P1 (64 clients) and P2 (1 client: p50/p99 commit latency) with
// history compaction running vs not, on the same daemon build, in alternating rounds. Each round
// starts a fresh daemon with a backlog of history, then measures: "off" keeps everything;
// "on" sets a keep-1 ms default policy and calls CompactHistory back to back for the whole window,
// so a compaction pass (the backlog first, then each window's own commits) runs throughout
// with the shipped batch size and pause. Writes results/retention.{json,md}.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RetentionKind, RetentionService, StatehouseService } from "@statehouse/api";
import { runClosedLoop, type ClosedLoopResult } from "./closed-loop.js";
import { describeMachine, loadAverage1m } from "./machine-info.js";
import { startDaemon } from "./peers/statehouse-daemon.js";
import { median, roundSig } from "./stats.js";

export interface RetentionBenchOptions {
  outDir: string;
  scratchDir: string;
  rounds: number;
  /** Commits of history loaded before each round's measurements. */
  backlog: number;
  windowMs: number;
  command: string;
}

type Variant = "off" | "on";

interface Measured {
  p1: ClosedLoopResult;
  p2: ClosedLoopResult;
  compactedEvents: number;
}

async function round(variant: Variant, options: RetentionBenchOptions, scratch: string, index: number): Promise<Measured> {
  const dataDir = join(scratch, `${variant}-${index}`);
  // Compaction runs only when asked (CompactHistory in a loop below), so "off" has none at all.
  const daemon = await startDaemon({ dataDir, workDir: scratch, name: `retention-${variant}-${index}`, env: { STATEHOUSE_COMPACTION_INTERVAL_MS: "0" } });
  const sessions = new Http2SessionManager(daemon.url);
  const transport = createGrpcTransport({ baseUrl: daemon.url, sessionManager: sessions });
  const rpc = createClient(StatehouseService, transport);
  const retention = createClient(RetentionService, transport);
  const value = { text: "x".repeat(200) };
  const commit = async (worker: number, seq: number): Promise<void> => {
    await rpc.transact({ operations: [{ namespace: "bench", agentId: `agent-${worker}`, key: `k${seq % 16}`, value }] });
  };
  try {
    // Backlog: history the "on" rounds compact while they are measured.
    let loaded = 0;
    await Promise.all(
      Array.from({ length: 64 }, async (_, worker) => {
        for (let seq = 0; loaded < options.backlog; seq++, loaded++) await commit(worker, seq);
      }),
    );
    let compacting = true;
    let compactedEvents = 0;
    let loop: Promise<void> = Promise.resolve();
    if (variant === "on") {
      await retention.setRetentionPolicy({ namespace: "", policy: { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 1n } });
      loop = (async () => {
        while (compacting) compactedEvents += Number((await retention.compactHistory({})).eventsCompacted);
      })();
    }
    const p1 = await runClosedLoop({ concurrency: 64, warmupMs: 500, durationMs: options.windowMs, op: commit });
    const p2 = await runClosedLoop({ concurrency: 1, warmupMs: 200, durationMs: options.windowMs, op: commit });
    compacting = false;
    await loop;
    return { p1, p2, compactedEvents };
  } finally {
    sessions.abort();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runRetentionBench(options: RetentionBenchOptions): Promise<{ markdown: string; files: string[] }> {
  mkdirSync(options.scratchDir, { recursive: true });
  const machine = describeMachine(options.scratchDir, loadAverage1m());
  const scratch = mkdtempSync(join(options.scratchDir, "statehouse-retention-bench-"));
  const results: Record<Variant, Measured[]> = { off: [], on: [] };
  try {
    for (let i = 0; i < options.rounds; i++) {
      for (const variant of (i % 2 === 0 ? ["off", "on"] : ["on", "off"]) as Variant[]) {
        results[variant].push(await round(variant, options, scratch, i));
        console.error(`[bench] retention round ${i + 1}/${options.rounds} ${variant} done`);
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  const summary = (variant: Variant) => ({
    p1CommitsPerSec: roundSig(median(results[variant].map((r) => r.p1.opsPerSec))),
    p1P99Ms: roundSig(median(results[variant].map((r) => r.p1.p99Ms))),
    p2P50Ms: roundSig(median(results[variant].map((r) => r.p2.p50Ms))),
    p2P99Ms: roundSig(median(results[variant].map((r) => r.p2.p99Ms))),
    compactedEventsPerRound: median(results[variant].map((r) => r.compactedEvents)),
  });
  const off = summary("off");
  const on = summary("on");
  const report = { command: options.command, machine, backlog: options.backlog, windowMs: options.windowMs, rounds: options.rounds, off, on, raw: results };
  const markdown = [
    "# Retention: P1/P2 with history compaction running vs not",
    "",
    `\`${options.command}\` — ${options.rounds} alternating rounds; each round a fresh daemon with ${options.backlog} commits of history, then P1 (64 clients, connect-node gRPC Transact, ${options.windowMs / 1000} s) and P2 (1 client, ${options.windowMs / 1000} s). "on": keep-1 ms default policy and CompactHistory back to back through both windows (shipped batch 256 events, pause 20 ms). Medians.`,
    "",
    "| compaction | P1 commits/s (64 clients) | P1 p99 (ms) | P2 p50 (ms) | P2 p99 (ms) | events compacted per round |",
    "|---|---|---|---|---|---|",
    `| off | ${off.p1CommitsPerSec} | ${off.p1P99Ms} | ${off.p2P50Ms} | ${off.p2P99Ms} | 0 |`,
    `| on | ${on.p1CommitsPerSec} | ${on.p1P99Ms} | ${on.p2P50Ms} | ${on.p2P99Ms} | ${on.compactedEventsPerRound} |`,
    `| on ÷ off | ${roundSig(on.p1CommitsPerSec / off.p1CommitsPerSec)}× | ${roundSig(on.p1P99Ms / off.p1P99Ms)}× | ${roundSig(on.p2P50Ms / off.p2P50Ms)}× | ${roundSig(on.p2P99Ms / off.p2P99Ms)}× | |`,
    "",
  ].join("\n");
  mkdirSync(options.outDir, { recursive: true });
  const files = [join(options.outDir, "retention.json"), join(options.outDir, "retention.md")];
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1] as string, markdown);
  return { markdown, files };
}
