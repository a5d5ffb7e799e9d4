// Alternating runs: every round runs every group, and inside a group the
// measures run back to back in an order rotated by one each round, so slow
// drift of a shared machine hits every subject alike.
import type { Measure, MeasureGroup } from "./measure.js";

export interface MeasureSamples {
  measure: Measure;
  /** One entry per successful run. */
  samples: Record<string, number>[];
  /** The round (0-based) of each entry of `samples`. */
  rounds?: number[];
  errors: string[];
}

export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = ((by % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function runRounds(groups: readonly MeasureGroup[], rounds: number, log: (message: string) => void): Promise<MeasureSamples[]> {
  const results = new Map<string, MeasureSamples>();
  for (const group of groups) {
    for (const measure of group.measures) {
      if (results.has(measure.id)) throw new Error(`duplicate measure id ${measure.id}`);
      results.set(measure.id, { measure, samples: [], rounds: [], errors: [] });
    }
  }
  const setUp: MeasureGroup[] = [];
  try {
    // Every setup first (loading data sets included), so that every round —
    // the first too — measures the same state.
    for (const group of groups) {
      setUp.push(group);
      await group.setup?.();
    }
    for (let round = 0; round < rounds; round++) {
      for (const group of groups) {
        log(`round ${round + 1}/${rounds}: ${group.title}`);
        for (const measure of rotate(group.measures, round)) {
          const entry = results.get(measure.id) as MeasureSamples;
          const t0 = performance.now();
          try {
            const metrics = await measure.run();
            entry.samples.push(metrics);
            entry.rounds?.push(round);
            const shown = measure.metrics.map((m) => `${m.key}=${formatNumber(metrics[m.key] ?? Number.NaN)}`).join(" ");
            log(`  ${measure.subject} [${measure.cell}]: ${shown} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
          } catch (error) {
            const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
            entry.errors.push(message);
            log(`  ${measure.subject} [${measure.cell}]: FAILED ${message.split("\n")[0] ?? ""}`);
          }
        }
      }
    }
  } finally {
    for (const group of setUp.reverse()) {
      await group.teardown?.().catch((error: unknown) => log(`teardown of ${group.title} failed: ${String(error)}`));
    }
  }
  return [...results.values()];
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
