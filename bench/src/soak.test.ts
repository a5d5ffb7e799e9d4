// The soak's plan and report code, and a tiny soak (`scale: "tiny"`, ~12 s) against the real
// daemon with its test clock: compaction must really delete history, the errors the load asks
// for must show up as such, and nothing else may fail. Structure only, never timing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { runSoakBench } from "./soak-bench.js";
import { classify, FULL_SOAK_MS, LatencyWindows, parseDuration, plannedConnections, plannedHeldTransactions, plateau, soakPlan } from "./soak-plan.js";

describe("soak plan", () => {
  test("the full soak: 1,000 connections, 10,000 held transactions, 5-minute windows, 1 h of test-clock retention", () => {
    const plan = soakPlan(FULL_SOAK_MS);
    expect(plannedConnections(plan)).toBe(1000);
    expect(plannedHeldTransactions(plan)).toBe(10_000);
    expect(plan.windowMs).toBe(5 * 60_000);
    expect(plan.daemon).toMatchObject({ clockRate: 60, retentionRealMs: 60_000, retentionKeepMs: 3_600_000, compactionIntervalMs: 60_000 });
    expect(plan.daemon.maxOpenTransactions).toBeGreaterThan(10_000);
    expect(plan.held.lifetimeMs).toEqual({ min: 60_000, max: 540_000 });
    // no idle connection may reach the daemon's 5-minute idle timeout
    expect(plan.heartbeatMs.max).toBeLessThan(300_000);
  });

  test("a short run keeps the counts and shrinks windows, retention and compaction interval", () => {
    const plan = soakPlan(60_000);
    expect(plannedConnections(plan)).toBe(1000);
    expect(plannedHeldTransactions(plan)).toBe(10_000);
    expect(plan.windowMs).toBe(10_000);
    expect(plan.daemon.retentionRealMs).toBe(2_000);
    expect(plan.daemon.compactionIntervalMs).toBe(2_000);
    expect(plan.held.lifetimeMs.min).toBeGreaterThanOrEqual(24_000);
  });

  test("parses durations", () => {
    expect(parseDuration("30m")).toBe(FULL_SOAK_MS);
    expect(parseDuration("60s")).toBe(60_000);
    expect(parseDuration("90")).toBe(90_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(() => parseDuration("soon")).toThrow(/--duration/);
    expect(() => parseDuration("1s")).toThrow(/at least 5 s/);
  });

  test("classifies outcomes: only the codes a kind asks for are expected", () => {
    expect(classify("commit", null)).toBe("ok");
    expect(classify("commit", "HISTORY_COMPACTED")).toBe("unexpected");
    expect(classify("asOfOld", "HISTORY_COMPACTED")).toBe("expected");
    expect(classify("asOfRecent", "HISTORY_COMPACTED")).toBe("unexpected");
    expect(classify("expire", "TXN_EXPIRED")).toBe("expected");
    expect(classify("expire", null)).toBe("unexpected");
    expect(classify("readWrite", "CONFLICT")).toBe("expected");
  });

  test("p99 per window, by kind", () => {
    const w = new LatencyWindows(1000);
    for (let i = 1; i <= 100; i++) w.add(10, "a", i);
    w.add(1500, "a", 7);
    w.add(1500, "b", 3);
    const s = w.summary(2000);
    expect(s).toHaveLength(2);
    expect(s[0]).toMatchObject({ startS: 0, endS: 1, kinds: { a: { count: 100, p50Ms: 50.5, maxMs: 100 } } });
    expect(s[0]?.kinds["a"]?.p99Ms).toBeCloseTo(99.01, 1);
    expect(s[1]).toMatchObject({ startS: 1, endS: 2, kinds: { a: { count: 1, p99Ms: 7 }, b: { count: 1 } } });
  });

  test("plateau: a ramp that levels off passes, a sawtooth that levels off passes, steady growth fails", () => {
    const ramp = Array.from({ length: 60 }, (_, i) => ({ t: i * 30, v: i < 20 ? 100 + i * 10 : 300 + (i % 3) }));
    expect(plateau(ramp, 300)).toMatchObject({ plateau: true, windowPeaks: [190, 290, 302, 302, 302, 302] });
    const saw = Array.from({ length: 60 }, (_, i) => ({ t: i * 30, v: Math.min(40, 10 + i) + (i % 7) * 3 }));
    expect(plateau(saw, 300).plateau).toBe(true);
    const leak = Array.from({ length: 60 }, (_, i) => ({ t: i * 30, v: 100 + i * 5 }));
    const verdict = plateau(leak, 300);
    expect(verdict.plateau).toBe(false);
    expect(verdict.lastPeakRise).toBeCloseTo(50 / 345, 3);
    expect(verdict.slopePer10Min).toBeCloseTo(100, 5);
  });
});

const outDir: string = mkdtempSync(join(tmpdir(), "statehouse-soak-test-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe("bench --soak, tiny", () => {
  test("runs against the daemon with its test clock: compaction deletes history, only asked-for errors", async () => {
    const { report, files } = await runSoakBench({ durationMs: 12_000, scale: "tiny", outDir, scratchDir: tmpdir(), command: "soak test", log: () => undefined });
    if (report.totals.unexpected > 0) console.error(JSON.stringify({ unexpected: report.unexpected, outcomes: report.outcomes }, null, 1));
    expect(report.unexpected).toEqual([]);
    expect(report.totals.unexpected).toBe(0);
    expect(report.testClockLogged).toBe(true);
    // with 2 s of real-time retention on a 60x clock, history behind the horizon was compacted
    expect(report.retention.compactedEvents).toBeGreaterThan(0);
    expect(report.retention.horizonTsAtEnd).toBeGreaterThan(0);
    expect(report.outcomes.ts["expire"]?.["TXN_EXPIRED"]).toBeGreaterThan(0);
    expect(report.outcomes.ts["heldCommit"]?.["ok"]).toBeGreaterThan(0);
    expect(report.outcomes.ts["asOfRecent"]?.["ok"]).toBeGreaterThan(0);
    expect(report.steady.openTransactions.max).toBeGreaterThanOrEqual(100);
    expect(report.samples.length).toBeGreaterThan(5);
    // RSS split into V8's committed heap and the native rest, to tell a heap from a native leak
    for (const x of report.samples) {
      expect(x.heapTotalMiB).toBeGreaterThanOrEqual(x.heapUsedMiB);
      expect(x.rssAnonMiB + x.rssFileMiB).toBeCloseTo(x.rssMiB, 0);
    }
    expect(report.native.endMiB).toBeGreaterThan(0);
    expect(report.native.endMiB).toBeLessThan(report.rss.endMiB);
    expect(report.windows.length).toBeGreaterThanOrEqual(5);
    expect(report.daemonErrorLines).toEqual([]);
    if (report.pythonSkipped === null) {
      expect(report.outcomes.python["heldCommit"]?.["ok"]).toBeGreaterThan(0);
      expect(report.outcomes.python["expire"]?.["TXN_EXPIRED"]).toBeGreaterThan(0);
      expect(report.watchEvents.python).toBeGreaterThan(0);
    }
    expect(readFileSync(files[1] as string, "utf8")).toContain("p99 latency per");
    expect(readFileSync(files[1] as string, "utf8")).toContain("| daemon native memory: RssAnon − V8 committed − Buffers − RocksDB (MiB) |");
    expect(readFileSync(files[2] as string, "utf8")).toMatch(/^<svg /);
  }, 90_000);
});
