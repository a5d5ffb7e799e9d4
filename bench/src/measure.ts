// What the runner runs and the report lists. A Measure is one subject (a
// system through one client) in one cell of a figure (e.g. P1 at 64 clients);
// each run returns named metrics, and each metric becomes a report row.

export type Figure = "P1" | "P2" | "P3" | "P4" | "P5" | "P6" | "LG" | "context" | "protocols" | "fastpath" | "flags" | "threads" | "engine";
/** Every figure, in report order (`--only` takes any of them). */
export const FIGURES: readonly Figure[] = ["P1", "P2", "P3", "P4", "P5", "P6", "LG", "context", "protocols", "fastpath", "flags", "threads", "engine"];
/**
 * What the full and quick runs measure without `--only`: the comparison with etcd and PostgreSQL.
 * The daemon's and the engine's own figures (per protocol, fast path on/off, Node flags, the engine
 * without RPC) run with `--only`.
 */
export const DEFAULT_FIGURES: readonly Figure[] = ["P1", "P2", "P3", "P4", "P5", "P6", "LG", "context"];

export type System = "statehouse" | "etcd" | "postgres" | "baseline";

export interface MetricSpec {
  /** Key in the metrics a run returns. */
  key: string;
  figure: Figure;
  /** What the number is, e.g. "commits/s". */
  label: string;
  unit: string;
  better: "higher" | "lower";
}

export interface Measure {
  /** Stable id, e.g. "p1.c64.etcd-put". */
  id: string;
  /** The cell inside a figure, e.g. "64 clients" or "100k events". */
  cell: string;
  subject: string;
  system: System;
  /** The peer row Statehouse rows of the same cell are divided by ("etcd" or "postgres"). */
  reference?: "etcd" | "postgres";
  /** Id of the no-op measure (same protocol, same concurrency) this row's rate is divided by. */
  noopRef?: string;
  /** Id of the measure every metric of this row is divided by (the "÷ base" column: e.g. fast path ÷ connect-node). */
  baseRef?: string;
  metrics: readonly MetricSpec[];
  run(): Promise<Record<string, number>>;
}

export interface MeasureGroup {
  /** Measures in a group run back to back, in an order rotated every round. */
  id: string;
  title: string;
  measures: Measure[];
  /** Runs once, before the first round of any group (e.g. loading a data set). */
  setup?: () => Promise<void>;
  /** Runs once after the last round. */
  teardown?: () => Promise<void>;
}

export const opsPerSecMetric = (figure: Figure, label: string): MetricSpec => ({
  key: "opsPerSec",
  figure,
  label,
  unit: "/s",
  better: "higher",
});

export const latencyMetrics: readonly MetricSpec[] = [
  { key: "p50Ms", figure: "P2", label: "commit latency p50", unit: "ms", better: "lower" },
  { key: "p99Ms", figure: "P2", label: "commit latency p99", unit: "ms", better: "lower" },
];

/** Server and client CPU per operation (from the closed loop's CPU probe). */
export function cpuMetrics(figure: Figure, what: string): MetricSpec[] {
  return [
    { key: "serverCpuUsPerOp", figure, label: `server CPU per ${what}`, unit: "µs", better: "lower" },
    { key: "clientCpuUsPerOp", figure, label: `client CPU per ${what}`, unit: "µs", better: "lower" },
  ];
}
