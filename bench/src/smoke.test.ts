// The smoke run (`npm run bench -- --smoke`): seconds, against our daemon
// only (P1-P6 on tiny data), so the harness cannot rot. Asserts the report's structure —
// rows, runs, ratios, files — never timing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { REPORT_SCHEMA, type BenchReport } from "./bench-report.js";
import { pythonUnavailable } from "./python-worker.js";
import { runBench, type RunBenchResult } from "./run-bench.js";

const outDir: string = mkdtempSync(join(tmpdir(), "statehouse-bench-smoke-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe("bench --smoke", () => {
  let result: RunBenchResult;
  const row = (report: BenchReport, measureId: string, metric: string) => report.rows.find((r) => r.measureId === measureId && r.metric === metric);

  test("runs P1-P6 against the daemon without errors", async () => {
    result = await runBench({ smoke: true, outDir, scratchDir: tmpdir(), command: "smoke test", log: () => undefined });
    expect(result.report.errors).toEqual([]);
    expect(result.report.schema).toBe(REPORT_SCHEMA);
    expect(result.report.mode).toBe("smoke");
    expect(result.report.plan.figures).toEqual(["P1", "P2", "P3", "P4", "P5", "P6"]);
  }, 120_000);

  test("has a row with a positive median for every Statehouse subject", () => {
    const { report } = result;
    const python = pythonUnavailable() === null;
    const p1Subjects = ["sh-ts-sdk", "sh-ts-with", "sh-ts-sdk-transact", "sh-ts-transact", "sh-grpc-js", ...(python ? ["sh-py-sdk", "sh-grpcio"] : [])];
    for (const concurrency of report.plan.concurrency) {
      for (const subject of p1Subjects) {
        const r = row(report, `p1.c${concurrency}.${subject}`, "opsPerSec");
        expect(r, `p1.c${concurrency}.${subject}`).toBeDefined();
        expect(r?.figure).toBe("P1");
        expect(r?.runs).toBe(report.plan.rounds);
        expect(r?.median).toBeGreaterThan(0);
      }
    }
    for (const subject of p1Subjects) {
      // The CPU probe charged the daemon's CPU time to the window (the Python worker announces its window on stderr).
      for (const metric of ["serverCpuUsPerOp", "clientCpuUsPerOp"]) {
        expect(row(report, `p1.c1.${subject}`, metric)?.median, `${subject} ${metric}`).toBeGreaterThan(0);
      }
      for (const metric of ["p50Ms", "p99Ms"]) {
        const r = row(report, `p1.c1.${subject}`, metric);
        expect(r?.figure).toBe("P2");
        expect(r?.unit).toBe("ms");
        expect(r?.median).toBeGreaterThan(0);
      }
    }
    const p3Subjects = ["sh-ts-sdk", "sh-ts-replay-single", "sh-grpc-js", ...(python ? ["sh-py-sdk", "sh-grpcio"] : [])];
    for (const subject of p3Subjects) {
      const r = row(report, `p3.${subject}`, "eventsPerSec");
      expect(r?.cell).toBe("1k events");
      expect(r?.median).toBeGreaterThan(0);
      expect(row(report, `p3.${subject}`, "clientCpuUsPerOp")?.median, `p3.${subject} client CPU`).toBeGreaterThan(0);
    }
    for (const subject of ["sh-ts-sdk", "sh-grpc-js"]) {
      expect(row(report, `p5.${subject}`, "opsPerSec")?.median, `p5.${subject}`).toBeGreaterThan(0);
    }
    const restart = (metric: string) => row(report, "p4.2k", metric)?.median;
    for (const metric of ["restartMs", "crashRestartMs", "datasetCommitsPerSec", "datasetServerCpuUsPerOp", "jsThreadCpuUsPerOp", "wcharAmplification", "watchersCommitsPerSec", "watchersRatio", "vmHwmMiB"]) {
      expect(restart(metric), metric).toBeGreaterThan(0);
    }
    expect(restart("eventsReplayed"), "eventsReplayed (from the daemon's log)").toBeGreaterThanOrEqual(0);
    // write_bytes stays 0 where the scratch dir is a tmpfs; the committed bytes were counted either way.
    expect(restart("writeAmplification"), "writeAmplification").toBeGreaterThanOrEqual(0);
    expect(row(report, "p4.2k", "watchersCommitsPerSec")?.label).toContain(`${report.plan.idleWatchers} idle Watch streams`);
    expect(report.aims.map((a) => a.aim)).toContain("Watch: P1 with idle watchers on other agents ≈ P1 without (≥ 0.9×, worst data set)");
    expect(report.notes.join("\n")).toMatch(/data set 2k: 2000 one-write transactions/);
    if (!python) expect(report.skipped.join("\n")).toMatch(/Python rows/);
    expect(report.skipped.join("\n")).toMatch(/etcd and PostgreSQL/);
    // No peers in smoke mode, hence no peer ratios.
    expect(report.rows.every((r) => r.ratios.vsEtcd === undefined && r.ratios.vsPostgres === undefined)).toBe(true);
  });

  test("keeps a P4/P6 data set in --datasets-dir and reuses it in the next run", async () => {
    const datasetsDir = join(outDir, "datasets");
    const quiet = { smoke: true, only: ["P4" as const], datasets: [300], datasetsDir, outDir: null, scratchDir: tmpdir(), log: () => undefined };
    const first = await runBench({ ...quiet, command: "smoke test: load" });
    expect(first.report.errors).toEqual([]);
    expect(first.report.notes.join("\n")).toMatch(/data set 300: 300 one-write transactions/);
    expect(JSON.parse(readFileSync(join(datasetsDir, "dataset-300", "bench-dataset.json"), "utf8"))).toMatchObject({ records: 300 });
    const second = await runBench({ ...quiet, command: "smoke test: reuse" });
    expect(second.report.errors).toEqual([]);
    expect(second.report.notes.join("\n")).toMatch(/data set 300: reused from .*dataset-300/);
    expect(row(second.report, "p4.300", "restartMs")?.median).toBeGreaterThan(0);
  }, 120_000);

  test("describes the machine", () => {
    const { machine } = result.report;
    expect(machine.nproc).toBeGreaterThan(0);
    expect(machine.memoryGiB).toBeGreaterThan(0);
    expect(machine.kernel).toMatch(/\S/);
    expect(machine.node).toBe(process.version);
    expect(machine.disk).toMatch(/on /);
    expect(machine.loadAverage.start).toBeGreaterThanOrEqual(0);
  });

  test("writes JSON, Markdown and the P1 chart", () => {
    expect(result.files.map((f) => f.slice(outDir.length + 1)).sort()).toEqual(["smoke-p1.svg", "smoke.json", "smoke.md"]);
    const json = JSON.parse(readFileSync(join(outDir, "smoke.json"), "utf8")) as BenchReport;
    expect(json.rows).toHaveLength(result.report.rows.length);
    const markdown = readFileSync(join(outDir, "smoke.md"), "utf8");
    expect(markdown).toContain("## P1");
    expect(markdown).toContain("## P2");
    expect(markdown).toContain("## P3");
    expect(markdown).toContain("## P4");
    expect(markdown).toContain("## By data set size");
    expect(markdown).toMatch(/\n\| 2k \| [\d,.]+ \| /);
    expect(markdown).toContain("## Aims");
    expect(markdown).toContain("(smoke-p1.svg)");
    const svg = readFileSync(join(outDir, "smoke-p1.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("TS SDK begin/write/commit");
  });
});
