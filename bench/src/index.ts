// @statehouse/bench: the side-by-side benchmark harness (run it with `npm run bench`).
export { runBench } from "./run-bench.js";
export type { RunBenchOptions, RunBenchResult } from "./run-bench.js";
export { buildReport, reportToMarkdown, REPORT_SCHEMA } from "./bench-report.js";
export type { BenchReport, ReportRow } from "./bench-report.js";
export { makePlan } from "./bench-plan.js";
export type { BenchPlan, PlanOptions } from "./bench-plan.js";
export { runClosedLoop } from "./closed-loop.js";
export type { ClosedLoopOptions, ClosedLoopResult } from "./closed-loop.js";
export { FIGURES } from "./measure.js";
export type { Figure, Measure, MeasureGroup, MetricSpec, System } from "./measure.js";
