import { expect, test } from "vitest";
import { runClosedLoop } from "./closed-loop.js";
import { median, percentile, roundSig } from "./stats.js";

test("runs `concurrency` workers and never more operations in flight", async () => {
  let inFlight = 0;
  let peak = 0;
  const workers = new Set<number>();
  const result = await runClosedLoop({
    concurrency: 4,
    warmupMs: 20,
    durationMs: 100,
    op: async (worker) => {
      workers.add(worker);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
    },
  });
  expect(peak).toBe(4);
  expect([...workers].sort()).toEqual([0, 1, 2, 3]);
  expect(result.ops).toBeGreaterThan(0);
  expect(result.opsPerSec).toBe(result.ops / 0.1);
  expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
});

test("rethrows the first failure and stops the other workers", async () => {
  let calls = 0;
  await expect(
    runClosedLoop({
      concurrency: 3,
      warmupMs: 0,
      durationMs: 10_000,
      op: async (_worker, seq) => {
        calls++;
        await Promise.resolve();
        if (seq === 5) throw new Error("boom");
      },
    }),
  ).rejects.toThrow("boom");
  expect(calls).toBeLessThan(100);
});

test("rejects a non-positive concurrency", async () => {
  await expect(runClosedLoop({ concurrency: 0, warmupMs: 0, durationMs: 1, op: () => Promise.resolve() })).rejects.toThrow(TypeError);
});

test("percentiles interpolate between ranks", () => {
  expect(median([3, 1, 2])).toBe(2);
  expect(median([1, 2, 3, 4])).toBe(2.5);
  expect(percentile([0, 10], 99)).toBeCloseTo(9.9);
  expect(Number.isNaN(median([]))).toBe(true);
  expect(roundSig(123456, 3)).toBe(123000);
  expect(roundSig(0.0012345, 2)).toBe(0.0012);
});
