// The report: one row per (measure, metric) with the median over rounds and
// the ratios asked for — Statehouse / etcd and Statehouse / PostgreSQL in the
// same cell, and rate / no-op rate of the same protocol and concurrency —
// rendered as JSON and Markdown.
import type { BenchPlan } from "./bench-plan.js";
import type { MachineInfo } from "./machine-info.js";
import type { ProfileSummary } from "./profile/cpu-profile-summary.js";
import { FIGURES, type Figure, type System } from "./measure.js";
import { formatNumber, type MeasureSamples } from "./run-rounds.js";
import { median, roundSig } from "./stats.js";

export const REPORT_SCHEMA = "statehouse-bench/1";

export interface ReportRow {
  measureId: string;
  figure: Figure;
  cell: string;
  subject: string;
  system: System;
  metric: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  runs: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
  /** The round of each sample (same order). */
  sampleRounds: number[];
  /**
   * Median over rounds of (this row's sample / the reference row's sample of
   * the same round): runs of one round ran minutes apart at most, so drift
   * cancels. Falls back to the ratio of medians when no round has both.
   */
  ratios: { vsEtcd?: number; vsPostgres?: number; vsNoop?: number; vsBase?: number };
}

export interface BenchReport {
  schema: typeof REPORT_SCHEMA;
  mode: BenchPlan["mode"];
  command: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  plan: {
    rounds: number;
    warmupMs: number;
    commitMs: number;
    shortMs: number;
    concurrency: number[];
    replayEvents: number;
    datasets: number[];
    idleWatchers: number;
    figures: Figure[];
    peers: boolean;
  };
  machine: MachineInfo;
  versions: Record<string, string>;
  rows: ReportRow[];
  errors: { measureId: string; subject: string; cell: string; message: string }[];
  skipped: string[];
  notes: string[];
  /** Daemon CPU profiles under load (full mode or --profile). */
  profiles: ProfileSummary[];
  /** The aims, checked against the medians. */
  aims: Aim[];
}

export interface Aim {
  aim: string;
  measured: string;
  met: boolean;
}

export interface ReportInput {
  plan: BenchPlan;
  command: string;
  startedAt: Date;
  finishedAt: Date;
  machine: MachineInfo;
  versions: Record<string, string>;
  results: readonly MeasureSamples[];
  skipped: string[];
  notes: string[];
  profiles?: ProfileSummary[];
}

