// How long and how much: one plan per mode (full, --quick, --smoke).
import { FIGURES, type Figure } from "./measure.js";

export interface BenchPlan {
  mode: "full" | "quick" | "smoke";
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
  figures: ReadonlySet<Figure>;
  /** Start etcd and PostgreSQL (false in smoke mode). */
  peers: boolean;
  /** After the rounds, profile the daemon under P1 (and P3) load with --cpu-prof. */
  profile: boolean;
}

export interface PlanOptions {
  quick?: boolean;
  smoke?: boolean;
  huge?: boolean;
  only?: readonly Figure[];
  rounds?: number;
  /** Default: on in full mode, off otherwise. */
  profile?: boolean;
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
      datasets: [2_000],
      figures,
      peers: false,
      profile: options.profile ?? false,
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
    datasets: [100_000, 1_000_000, ...(options.huge === true ? [10_000_000] : [])],
    figures: new Set<Figure>(options.only ?? FIGURES),
    peers: true,
    profile: options.profile ?? true,
  };
  if (options.quick !== true) return full;
  return { ...full, mode: "quick", rounds: options.rounds ?? 2, warmupMs: 300, commitMs: 1_000, shortMs: 700, profile: options.profile ?? false };
}

/** "100k", "1M", "10M", "2000" for labels. */
export function countLabel(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}
