// The soak's plan (`npm run bench -- --soak [--duration 30m]`) and the pure parts of its report:
// the load sized from the duration, outcomes split into what the load asks for and what it does
// not, p99 per window, and whether a series (RSS, disk) levels off. The runner is soak-bench.ts.
import { percentileOfSorted, roundSig } from "./stats.js";

export type SoakScale = "full" | "tiny";

export interface SoakPlan {
  scale: SoakScale;
  durationMs: number;
  /** Latency windows (p99 per window): 5 min in a long run, a sixth of a short one. */
  windowMs: number;
  /** RSS / disk / metrics sampling period. */
  sampleMs: number;
  connections: {
    /** TS SDK clients (`new Statehouse()`: one HTTP/2 connection each): the mixed load and the watches. */
    tsSdk: number;
    /** connect-node gRPC clients of the generated service (one HTTP/2 connection each): the held server transactions (the TS SDK's transactions are client-side). */
    tsRaw: number;
    pythonProcesses: number;
    /** Python SDK clients per process (`Statehouse(protocol="grpc")`: one HTTP/2 connection each). */
    pythonClientsPerProcess: number;
  };
  /** Server transactions held open (BeginTransaction + staged Writes) at all times, replaced as they finish. */
  held: { ts: number; pythonPerProcess: number; writesPerTxn: number; lifetimeMs: { min: number; max: number }; commitShare: number; rampMs: number };
  /** Server transactions begun with a short timeout and committed after it: TXN_EXPIRED asked for. */
  expiring: { tsPerSec: number; pythonPerSecPerProcess: number; timeoutMs: number; commitAfterMs: number };
  /** Open-loop rates (operations/s) of the mixed load, TS side and per Python process. */
  rates: { ts: MixedRates; pythonPerProcess: MixedRates };
  watches: { ts: number; pythonPerProcess: number; restartMs: number };
  /** Every connection makes a call at least this often (real idle clients; the daemon closes connections idle for 5 min). */
  heartbeatMs: { min: number; max: number };
  /** Calls of one kind in flight at most; an arrival beyond it is counted as skipped (the client fell behind). */
  maxInFlightPerKind: number;
  daemon: {
    /** STATEHOUSE_TEST_CLOCK_RATE */
    clockRate: number;
    /** The namespace's keep-duration policy, in test-clock ms (= retentionRealMs × clockRate). */
    retentionKeepMs: number;
    retentionRealMs: number;
    compactionIntervalMs: number;
    /** STATEHOUSE_IDEMPOTENCY_WINDOW_MS, in test-clock ms. */
    idempotencyWindowMs: number;
    /** STATEHOUSE_MAX_OPEN_TRANSACTIONS: the held ones plus the expiring and headroom. */
    maxOpenTransactions: number;
  };
  agents: number;
  hotAgents: number;
  keysPerAgent: number;
}

export interface MixedRates {
  /** One-shot transact of 1-3 writes. */
  commit: number;
  /** Read-write transaction (get + write + commit, optimistic: CONFLICT possible). */
  readWrite: number;
  get: number;
  /** As-of read at a commit of the last retention/4 (must succeed). */
  asOfRecent: number;
  /** As-of read at a commit older than 3 retention periods (HISTORY_COMPACTED once compaction ran). */
  asOfOld: number;
  /** Replay of the last commits from a recent commit_ts (must succeed). */
  replayRecent: number;
  /** Replay from commit_ts 1 (HISTORY_COMPACTED once the horizon moved). */
  replayFromStart: number;
}

export const SOAK_NAMESPACE = "soak";
export const FULL_SOAK_MS = 30 * 60_000;

const clamp = (value: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, value));