export function buildReport(input: ReportInput): BenchReport {
  const rows: ReportRow[] = [];
  for (const { measure, samples, rounds } of input.results) {
    for (const spec of measure.metrics) {
      const values: number[] = [];
      const sampleRounds: number[] = [];
      samples.forEach((sample, i) => {
        const value = sample[spec.key];
        if (typeof value !== "number" || !Number.isFinite(value)) return;
        values.push(value);
        sampleRounds.push(rounds?.[i] ?? i);
      });
      if (values.length === 0) continue;
      rows.push({
        measureId: measure.id,
        figure: spec.figure,
        cell: measure.cell,
        subject: measure.subject,
        system: measure.system,
        metric: spec.key,
        label: spec.label,
        unit: spec.unit,
        better: spec.better,
        runs: values.length,
        median: roundSig(median(values), 4),
        min: roundSig(Math.min(...values), 4),
        max: roundSig(Math.max(...values), 4),
        samples: values.map((v) => roundSig(v, 4)),
        sampleRounds,
        ratios: {},
      });
    }
  }
  const byMeasure = new Map(input.results.map((r) => [r.measure.id, r.measure]));
  for (const row of rows) {
    const measure = byMeasure.get(row.measureId);
    if (row.system === "statehouse") {
      for (const peer of ["etcd", "postgres"] as const) {
        const ref = rows.find(
          (r) => r.figure === row.figure && r.cell === row.cell && r.metric === row.metric && byMeasure.get(r.measureId)?.reference === peer,
        );
        const value = ref === undefined ? undefined : roundRatio(row, ref);
        if (value !== undefined) row.ratios[peer === "etcd" ? "vsEtcd" : "vsPostgres"] = value;
      }
    }
    if (measure?.noopRef !== undefined && row.metric === "opsPerSec") {
      const noop = rows.find((r) => r.measureId === measure.noopRef && r.metric === "opsPerSec");
      const value = noop === undefined ? undefined : roundRatio(row, noop);
      if (value !== undefined) row.ratios.vsNoop = value;
    }
    if (measure?.baseRef !== undefined) {
      const base = rows.find((r) => r.measureId === measure.baseRef && r.metric === row.metric);
      const value = base === undefined ? undefined : roundRatio(row, base);
      if (value !== undefined) row.ratios.vsBase = value;
    }
  }
  const errors = input.results.flatMap(({ measure, errors: messages }) =>
    messages.map((message) => ({ measureId: measure.id, subject: measure.subject, cell: measure.cell, message })),
  );
  const { plan } = input;
  return {
    schema: REPORT_SCHEMA,
    mode: plan.mode,
    command: input.command,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    durationSeconds: Math.round((input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
    plan: {
      rounds: plan.rounds,
      warmupMs: plan.warmupMs,
      commitMs: plan.commitMs,
      shortMs: plan.shortMs,
      concurrency: [...plan.concurrency],
      replayEvents: plan.replayEvents,
      datasets: [...plan.datasets],
      idleWatchers: plan.idleWatchers,
      figures: FIGURES.filter((f) => plan.figures.has(f)),
      peers: plan.peers,
    },
    machine: input.machine,
    versions: input.versions,
    rows,
    errors,
    skipped: input.skipped,
    notes: [...input.notes, ...derivedNotes(rows)],
    profiles: input.profiles ?? [],
    aims: checkAims(rows),
  };
}

/** Median of the per-round ratios a/b (see ReportRow.ratios); undefined when b is 0. */
export function roundRatio(a: ReportRow, b: ReportRow): number | undefined {
  const perRound: number[] = [];
  a.sampleRounds.forEach((round, i) => {
    const j = b.sampleRounds.indexOf(round);
    const denominator = j < 0 ? 0 : (b.samples[j] as number);
    if (denominator !== 0) perRound.push((a.samples[i] as number) / denominator);
  });
  if (perRound.length > 0) return roundSig(median(perRound), 3);
  return b.median === 0 ? undefined : roundSig(a.median / b.median, 3);
}

/**
 * Issue 13's aims: P3 TS SDK replay ≥ 1.0× etcd's range read and Python SDK ≥ 100k events/s;
 * P1 at the highest concurrency, the SDK paths (TS withTransaction, Python with-block) ≥ 0.9×
 * the raw one-Transact path of the same language in the same run.
 */
function batchedAims(rows: readonly ReportRow[], topP1: readonly ReportRow[]): Aim[] {
  const aims: Aim[] = [];
  const p3 = (id: string): ReportRow | undefined => rows.find((r) => r.figure === "P3" && r.metric === "eventsPerSec" && r.measureId === `p3.${id}`);
  const tsReplay = p3("sh-ts-sdk");
  const etcdRange = p3("etcd-range");
  if (tsReplay !== undefined && etcdRange !== undefined && etcdRange.median > 0) {
    const ratio = roundSig(tsReplay.median / etcdRange.median, 3);
    aims.push({ aim: "P3: TS SDK replay ≥ 1.0× etcd's range read", measured: `${formatNumber(tsReplay.median)} vs ${formatNumber(etcdRange.median)} events/s = ${ratio}×`, met: ratio >= 1 });
  }
  const pyReplay = p3("sh-py-sdk");
  if (pyReplay !== undefined) {
    aims.push({ aim: "P3: Python SDK replay ≥ 100k events/s", measured: `${formatNumber(pyReplay.median)} events/s`, met: pyReplay.median >= 100_000 });
  }
  const p1 = (suffix: string): ReportRow | undefined => topP1.find((r) => r.measureId.endsWith(`.${suffix}`));
  for (const [who, sdkId, rawId, rawName] of [
    ["TS SDK withTransaction", "sh-ts-with", "sh-ts-transact", "TS Connect Transact"],
    ["Python SDK with-block", "sh-py-sdk", "sh-grpcio", "grpcio Transact"],
  ] as const) {
    const sdk = p1(sdkId);
    const raw = p1(rawId);
    if (sdk === undefined || raw === undefined || raw.median === 0) continue;
    const ratio = roundSig(sdk.median / raw.median, 3);
    aims.push({ aim: `P1 at ${sdk.cell}: ${who} ≥ 0.9× ${rawName}`, measured: `${formatNumber(sdk.median)} vs ${formatNumber(raw.median)}/s = ${ratio}×`, met: ratio >= 0.9 });
  }
  return aims;
}

/** The subject every issue-12 aim reads: the grpc-js client, the same client stack as the etcd rows. */
const GRPC_JS = "sh-grpc-js";

/**
 * Issue 12's aims (a commit path that costs no more CPU than etcd's), all from rows of the same run,
 * on the grpc-js rows (the etcd rows' client stack): at the top concurrency the daemon's CPU per
 * commit ≤ etcd's per put and P1 ≥ etcd put and ≥ PostgreSQL's 4-statement transaction; no-op Health
 * ≥ 50% of the raw node:http2 echo rate; P2 (1 client) p50 ≤ etcd's and p99 ≤ 2 ms; P5 the daemon's
 * CPU per read ≤ etcd's per range read and reads/s ≥ PostgreSQL's primary-key select.
 */
export function commitPathAims(rows: readonly ReportRow[]): Aim[] {
  const aims: Aim[] = [];
  const find = (measureId: string, metric: string): ReportRow | undefined => rows.find((r) => r.measureId === measureId && r.metric === metric);
  // The highest concurrency of the run (P1, the no-op rows and P5 all run at it).
  const concurrency = Math.max(...rows.map((r) => Number(/^(\d+) clients?$/.exec(r.cell)?.[1] ?? 0)));
  const topCell = concurrency === 1 ? "1 client" : `${concurrency} clients`;
  if (concurrency > 1) {
    const cpu = find(`p1.c${concurrency}.${GRPC_JS}`, "serverCpuUsPerOp");
    const etcdCpu = find(`p1.c${concurrency}.etcd-put`, "serverCpuUsPerOp");
    if (cpu?.ratios.vsEtcd !== undefined && etcdCpu !== undefined) {
      aims.push({
        aim: `P1 at ${topCell}: daemon CPU per commit (grpc-js Transact) ≤ 1.0× etcd's CPU per put`,
        measured: `${formatNumber(cpu.median)} vs ${formatNumber(etcdCpu.median)} µs = ${cpu.ratios.vsEtcd}×`,
        met: cpu.ratios.vsEtcd <= 1,
      });
    }
    const rate = find(`p1.c${concurrency}.${GRPC_JS}`, "opsPerSec");
    for (const [peer, key, what] of [["etcd", "vsEtcd", "etcd put"], ["PostgreSQL", "vsPostgres", "PostgreSQL's 4-statement transaction"]] as const) {
      const value = rate?.ratios[key];
      if (rate === undefined || value === undefined) continue;
      aims.push({ aim: `P1 at ${topCell}: grpc-js Transact ≥ 1.0× ${what}`, measured: `${formatNumber(rate.median)}/s = ${value}× ${peer}`, met: value >= 1 });
    }
    const echo = find(`ctx.noop.c${concurrency}.http2`, "opsPerSec");
    for (const [kind, who] of [["grpc-js", "gRPC (grpc-js)"], ["connect-h2", "Connect HTTP/2 (connect-node)"]] as const) {
      const health = find(`ctx.noop.c${concurrency}.${kind}`, "opsPerSec");
      const value = health === undefined || echo === undefined ? undefined : roundRatio(health, echo);
      if (health === undefined || echo === undefined || value === undefined) continue;
      aims.push({
        aim: `no-op Health at ${topCell}, ${who} ≥ 50% of the raw node:http2 echo rate`,
        measured: `${formatNumber(health.median)} vs ${formatNumber(echo.median)}/s = ${roundSig(value * 100, 3)}%`,
        met: value >= 0.5,
      });
    }
  }
  const reads = find(`p5.${GRPC_JS}`, "opsPerSec");
  const readCpu = find(`p5.${GRPC_JS}`, "serverCpuUsPerOp");
  const etcdReadCpu = find("p5.etcd-get", "serverCpuUsPerOp");
  if (readCpu?.ratios.vsEtcd !== undefined && etcdReadCpu !== undefined) {
    aims.push({
      aim: `P5 at ${readCpu.cell}: daemon CPU per read (grpc-js GetState) ≤ 1.0× etcd's CPU per range read`,
      measured: `${formatNumber(readCpu.median)} vs ${formatNumber(etcdReadCpu.median)} µs = ${readCpu.ratios.vsEtcd}×`,
      met: readCpu.ratios.vsEtcd <= 1,
    });
  }
  if (reads?.ratios.vsPostgres !== undefined) {
    aims.push({
      aim: `P5 at ${reads.cell}: grpc-js GetState ≥ 1.0× PostgreSQL's primary-key select (pg)`,
      measured: `${formatNumber(reads.median)}/s = ${reads.ratios.vsPostgres}× PostgreSQL`,
      met: reads.ratios.vsPostgres >= 1,
    });
  }
  const p50 = find(`p1.c1.${GRPC_JS}`, "p50Ms");
  const etcdP50 = find("p1.c1.etcd-put", "p50Ms");
  if (p50?.ratios.vsEtcd !== undefined && etcdP50 !== undefined) {
    aims.push({ aim: "P2 (1 client): grpc-js Transact p50 ≤ etcd put's p50", measured: `${formatNumber(p50.median)} vs ${formatNumber(etcdP50.median)} ms = ${p50.ratios.vsEtcd}×`, met: p50.ratios.vsEtcd <= 1 });
  }
  const p99 = find(`p1.c1.${GRPC_JS}`, "p99Ms");
  if (p99 !== undefined) aims.push({ aim: "P2 (1 client): grpc-js Transact p99 ≤ 2 ms", measured: `${formatNumber(p99.median)} ms`, met: p99.median <= 2 });
  return aims;
}

/**
 * The aims of issue 8: P1 at the highest concurrency >= etcd and >= PostgreSQL
 * (for the TS SDK and for the best Statehouse client), P3 >= 200k events/s to
 * the TS SDK, P4 <= 1 s at 1M events, P6 flat in the number of records; and
 * issue 11's on the data sets (`scaleAims`).
 */
export function checkAims(rows: readonly ReportRow[]): Aim[] {
  const aims: Aim[] = [];
  const p1 = rows.filter((r) => r.figure === "P1" && r.metric === "opsPerSec");
  const clients = (cell: string): number => Number(/^(\d+) clients?$/.exec(cell)?.[1] ?? Number.NaN);
  const topCell = p1
    .filter((r) => Number.isFinite(clients(r.cell)))
    .reduce<string | undefined>((cell, r) => (cell === undefined || clients(r.cell) > clients(cell) ? r.cell : cell), undefined);
  const top = p1.filter((r) => r.cell === topCell);
  const sdk = top.find((r) => r.measureId.endsWith(".sh-ts-sdk"));
  const best = top.filter((r) => r.system === "statehouse").sort((a, b) => b.median - a.median)[0];
  for (const [peer, key] of [["etcd", "vsEtcd"], ["PostgreSQL", "vsPostgres"]] as const) {
    for (const [who, row] of [["TS SDK", sdk], [`best Statehouse client (${best?.subject ?? ""})`, best]] as const) {
      const value = row?.ratios[key];
      if (row === undefined || value === undefined) continue;
      aims.push({ aim: `P1 at ${topCell}: ${who} ≥ ${peer}`, measured: `${formatNumber(row.median)}/s = ${value}× ${peer}`, met: value >= 1 });
    }
  }
  const replay = rows.find((r) => r.figure === "P3" && r.measureId === "p3.sh-ts-sdk");
  if (replay !== undefined) {
    aims.push({ aim: "P3: replay ≥ 200k events/s to the TS SDK", measured: `${formatNumber(replay.median)} events/s (${replay.cell})`, met: replay.median >= 200_000 });
  }
  aims.push(...batchedAims(rows, top));
  aims.push(...commitPathAims(rows));
  const restart = rows.find((r) => r.figure === "P4" && r.metric === "restartMs" && r.cell === "1M events");
  if (restart !== undefined) {
    aims.push({ aim: "P4: restart-to-serving ≤ 1 s at 1M events", measured: `${formatNumber(restart.median)} ms`, met: restart.median <= 1000 });
  }
  const rss = rows.filter((r) => r.metric === "vmHwmMiB");
  const small = rss[0];
  const large = rss.at(-1);
  if (small !== undefined && large !== undefined && small !== large) {
    const growth = large.median / small.median;
    aims.push({
      aim: "P6: peak RSS flat in the number of records (≤ 1.25× across data sets)",
      measured: `${formatNumber(small.median)} MiB at ${small.cell} → ${formatNumber(large.median)} MiB at ${large.cell} (${roundSig(growth, 3)}×)`,
      met: growth <= 1.25,
    });
  }
  aims.push(...scaleAims(rows));
  return aims;
}

/** Issue 11's aims on the data sets: costs that do not grow with the records, and absolute memory. */
function scaleAims(rows: readonly ReportRow[]): Aim[] {
  const aims: Aim[] = [];
  const at = (metric: string, cell: string): ReportRow | undefined => rows.find((r) => r.measureId.startsWith("p4.") && r.metric === metric && r.cell === cell);
  const cells = [...new Set(rows.filter((r) => r.measureId.startsWith("p4.") && r.metric === "restartMs").map((r) => r.cell))];
  const first = cells[0];
  const last = cells.at(-1);
  if (last !== undefined && first !== undefined && first !== last) {
    for (const metric of ["restartMs", "crashRestartMs"]) {
      const row = at(metric, last);
      if (row !== undefined) {
        aims.push({ aim: `P4: ${metric === "restartMs" ? "restart-to-serving" : "restart-to-serving after SIGKILL"} ≤ 1 s at ${last}`, measured: `${formatNumber(row.median)} ms`, met: row.median <= 1000 });
      }
    }
    const p1Small = at("datasetCommitsPerSec", first);
    const p1Large = at("datasetCommitsPerSec", last);
    if (p1Small !== undefined && p1Large !== undefined) {
      const r = p1Large.median / p1Small.median;
      aims.push({
        aim: `P1 (64 clients) at ${last} within 10% of ${first}`,
        measured: `${formatNumber(p1Small.median)}/s → ${formatNumber(p1Large.median)}/s (${roundSig(r, 3)}×)`,
        met: r >= 0.9,
      });
    }
  }
  // Issue 11 states these limits in MB (10^6 bytes); the bench measures MiB.
  for (const [cell, limitMb] of [["100k events", 150], ["10M events", 250]] as const) {
    const row = at("vmHwmMiB", cell);
    const limitMiB = (limitMb * 1e6) / 2 ** 20;
    if (row !== undefined) {
      aims.push({ aim: `P6: peak RSS ≤ ${limitMb} MB (${formatNumber(limitMiB)} MiB) at ${cell}`, measured: `${formatNumber(row.median)} MiB`, met: row.median <= limitMiB });
    }
  }
  const watchers = rows.filter((r) => r.metric === "watchersRatio");
  if (watchers.length > 0) {
    const worst = watchers.reduce((a, b) => (b.median < a.median ? b : a));
    aims.push({
      aim: "Watch: P1 with idle watchers on other agents ≈ P1 without (≥ 0.9×, worst data set)",
      measured: `${worst.median}× at ${worst.cell}`,
      met: worst.median >= 0.9,
    });
  }
  return aims;
}

/** The columns of the one-table-per-size view of the data sets (`scaleTable`). */
const SCALE_COLUMNS: readonly { metric: string; title: string }[] = [
  { metric: "datasetCommitsPerSec", title: "P1 commits/s (64 clients)" },
  { metric: "datasetServerCpuUsPerOp", title: "daemon CPU µs/commit" },
  { metric: "jsThreadCpuUsPerOp", title: "… JS thread" },
  { metric: "rocksdbCpuUsPerOp", title: "… RocksDB background" },
  { metric: "writeAmplification", title: "disk bytes / committed byte" },
  { metric: "wcharAmplification", title: "write() bytes / committed byte" },
  { metric: "watchersRatio", title: "P1 with idle watchers ÷ without" },
  { metric: "restartMs", title: "restart after SIGTERM (ms)" },
  { metric: "recoveryMs", title: "… engine recovery (ms)" },
  { metric: "crashRestartMs", title: "restart after SIGKILL (ms)" },
  { metric: "crashRecoveryMs", title: "… engine recovery (ms)" },
  { metric: "crashEventsReplayed", title: "… events replayed" },
  { metric: "vmHwmMiB", title: "peak RSS (MiB)" },
];

/** P1, restart, RSS, write amplification and watchers by data set size, one row per size (Markdown lines). */
export function scaleTable(rows: readonly ReportRow[]): string[] {
  const dataset = rows.filter((r) => r.measureId.startsWith("p4."));
  const cells = [...new Set(dataset.map((r) => r.cell))];
  if (cells.length === 0) return [];
  const lines = [`| records | ${SCALE_COLUMNS.map((c) => c.title).join(" | ")} |`, `|---|${SCALE_COLUMNS.map(() => "--:").join("|")}|`];
  for (const cell of cells) {
    const values = SCALE_COLUMNS.map(({ metric }) => {
      const row = dataset.find((r) => r.cell === cell && r.metric === metric);
      return row === undefined ? "" : formatNumber(row.median);
    });
    lines.push(`| ${escapeCell(cell.replace(/ events$/, ""))} | ${values.join(" | ")} |`);
  }
  return lines;
}

/** Flatness of P6 stated in words. */
function derivedNotes(rows: readonly ReportRow[]): string[] {
  const notes: string[] = [];
  const rss = rows.filter((r) => r.metric === "vmHwmMiB");
  const first = rss[0];
  const last = rss.at(-1);
  if (first !== undefined && last !== undefined && first !== last) {
    notes.push(`P6: peak RSS ${formatNumber(last.median)} MiB at ${last.cell} vs ${formatNumber(first.median)} MiB at ${first.cell} (x${roundSig(last.median / first.median, 3)}).`);
  }
  return notes;
}

const FIGURE_TITLES: Record<Figure, string> = {
  P1: "P1 — durable commits/s (one 200-byte JSON value per transaction)",
  P2: "P2 — single-client commit latency",
  P3: "P3 — replay of one agent's events",
  P4: "P4 — daemon restart-to-serving time (default snapshots)",
  P5: "P5 — point reads/s",
  P6: "P6 — daemon peak RSS",
  LG: "LG — LangGraph checkpoint put + get_tuple/s (same graph's checkpoints, Python savers)",
  context: "Context — the limits: no-op calls, raw HTTP/2, disk",
  protocols: "Protocols — Transact and BeginTransaction/Write/Commit per protocol and client (÷ no-op: the same protocol's Health)",
  fastpath: "Fast path — daemon CPU per call with the fast path on and off (raw node:http2 client, pre-encoded requests; ÷ base: ÷ connect-node)",
  flags: "Node flags — the daemon under each set of Node flags (raw node:http2 client; ÷ base: ÷ the first variant)",
  threads: "RPC threads — throughput and daemon CPU per call against --rpc-threads (raw node:http2 client over 16 connections; ÷ base: ÷ the first thread count)",
  engine: "Engine — commits and replay in-process, no RPC (÷ base: ÷ the binding's raw synced-batch rate)",
};

const CPU_METRICS = new Set(["serverCpuUsPerOp", "clientCpuUsPerOp"]);

function ratio(value: number | undefined): string {
  return value === undefined ? "" : `${value.toFixed(value >= 10 ? 1 : 2)}×`;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|");
}

export function reportToMarkdown(report: BenchReport, chartFile?: string): string {
  const lines: string[] = [];
  const m = report.machine;
  lines.push(`# Statehouse bench (${report.mode})`, "");
  lines.push(`Command: \`${report.command}\` — ${report.startedAt} → ${report.finishedAt} (${report.durationSeconds} s), ${report.plan.rounds} alternating round(s); each figure is the median over rounds (min–max shown).`, "");
  lines.push("| machine | |", "|---|---|");
  lines.push(`| CPU | ${m.nproc} × ${escapeCell(m.cpuModel)} |`);
  lines.push(`| memory | ${m.memoryGiB} GiB |`);
  lines.push(`| disk | ${escapeCell(m.disk)} |`);
  lines.push(`| kernel | ${escapeCell(m.kernel)} |`);
  lines.push(`| OS | ${escapeCell(m.os)} |`);
  lines.push(`| load average (1 min) | ${m.loadAverage.start} at start, ${m.loadAverage.end} at end (${m.nproc} cores; at start this is other work sharing the machine, at the end it includes the bench itself) |`);
  for (const [name, version] of Object.entries(report.versions)) lines.push(`| ${escapeCell(name)} | ${escapeCell(version)} |`);
  lines.push("");
  if (report.aims.length > 0) {
    lines.push("## Aims", "", "| aim | measured | met |", "|---|---|---|");
    for (const aim of report.aims) lines.push(`| ${escapeCell(aim.aim)} | ${escapeCell(aim.measured)} | ${aim.met ? "yes" : "**no**"} |`);
    lines.push("");
  }
  const scale = scaleTable(report.rows);
  if (scale.length > 0) {
    lines.push(
      "## By data set size (P1 at 64 clients, write amplification, watchers, P4, P6)",
      "",
      "Medians over rounds; the rows behind each figure (min–max, every sample) are in the sections below and in the JSON.",
      "",
      ...scale,
      "",
    );
  }
  for (const figure of FIGURES) {
    const rows = report.rows.filter((r) => r.figure === figure && !CPU_METRICS.has(r.metric));
    const cpuRows = report.rows.filter((r) => r.figure === figure && r.metric === "serverCpuUsPerOp");
    if (rows.length === 0) continue;
    // The "÷ base" column only where a row of the figure has a base (fast path, flags, engine).
    const withBase = report.rows.some((r) => r.figure === figure && r.ratios.vsBase !== undefined);
    const base = (r: ReportRow): string => (withBase ? ` ${ratio(r.ratios.vsBase)} |` : "");
    lines.push(`## ${FIGURE_TITLES[figure]}`, "");
    if (figure === "P1" && chartFile !== undefined) lines.push(`![P1 across concurrency](${chartFile})`, "");
    lines.push(`| cell | subject | metric | median | min–max | ÷ etcd | ÷ PostgreSQL | ÷ no-op |${withBase ? " ÷ base |" : ""}`, `|---|---|---|--:|--:|--:|--:|--:|${withBase ? "--:|" : ""}`);
    for (const r of rows) {
      const unit = r.unit === "/s" ? "/s" : ` ${r.unit}`;
      lines.push(
        `| ${escapeCell(r.cell)} | ${escapeCell(r.subject)} | ${escapeCell(r.label)}${r.better === "lower" ? " (lower is better)" : ""} | ${formatNumber(r.median)}${unit} | ${formatNumber(r.min)}–${formatNumber(r.max)} | ${ratio(r.ratios.vsEtcd)} | ${ratio(r.ratios.vsPostgres)} | ${ratio(r.ratios.vsNoop)} |${base(r)}`,
      );
    }
    lines.push("");
    if (cpuRows.length > 0) {
      lines.push(
        "CPU time per operation over the measurement window (median over rounds): the server process(es) from /proc (PostgreSQL: postmaster + backends), the client from its own process.",
        "",
        `| cell | subject | server CPU µs/op | client CPU µs/op | server ÷ etcd | server ÷ PostgreSQL |${withBase ? " server ÷ base |" : ""}`,
        `|---|---|--:|--:|--:|--:|${withBase ? "--:|" : ""}`,
      );
      for (const r of cpuRows) {
        const client = report.rows.find((c) => c.measureId === r.measureId && c.metric === "clientCpuUsPerOp");
        lines.push(
          `| ${escapeCell(r.cell)} | ${escapeCell(r.subject)} | ${formatNumber(r.median)} | ${client === undefined ? "" : formatNumber(client.median)} | ${ratio(r.ratios.vsEtcd)} | ${ratio(r.ratios.vsPostgres)} |${base(r)}`,
        );
      }
      lines.push("");
    }
  }
  if (report.profiles.length > 0) {
    lines.push("## Where the daemon's time goes (CPU profile, `node --cpu-prof`)", "");
    for (const p of report.profiles) {
      lines.push(`**${p.scenario}** — sampled ${p.sampledMs} ms, daemon busy ${p.busyPct}% of it. Busy time by part:`, "");
      lines.push(p.categories.filter((c) => c.pct >= 0.5).map((c) => `${escapeCell(c.name)} ${c.pct}%`).join(" · "), "");
      lines.push("| top self time | where | % of busy |", "|---|---|--:|");
      for (const f of p.topFunctions) lines.push(`| ${escapeCell(f.name)} | ${escapeCell(f.where)} | ${f.pct} |`);
      lines.push("");
    }
  }
  if (report.notes.length > 0) lines.push("## Notes", "", ...report.notes.map((n) => `- ${n}`), "");
  if (report.skipped.length > 0) lines.push("## Skipped", "", ...report.skipped.map((s) => `- ${s}`), "");
  if (report.errors.length > 0) {
    lines.push("## Errors", "", ...report.errors.map((e) => `- ${e.subject} [${e.cell}]: ${escapeCell(e.message.split("\n")[0] ?? "")}`), "");
  }
  return lines.join("\n");
}
