import { describe, expect, test } from "vitest";
import { makePlan } from "./bench-plan.js";
import { buildReport, checkAims, reportToMarkdown, roundRatio, scaleTable, type ReportRow } from "./bench-report.js";
import type { Measure } from "./measure.js";
import { cpuMetrics, latencyMetrics, opsPerSecMetric } from "./measure.js";
import { p1ChartSvg } from "./p1-chart.js";
import { rotate, type MeasureSamples } from "./run-rounds.js";

const machine = { nproc: 2, cpuModel: "cpu", memoryGiB: 24, disk: "ext4 on /dev/vda", kernel: "Linux 6", os: "Debian", node: "v24", loadAverage: { start: 0.5, end: 1 } };

function measure(id: string, system: Measure["system"], extra: Partial<Measure> = {}): Measure {
  return {
    id,
    cell: id.startsWith("ctx") ? "64 clients" : "64 clients",
    subject: `${system} ${id}`,
    system,
    metrics: [opsPerSecMetric(id.startsWith("ctx") ? "context" : "P1", "commits/s")],
    run: () => Promise.resolve({}),
    ...extra,
  };
}

function samples(m: Measure, values: number[], errors: string[] = []): MeasureSamples {
  return { measure: m, samples: values.map((opsPerSec) => ({ opsPerSec })), errors };
}

describe("buildReport", () => {
  const results = [
    samples(measure("p1.sh", "statehouse", { noopRef: "ctx.noop" }), [900, 1000, 1200]),
    samples(measure("p1.etcd", "etcd", { reference: "etcd" }), [400, 500, 600]),
    samples(measure("p1.pg", "postgres", { reference: "postgres" }), [2000]),
    samples(measure("p1.pg-other", "postgres"), [10]),
    samples(measure("ctx.noop", "statehouse"), [4000, 4000]),
    samples(measure("p1.broken", "statehouse"), [], ["Error: boom\n at x"]),
  ];
  const report = buildReport({
    plan: makePlan({ quick: true }),
    command: "npm run bench -- --quick",
    startedAt: new Date("2025-01-01T00:00:00Z"),
    finishedAt: new Date("2025-01-01T00:01:00Z"),
    machine,
    versions: { etcd: "3.4.23" },
    results,
    skipped: [],
    notes: ["a note"],
  });

  test("takes medians and min/max over runs", () => {
    const row = report.rows.find((r) => r.measureId === "p1.sh");
    expect(row).toMatchObject({ median: 1000, min: 900, max: 1200, runs: 3, samples: [900, 1000, 1200] });
    expect(report.durationSeconds).toBe(60);
  });

  test("divides Statehouse rows by the reference rows of the same cell and by their no-op, round by round", () => {
    const row = report.rows.find((r) => r.measureId === "p1.sh");
    // etcd: 900/400, 1000/500, 1200/600 -> median 2; PostgreSQL ran in round 0 only: 900/2000;
    // no-op: 900/4000, 1000/4000 -> median 0.2375 (the ratio of medians would be 0.25).
    expect(row?.ratios).toEqual({ vsEtcd: 2, vsPostgres: 0.45, vsNoop: 0.238 });
    // Peer rows get no peer ratios; the non-reference PostgreSQL row is not used as the reference.
    expect(report.rows.find((r) => r.measureId === "p1.etcd")?.ratios).toEqual({});
  });

  test("lists failed runs as errors and leaves measures without samples out of the rows", () => {
    expect(report.errors).toEqual([{ measureId: "p1.broken", subject: "statehouse p1.broken", cell: "64 clients", message: "Error: boom\n at x" }]);
    expect(report.rows.some((r) => r.measureId === "p1.broken")).toBe(false);
  });

  test("renders Markdown with ratios, notes and errors, and an SVG bar per P1 row", () => {
    const markdown = reportToMarkdown(report, "quick-p1.svg");
    expect(markdown).toContain("| 64 clients | statehouse p1.sh | commits/s | 1,000/s | 900–1,200 | 2.00× | 0.45× | 0.24× |");
    expect(markdown).toContain("![P1 across concurrency](quick-p1.svg)");
    expect(markdown).toContain("- a note");
    expect(markdown).toContain("- statehouse p1.broken [64 clients]: Error: boom");
    const svg = p1ChartSvg(report);
    expect(svg.match(/<rect x="\d+" y="\d+" width="[\d.]+" height="18"/g)).toHaveLength(4);
  });
});

test("rotate shifts the order by the round number", () => {
  expect(rotate([1, 2, 3], 0)).toEqual([1, 2, 3]);
  expect(rotate([1, 2, 3], 1)).toEqual([2, 3, 1]);
  expect(rotate([1, 2, 3], 4)).toEqual([2, 3, 1]);
  expect(rotate([], 2)).toEqual([]);
});