/** `30m`, `90s`, `1h`, `500ms` or plain seconds. */
export function parseDuration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (match === null) throw new Error(`--duration: expected e.g. 30m, 60s, 1h or seconds, got ${JSON.stringify(raw)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"];
  const ms = Math.round(Number(match[1]) * unit);
  if (ms < 5_000) throw new Error(`--duration: at least 5 s, got ${raw}`);
  return ms;
}

export function soakPlan(durationMs: number, scale: SoakScale = "full"): SoakPlan {
  const full = scale === "full";
  const clockRate = 60;
  // 30 min: history is kept 1 h of test clock = 60 s of real time, compacted every 60 s (the
  // default interval); a short run shrinks both so that compaction still runs many times.
  const retentionRealMs = Math.round(clamp(durationMs / 30, 2_000, 60_000));
  const meanLifetime = clamp(durationMs / 6, full ? 120_000 : 1_000, 300_000);
  const tsRates: MixedRates = full
    ? { commit: 12, readWrite: 4, get: 20, asOfRecent: 4, asOfOld: 2, replayRecent: 1, replayFromStart: 0.2 }
    : { commit: 10, readWrite: 3, get: 10, asOfRecent: 3, asOfOld: 2, replayRecent: 1, replayFromStart: 0.5 };
  const pyRates: MixedRates = full
    ? { commit: 4, readWrite: 1, get: 5, asOfRecent: 1.5, asOfOld: 1, replayRecent: 0.5, replayFromStart: 0.1 }
    : { commit: 4, readWrite: 1, get: 4, asOfRecent: 2, asOfOld: 1, replayRecent: 1, replayFromStart: 0.5 };
  const held = full ? { ts: 6_000, pythonPerProcess: 2_000 } : { ts: 100, pythonPerProcess: 50 };
  const pythonProcesses = full ? 2 : 1;
  return {
    scale,
    durationMs,
    windowMs: durationMs >= 15 * 60_000 ? 5 * 60_000 : Math.max(2_000, Math.round(durationMs / 6)),
    sampleMs: durationMs >= 15 * 60_000 ? 5_000 : Math.round(clamp(durationMs / 60, 500, 5_000)),
    connections: full
      ? { tsSdk: 300, tsRaw: 300, pythonProcesses, pythonClientsPerProcess: 200 }
      : { tsSdk: 8, tsRaw: 8, pythonProcesses, pythonClientsPerProcess: 8 },
    held: { ...held, writesPerTxn: 2, lifetimeMs: { min: Math.round(meanLifetime * 0.2), max: Math.round(meanLifetime * 1.8) }, commitShare: 0.5, rampMs: full ? 60_000 : Math.min(2_000, durationMs / 4) },
    expiring: { tsPerSec: full ? 0.5 : 1, pythonPerSecPerProcess: full ? 0.2 : 1, timeoutMs: full ? 5_000 : 1_000, commitAfterMs: full ? 7_000 : 1_500 },
    rates: { ts: tsRates, pythonPerProcess: pyRates },
    watches: { ts: full ? 100 : 4, pythonPerProcess: full ? 10 : 2, restartMs: Math.round(clamp(durationMs / 6, 2_000, 300_000)) },
    heartbeatMs: full ? { min: 60_000, max: 180_000 } : { min: 2_000, max: 6_000 },
    maxInFlightPerKind: 64,
    daemon: {
      clockRate,
      retentionRealMs,
      retentionKeepMs: retentionRealMs * clockRate,
      compactionIntervalMs: Math.round(clamp(durationMs / 30, 1_000, 60_000)),
      idempotencyWindowMs: Math.max(1_000, retentionRealMs * clockRate),
      maxOpenTransactions: Math.ceil(((held.ts + held.pythonPerProcess * pythonProcesses) * 1.1) / 1000) * 1000,
    },
    agents: full ? 1_000 : 50,
    hotAgents: full ? 50 : 5,
    keysPerAgent: 20,
  };
}

/** Total connections the plan opens (the daemon's statehouse_open_connections should show them). */
export function plannedConnections(plan: SoakPlan): number {
  const c = plan.connections;
  return c.tsSdk + c.tsRaw + c.pythonProcesses * c.pythonClientsPerProcess;
}

export function plannedHeldTransactions(plan: SoakPlan): number {
  return plan.held.ts + plan.held.pythonPerProcess * plan.connections.pythonProcesses;
}

/** "ok", a code the load asks for, or an unexpected one; counted per operation kind. */
export type OutcomeClass = "ok" | "expected" | "unexpected";

/**
 * Which error codes each kind of operation asks for. Anything else (and any error of a kind that
 * asks for none) is unexpected.
 */
export const EXPECTED_CODES: Readonly<Record<string, readonly string[]>> = {
  // committed after its timeout on purpose
  expire: ["TXN_EXPIRED"],
  // optimistic read-write transactions on shared keys
  readWrite: ["CONFLICT"],
  // an as-of read / replay behind the horizon, once compaction moved it
  asOfOld: ["HISTORY_COMPACTED"],
  replayFromStart: ["HISTORY_COMPACTED"],
};

export function classify(kind: string, code: string | null): OutcomeClass {
  if (code === null) return kind === "expire" ? "unexpected" : "ok";
  return (EXPECTED_CODES[kind] ?? []).includes(code) ? "expected" : "unexpected";
}

/** Latencies of one window of one source (TS or Python), by operation kind. */
export class LatencyWindows {
  private readonly windows = new Map<number, Map<string, number[]>>();

  constructor(private readonly windowMs: number) {}

  add(atMs: number, kind: string, latencyMs: number): void {
    const index = Math.floor(atMs / this.windowMs);
    let byKind = this.windows.get(index);
    if (byKind === undefined) this.windows.set(index, (byKind = new Map()));
    let list = byKind.get(kind);
    if (list === undefined) byKind.set(kind, (list = []));
    list.push(latencyMs);
  }

  /** One row per window (in order) and kind: count, p50, p99, max. Windows with no calls at all are left out. */
  summary(durationMs: number): WindowSummary[] {
    const out: WindowSummary[] = [];
    for (const index of [...this.windows.keys()].sort((a, b) => a - b)) {
      const startMs = index * this.windowMs;
      if (durationMs - startMs < this.windowMs / 10) continue; // the last reports, after the load stopped
      const byKind = this.windows.get(index) ?? new Map<string, number[]>();
      const kinds: WindowSummary["kinds"] = {};
      for (const [kind, list] of [...byKind.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const sorted = Float64Array.from(list).sort();
        kinds[kind] = { count: sorted.length, p50Ms: roundSig(percentileOfSorted(sorted, 50)), p99Ms: roundSig(percentileOfSorted(sorted, 99)), maxMs: roundSig(sorted[sorted.length - 1] ?? Number.NaN) };
      }
      out.push({ startS: startMs / 1000, endS: Math.min(durationMs, startMs + this.windowMs) / 1000, kinds });
    }
    return out;
  }
}

export interface WindowSummary {
  startS: number;
  endS: number;
  kinds: Record<string, { count: number; p50Ms: number; p99Ms: number; maxMs: number }>;
}

export interface PlateauVerdict {
  /** The highest sample of each window (the run's latency windows), in order. */
  windowPeaks: number[];
  /** (last window's peak - the one before's) / the one before's. */
  lastPeakRise: number;
  /** Least-squares slope over the second half of the samples, in units per 10 minutes (for information). */
  slopePer10Min: number;
  plateau: boolean;
}

/**
 * Whether a series levels off: the peak of its last window is less than `tolerance` (default
 * 5%) above the peak of the window before. Peaks, not means or a fitted line, because the disk
 * series is a sawtooth (RocksDB compactions free space in steps) and RSS moves with the GC; a
 * leak raises every window's peak. The first windows hold the ramp-up (connections, 10,000
 * transactions, history filling up to the retention horizon).
 */
export function plateau(points: readonly { t: number; v: number }[], windowS: number, tolerance = 0.05): PlateauVerdict {
  const valid = points.filter((p) => Number.isFinite(p.v));
  const endT = Math.max(0, ...valid.map((p) => p.t));
  const windows = Math.max(1, Math.round(endT / windowS));
  const peaks = Array.from({ length: windows }, () => Number.NEGATIVE_INFINITY);
  for (const p of valid) {
    const i = Math.min(windows - 1, Math.floor(p.t / windowS));
    peaks[i] = Math.max(peaks[i] as number, p.v);
  }
  const half = valid.slice(Math.floor(valid.length / 2));
  const n = half.length;
  const meanT = half.reduce((sum, p) => sum + p.t, 0) / n;
  const meanV = half.reduce((sum, p) => sum + p.v, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of half) {
    num += (p.t - meanT) * (p.v - meanV);
    den += (p.t - meanT) ** 2;
  }
  const last = peaks[windows - 1] as number;
  const previous = peaks[windows - 2];
  const lastPeakRise = previous === undefined || !(previous > 0) ? Number.NaN : (last - previous) / previous;
  return {
    windowPeaks: peaks.map((v) => roundSig(v)),
    lastPeakRise: roundSig(lastPeakRise),
    slopePer10Min: roundSig(den === 0 ? 0 : (num / den) * 600),
    plateau: Number.isFinite(lastPeakRise) && lastPeakRise < tolerance,
  };
}
