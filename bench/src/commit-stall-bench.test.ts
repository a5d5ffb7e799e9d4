// The commit-stall run end to end with real daemons (this build twice: as "after" and, through
// --baseline pointing at this checkout, as "before"), 1 s windows (a loaded machine can finish no commit in a shorter one): both
// measured, probes answered, the daemon's event-loop delay read, ratios and files written.
// Structure only, never timing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { REPO_ROOT } from "@statehouse/test-services";
import { runCommitStallBench } from "./commit-stall-bench.js";

const outDir = mkdtempSync(join(tmpdir(), "statehouse-commit-stall-bench-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

test("bench --commit-stall measures both builds in alternating rounds and writes the report", async () => {
  const { report, files, markdown } = await runCommitStallBench({ outDir, scratchDir: tmpdir(), rounds: 1, windowMs: 1000, baseline: REPO_ROOT, command: "commit-stall smoke test" });
  for (const variant of ["before", "after"] as const) {
    const [run] = report.raw[variant] ?? [];
    expect(run, variant).toBeDefined();
    expect(run?.p1.ops, variant).toBeGreaterThan(0);
    expect(run?.p1["serverCpuUsPerOp"], variant).toBeGreaterThanOrEqual(0);
    expect(run?.p1["jsThreadCpuUsPerOp"], variant).toBeGreaterThanOrEqual(0);
    expect(run?.healthUnderLoad.probes, variant).toBeGreaterThan(0);
    expect(run?.healthIdle.probes, variant).toBeGreaterThan(0);
    expect(Number.isFinite(run?.loopDelay.p99Ms), variant).toBe(true);
    expect(run?.transactionsPerBatch, variant).toBeGreaterThanOrEqual(1);
  }
  expect(report.ratios["p1CommitsPerSec"]).toBeGreaterThan(0);
  expect(report.ratios["healthP99Ms"]).toBeGreaterThan(0);
  expect(markdown).toContain("after ÷ before");
  expect(JSON.parse(readFileSync(files[0] as string, "utf8")).raw.after).toHaveLength(1);
}, 120_000);
