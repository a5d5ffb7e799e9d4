// Everything the workloads share: the plan, the started servers, a scratch
// dir and a place for notes that end up in the report.
import type { BenchPlan } from "./bench-plan.js";
import { VALUE_BYTES } from "./bench-value.js";
import { runClosedLoop, type ClosedLoopResult } from "./closed-loop.js";
import { cpuProbe, cpuWindow, type ServerProcess } from "./cpu-probe.js";
import type { System } from "./measure.js";
import type { PythonMode, PythonSpec } from "./python-worker.js";
import type { EtcdServer } from "./peers/etcd-server.js";
import type { PostgresServer } from "./peers/postgres-server.js";
import type { RunningDaemon } from "./peers/statehouse-daemon.js";

export interface BenchEnv {
  plan: BenchPlan;
  workDir: string;
  /** Where P4/P6 data sets are kept and reused across runs; null = loaded into workDir each run. */
  datasetsDir: string | null;
  daemon: RunningDaemon;
  etcd: EtcdServer | null;
  postgres: PostgresServer | null;
  /** Null when the Python rows can run, else why not. */
  pythonSkip: string | null;
  log(message: string): void;
  /** Free-text findings for the report (load times, recovery breakdowns, ...). */
  notes: string[];
}

export const NAMESPACE = "bench";

/** The server process(es) whose CPU time a measurement of `system` is charged with; null for baselines. */
export function serverProcess(env: BenchEnv, system: System): ServerProcess | null {
  switch (system) {
    case "statehouse":
      return { pid: env.daemon.pid, withChildren: false };
    case "etcd":
      return env.etcd === null ? null : { pid: env.etcd.process.pid, withChildren: false };
    case "postgres":
      return env.postgres === null ? null : { pid: env.postgres.process.pid, withChildren: true };
    case "baseline":
      return null;
  }
}

/**
 * A closed loop of `concurrency` clients for `durationMs` after the plan's
 * warm-up, charged with the CPU of `system`'s server process(es).
 */
export function loopFor(
  env: BenchEnv,
  concurrency: number,
  durationMs: number,
): (system: System, op: (worker: number, seq: number) => Promise<void>) => Promise<ClosedLoopResult> {
  return (system, op) => loopOn(env, serverProcess(env, system), concurrency, durationMs, op);
}

/** The same closed loop charged with the CPU of `server` (a daemon of its own, this process), or of nothing. */
export function loopOn(
  env: BenchEnv,
  server: ServerProcess | null,
  concurrency: number,
  durationMs: number,
  op: (worker: number, seq: number) => Promise<void>,
): Promise<ClosedLoopResult> {
  const options = { concurrency, warmupMs: env.plan.warmupMs, durationMs, op };
  return runClosedLoop(server === null ? options : { ...options, window: cpuWindow(cpuProbe(server)) });
}

/** The Python worker's spec for a closed loop against our daemon (commit and no-op modes). */
export function pythonLoopSpec(env: BenchEnv, mode: PythonMode, concurrency: number, durationMs: number, agentPrefix: string): PythonSpec {
  return {
    mode,
    url: env.daemon.url,
    concurrency,
    warmup_s: env.plan.warmupMs / 1000,
    duration_s: durationMs / 1000,
    namespace: NAMESPACE,
    agent_prefix: agentPrefix,
    agent_id: "",
    value_bytes: VALUE_BYTES,
  };
}

export function clientsLabel(concurrency: number): string {
  return concurrency === 1 ? "1 client" : `${concurrency} clients`;
}
