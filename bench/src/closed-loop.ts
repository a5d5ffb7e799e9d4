// Closed-loop load generator: `concurrency` workers each issue one operation,
// wait for it, and issue the next, for a fixed time. Operations that complete
// during the warm-up are not counted; latencies are kept for every counted one.
import { percentileOfSorted } from "./stats.js";

export interface ClosedLoopOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** One operation; `worker` is 0..concurrency-1, `seq` counts that worker's operations. */
  op: (worker: number, seq: number) => Promise<void>;
  /** Called when the measurement window opens and closes; what `stop` returns joins the result. */
  window?: WindowProbe;
}

export interface WindowProbe {
  start(): void;
  stop(ops: number): Record<string, number>;
}

export type ClosedLoopResult = {
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  [probeMetric: string]: number;
};

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { concurrency, warmupMs, durationMs, op } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError("concurrency must be a positive integer");
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let latencies = new Float64Array(1024);
  let counted = 0; // latencies kept: operations that started and ended inside the window
  let completed = 0; // throughput: operations that ended inside the window
  let failure: unknown = null;

  const worker = async (id: number): Promise<void> => {
    for (let seq = 0; failure === null; seq++) {
      const t0 = performance.now();
      if (t0 >= end) return;
      await op(id, seq);
      const t1 = performance.now();
      if (t1 >= measureFrom && t1 <= end) completed++;
      if (t0 >= measureFrom && t1 <= end) {
        if (counted === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[counted++] = t1 - t0;
      }
    }
  };
  let probed: Record<string, number> | null = null;
  const probe = options.window;
  const timers =
    probe === undefined
      ? []
      : [
          setTimeout(() => probe.start(), Math.max(0, measureFrom - performance.now())),
          setTimeout(() => {
            probed = probe.stop(completed);
          }, Math.max(0, end - performance.now())),
        ];
  await Promise.all(
    Array.from({ length: concurrency }, (_, id) =>
      worker(id).catch((error: unknown) => {
        failure ??= error;
      }),
    ),
  );
  for (const timer of timers) clearTimeout(timer);
  if (failure !== null) throw failure;
  probed ??= probe?.stop(completed) ?? {};
  const sorted = latencies.subarray(0, counted).sort();
  const seconds = durationMs / 1000;
  return {
    ops: completed,
    seconds,
    opsPerSec: completed / seconds,
    p50Ms: percentileOfSorted(sorted, 50),
    p99Ms: percentileOfSorted(sorted, 99),
    ...probed,
  };
}
