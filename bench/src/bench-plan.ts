// How long and how much: one plan per mode (full, --quick, --smoke, --scale).
import { availableParallelism } from "node:os";
import { DEFAULT_FIGURES, type Figure } from "./measure.js";

export interface BenchPlan {
  mode: "full" | "quick" | "smoke" | "scale";
  rounds: number;
  warmupMs: number;
  /** Measurement window of one commit run (P1/P2). */
  commitMs: number;
  /** Measurement window of one no-op or read run (context, P5). */
  shortMs: number;
  concurrency: readonly number[];
  /** Events of the replay agent (P3) — also the key set of P5. */
  replayEvents: number;
  /** Committed events (= records) of the restart/RSS data sets (P4/P6). */
  datasets: readonly number[];
  /** Idle Watch streams (on agents nobody writes) of the watcher row on each data set. */
  idleWatchers: number;
  figures: ReadonlySet<Figure>;
  /** Start etcd and PostgreSQL (false in smoke mode). */
  peers: boolean;
  /** After the rounds, profile the daemon under P1 (and P3) load with --cpu-prof. */
  profile: boolean;
  /** The `flags` figure's daemons: Node flags separated by spaces, "shipped" = the systemd unit's. */
  nodeFlagVariants: readonly string[];
  /** The `threads` figure's daemons: one per --rpc-threads value, the first the base. */
  rpcThreads: readonly number[];
}

/** Without `--rpc-threads`: 1, 2, 4, … up to the cores present (the cores themselves included). */
export function defaultRpcThreadCounts(cores = availableParallelism()): number[] {
  const counts: number[] = [];
  for (let n = 1; n < cores; n *= 2) counts.push(n);
  counts.push(cores);
  return counts;
}

/** `--rpc-threads`' value: a comma list of thread counts (1 to 64, the daemon's limit). */
export function parseRpcThreadCounts(value: string): number[] {
  const counts = value.split(",").map((t) => t.trim());
  return counts.map((t) => {
    const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > 64) throw new Error(`--rpc-threads: expected a comma list of thread counts between 1 and 64, got ${JSON.stringify(value)}`);
    return n;
  });
}

/** Without `--node-flags`: as shipped, none, and a young generation 16× the unit's. */
export const DEFAULT_NODE_FLAG_VARIANTS: readonly string[] = ["shipped", "", "--max-semi-space-size=64"];

export interface PlanOptions {
  quick?: boolean;
  smoke?: boolean;
  huge?: boolean;
  /** P1/P4/P6 on the data sets only (default 100k, 1M, 10M records), no peers. */
  scale?: boolean;
  /** Data set sizes (records) instead of the mode's. */
  datasets?: readonly number[];
  only?: readonly Figure[];
  rounds?: number;
  /** Default: on in full mode, off otherwise. */
  profile?: boolean;
  /** The `flags` figure's variants (DEFAULT_NODE_FLAG_VARIANTS). */
  nodeFlagVariants?: readonly string[];
  /** The `threads` figure's thread counts (defaultRpcThreadCounts()). */
  rpcThreads?: readonly number[];
}

export function makePlan(options: PlanOptions): BenchPlan {
  if (options.smoke === true) {
    const figures = new Set<Figure>(options.only ?? ["P1", "P2", "P3", "P4", "P5", "P6"]);
    return {
      mode: "smoke",
      rounds: options.rounds ?? 1,
      warmupMs: 200,
      commitMs: 500,
      shortMs: 400,
      concurrency: [1, 8],
      replayEvents: 1_000,
      datasets: options.datasets ?? [2_000],
      idleWatchers: 50,
      figures,
      peers: false,
      profile: options.profile ?? false,
      nodeFlagVariants: options.nodeFlagVariants ?? DEFAULT_NODE_FLAG_VARIANTS,
      rpcThreads: options.rpcThreads ?? defaultRpcThreadCounts(),
    };
  }
  const full: BenchPlan = {
    mode: "full",
    rounds: options.rounds ?? 3,
    warmupMs: 1_000,
    commitMs: 4_000,
    shortMs: 2_000,
    concurrency: [1, 64],
    replayEvents: 100_000,
    datasets: options.datasets ?? [100_000, 1_000_000, ...(options.huge === true ? [10_000_000] : [])],
    idleWatchers: 1_000,
    figures: new Set<Figure>(options.only ?? DEFAULT_FIGURES),
    peers: true,
    profile: options.profile ?? true,
    nodeFlagVariants: options.nodeFlagVariants ?? DEFAULT_NODE_FLAG_VARIANTS,
    rpcThreads: options.rpcThreads ?? defaultRpcThreadCounts(),
  };
  if (options.scale === true) {
    // One table: P1 (64 clients), restart and peak RSS at each size; the data sets dominate the time.
    return {
      ...full,
      mode: "scale",
      rounds: options.rounds ?? 1,
      // Long windows: flushes and compactions are bursty, and write amplification counts them.
      shortMs: 10_000,
      datasets: options.datasets ?? [100_000, 1_000_000, 10_000_000],
      figures: new Set<Figure>(["P1", "P4", "P6"]),
      peers: false,
      profile: false,
    };
  }
  if (options.quick !== true) return full;
  return { ...full, mode: "quick", rounds: options.rounds ?? 2, warmupMs: 300, commitMs: 1_000, shortMs: 700, profile: options.profile ?? false };
}

/** Parses "100k,1M,10M" (or plain integers) into record counts. */
export function parseCounts(value: string): number[] {
  return value.split(",").map((part) => {
    const match = /^(\d+)([kM]?)$/.exec(part.trim());
    if (match === null) throw new Error(`"${part}" is not a count (e.g. 2000, 100k, 1M)`);
    const n = Number(match[1]) * (match[2] === "k" ? 1_000 : match[2] === "M" ? 1_000_000 : 1);
    if (n < 1) throw new Error(`"${part}": a data set needs at least one record`);
    return n;
  });
}

/** "100k", "1M", "10M", "2000" for labels. */
export function countLabel(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}
