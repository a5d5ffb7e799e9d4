// Everything the workloads share: the plan, the started servers, a scratch
// dir and a place for notes that end up in the report.
import type { BenchPlan } from "./bench-plan.js";
import type { EtcdServer } from "./peers/etcd-server.js";
import type { PostgresServer } from "./peers/postgres-server.js";
import type { RunningDaemon } from "./peers/statehouse-daemon.js";

export interface BenchEnv {
  plan: BenchPlan;
  workDir: string;
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

export function clientsLabel(concurrency: number): string {
  return concurrency === 1 ? "1 client" : `${concurrency} clients`;
}