test("checkAims compares the top-concurrency P1 rows, P3, P4 at 1M and P6 growth", () => {
  const base: ReportRow = {
    measureId: "",
    figure: "P1",
    cell: "64 clients",
    subject: "",
    system: "statehouse",
    metric: "opsPerSec",
    label: "",
    unit: "/s",
    better: "higher",
    runs: 1,
    median: 0,
    min: 0,
    max: 0,
    samples: [],
    sampleRounds: [],
    ratios: {},
  };
  const aims = checkAims([
    { ...base, measureId: "p1.c1.sh-ts-sdk", cell: "1 client", median: 10, ratios: { vsEtcd: 5, vsPostgres: 5 } },
    { ...base, measureId: "p1.c64.sh-ts-sdk", subject: "sdk", median: 900, ratios: { vsEtcd: 0.9, vsPostgres: 1.2 } },
    { ...base, measureId: "p1.c64.sh-grpc-js", subject: "grpc-js", median: 1100, ratios: { vsEtcd: 1.1, vsPostgres: 1.5 } },
    { ...base, measureId: "p4.other", cell: "1M events", median: 5 }, // not a "N clients" cell: ignored
    { ...base, measureId: "p3.sh-ts-sdk", figure: "P3", cell: "100k events", metric: "eventsPerSec", median: 250_000 },
    { ...base, measureId: "p4.1M", figure: "P4", cell: "1M events", metric: "restartMs", median: 1500 },
    { ...base, measureId: "p4.100k", figure: "P6", cell: "100k events", metric: "vmHwmMiB", median: 100 },
    { ...base, measureId: "p4.1M", figure: "P6", cell: "1M events", metric: "vmHwmMiB", median: 120 },
  ]);
  expect(aims.map((a) => [a.aim, a.met])).toEqual([
    ["P1 at 64 clients: TS SDK ≥ etcd", false],
    ["P1 at 64 clients: best Statehouse client (grpc-js) ≥ etcd", true],
    ["P1 at 64 clients: TS SDK ≥ PostgreSQL", true],
    ["P1 at 64 clients: best Statehouse client (grpc-js) ≥ PostgreSQL", true],
    ["P3: replay ≥ 200k events/s to the TS SDK", true],
    ["P1 at 64 clients: grpc-js Transact ≥ 1.0× etcd put", true],
    ["P1 at 64 clients: grpc-js Transact ≥ 1.0× PostgreSQL's 4-statement transaction", true],
    ["P4: restart-to-serving ≤ 1 s at 1M events", false],
    ["P6: peak RSS flat in the number of records (≤ 1.25× across data sets)", true],
    ["P6: peak RSS ≤ 150 MB (143 MiB) at 100k events", true],
  ]);
});

test("the data set rows become one table by size and issue 11's aims", () => {
  const row = (cell: string, metric: string, median: number): ReportRow => ({
    measureId: `p4.${cell.split(" ")[0] ?? ""}`,
    figure: metric === "vmHwmMiB" ? "P6" : metric.includes("estart") ? "P4" : "P1",
    cell,
    subject: "Statehouse daemon",
    system: "statehouse",
    metric,
    label: metric,
    unit: "",
    better: "lower",
    runs: 1,
    median,
    min: median,
    max: median,
    samples: [median],
    sampleRounds: [0],
    ratios: {},
  });
  const rows = [
    ...["100k events", "10M events"].flatMap((cell, i) => [
      row(cell, "datasetCommitsPerSec", i === 0 ? 2000 : 1850),
      row(cell, "writeAmplification", 3.5),
      row(cell, "watchersRatio", i === 0 ? 0.95 : 0.5),
      row(cell, "restartMs", i === 0 ? 300 : 1200),
      row(cell, "crashRestartMs", 900),
      row(cell, "vmHwmMiB", i === 0 ? 145 : 260), // 145 MiB is over 150 MB
    ]),
  ];
  expect(scaleTable(rows)).toEqual([
    "| records | P1 commits/s (64 clients) | daemon CPU µs/commit | … JS thread | … RocksDB background | disk bytes / committed byte | write() bytes / committed byte | P1 with idle watchers ÷ without | restart after SIGTERM (ms) | … engine recovery (ms) | restart after SIGKILL (ms) | … engine recovery (ms) | … events replayed | peak RSS (MiB) |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    "| 100k | 2,000 |  |  |  | 3.50 |  | 0.95 | 300 |  | 900 |  |  | 145 |",
    "| 10M | 1,850 |  |  |  | 3.50 |  | 0.50 | 1,200 |  | 900 |  |  | 260 |",
  ]);
  expect(scaleTable([])).toEqual([]);
  expect(checkAims(rows).map((a) => [a.aim, a.met])).toEqual([
    ["P6: peak RSS flat in the number of records (≤ 1.25× across data sets)", false],
    ["P4: restart-to-serving ≤ 1 s at 10M events", false],
    ["P4: restart-to-serving after SIGKILL ≤ 1 s at 10M events", true],
    ["P1 (64 clients) at 10M events within 10% of 100k events", true],
    ["P6: peak RSS ≤ 150 MB (143 MiB) at 100k events", false],
    ["P6: peak RSS ≤ 250 MB (238 MiB) at 10M events", false],
    ["Watch: P1 with idle watchers on other agents ≈ P1 without (≥ 0.9×, worst data set)", false],
  ]);
});

