// The cluster run end to end on a real PostgreSQL and 7 real daemons, with windows of a fraction of
// a second: every subject measured, ratios and probes present, files written. Structure only, never timing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { runClusterBench } from "./cluster-bench.js";
import { CLUSTER_SUBJECTS } from "./cluster-plan.js";

const outDir = mkdtempSync(join(tmpdir(), "statehouse-cluster-bench-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

test.each(["raw", "connect-node"])("bench --cluster --cluster-client %s measures every subject over one PostgreSQL and writes the report", async (client) => {
  const { report, files } = await runClusterBench({ quick: true, windowMs: 300, client, outDir, scratchDir: tmpdir(), command: "cluster smoke test", log: () => undefined });
  expect(report.plan.client).toBe(client);
  expect(report.subjects.map((s) => s.subject)).toEqual([...CLUSTER_SUBJECTS]);
  for (const s of report.subjects) {
    expect(s.p1CommitsPerSec, s.subject).toBeGreaterThan(0);
    expect(s.p2P50Ms, s.subject).toBeGreaterThan(0);
    expect(s.clientCpuUsPerCommit, s.subject).toBeGreaterThan(0);
  }
  for (const s of report.subjects.filter((s) => s.subject.startsWith("cluster-"))) {
    expect(s.daemonCpuUsPerCommit, s.subject).toBeGreaterThanOrEqual(0);
    expect(s.postgresCpuUsPerCommit, s.subject).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(s.lockWaitersMean), s.subject).toBe(true);
  }
  expect(report.subjects[0]?.walSyncsPerSec).toBeNaN(); // the RocksDB row has no PostgreSQL columns
  for (const ratio of Object.values(report.ratios)) expect(ratio).toBeGreaterThan(0);
  expect(report.machine.loadAverage.start).toBeGreaterThanOrEqual(0);
  expect(readFileSync(files[1] as string, "utf8")).toContain("cluster of 1 ÷ plain PostgreSQL 4-statement");
  expect(JSON.parse(readFileSync(files[0] as string, "utf8")).raw["p1.cluster-3"]).toHaveLength(1);
}, 180_000);