test("roundRatio falls back to the ratio of medians when no round has both rows", () => {
  const row = (samples: number[], sampleRounds: number[], median: number) => ({ samples, sampleRounds, median }) as ReportRow;
  expect(roundRatio(row([10, 30], [0, 1], 20), row([5], [2], 5))).toBe(4);
  expect(roundRatio(row([10], [0], 10), row([0], [0], 0))).toBeUndefined();
});

test("issue 12's aims: CPU per commit and per read ÷ etcd, P1 ÷ etcd and PostgreSQL, Health ÷ raw HTTP/2, P2", () => {
  const m = (id: string, system: Measure["system"], cell: string, figure: "P1" | "P5" | "context", values: Record<string, number>, extra: Partial<Measure> = {}): MeasureSamples => ({
    measure: {
      id,
      cell,
      subject: id,
      system,
      metrics: [
        opsPerSecMetric(figure, "ops/s"),
        ...cpuMetrics(figure, "op"),
        ...(cell === "1 client" ? latencyMetrics : []),
      ],
      run: () => Promise.resolve({}),
      ...extra,
    },
    samples: [values],
    rounds: [0],
    errors: [],
  });
  const report = buildReport({
    plan: makePlan({ quick: true }),
    command: "test",
    startedAt: new Date(0),
    finishedAt: new Date(0),
    machine,
    versions: {},
    results: [
      m("p1.c1.sh-grpc-js", "statehouse", "1 client", "P1", { opsPerSec: 800, serverCpuUsPerOp: 500, p50Ms: 0.5, p99Ms: 3 }),
      m("p1.c1.etcd-put", "etcd", "1 client", "P1", { opsPerSec: 2000, serverCpuUsPerOp: 200, p50Ms: 0.4, p99Ms: 1 }, { reference: "etcd" }),
      m("p1.c64.sh-grpc-js", "statehouse", "64 clients", "P1", { opsPerSec: 10_000, serverCpuUsPerOp: 60 }),
      m("p1.c64.etcd-put", "etcd", "64 clients", "P1", { opsPerSec: 9_000, serverCpuUsPerOp: 66 }, { reference: "etcd" }),
      m("p1.c64.pg-tx", "postgres", "64 clients", "P1", { opsPerSec: 12_000, serverCpuUsPerOp: 160 }, { reference: "postgres" }),
      m("ctx.noop.c64.grpc-js", "statehouse", "64 clients", "context", { opsPerSec: 6_000 }),
      m("ctx.noop.c64.connect-h2", "statehouse", "64 clients", "context", { opsPerSec: 4_000 }),
      m("ctx.noop.c64.http2", "baseline", "64 clients", "context", { opsPerSec: 10_000 }),
      m("p5.sh-grpc-js", "statehouse", "64 clients", "P5", { opsPerSec: 5_000, serverCpuUsPerOp: 100 }),
      m("p5.etcd-get", "etcd", "64 clients", "P5", { opsPerSec: 9_000, serverCpuUsPerOp: 50 }, { reference: "etcd" }),
      m("p5.pg-select", "postgres", "64 clients", "P5", { opsPerSec: 4_000, serverCpuUsPerOp: 80 }, { reference: "postgres" }),
    ],
    skipped: [],
    notes: [],
  });
  const aims = report.aims.filter((a) => !a.aim.includes("best Statehouse client"));
  expect(aims.map((a) => [a.aim, a.measured, a.met])).toEqual([
    ["P1 at 64 clients: daemon CPU per commit (grpc-js Transact) ≤ 1.0× etcd's CPU per put", "60 vs 66 µs = 0.909×", true],
    ["P1 at 64 clients: grpc-js Transact ≥ 1.0× etcd put", "10,000/s = 1.11× etcd", true],
    ["P1 at 64 clients: grpc-js Transact ≥ 1.0× PostgreSQL's 4-statement transaction", "10,000/s = 0.833× PostgreSQL", false],
    ["no-op Health at 64 clients, gRPC (grpc-js) ≥ 50% of the raw node:http2 echo rate", "6,000 vs 10,000/s = 60%", true],
    ["no-op Health at 64 clients, Connect HTTP/2 (connect-node) ≥ 50% of the raw node:http2 echo rate", "4,000 vs 10,000/s = 40%", false],
    ["P5 at 64 clients: daemon CPU per read (grpc-js GetState) ≤ 1.0× etcd's CPU per range read", "100 vs 50 µs = 2×", false],
    ["P5 at 64 clients: grpc-js GetState ≥ 1.0× PostgreSQL's primary-key select (pg)", "5,000/s = 1.25× PostgreSQL", true],
    ["P2 (1 client): grpc-js Transact p50 ≤ etcd put's p50", "0.50 vs 0.40 ms = 1.25×", false],
    ["P2 (1 client): grpc-js Transact p99 ≤ 2 ms", "3 ms", false],
  ]);
});
