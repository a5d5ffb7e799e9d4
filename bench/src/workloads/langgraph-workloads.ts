// LG: LangGraph checkpoint put + get_tuple per second, StatehouseSaver (langgraph-checkpoint-statehouse)
// against the official PostgresSaver (langgraph-checkpoint-postgres, psycopg) on the PostgreSQL the bench
// starts, with the same checkpoints of the same graph (bench/python/bench_langgraph.py), in Python workers.
import { clientsLabel, pythonLoopSpec, serverProcess, type BenchEnv } from "../bench-env.js";
import { cpuMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "../measure.js";
import { runPythonWorker, type PythonSpec } from "../python-worker.js";

/** Closed-loop workers (threads, each with its own saver and connection). */
export const LANGGRAPH_CONCURRENCY = [1, 8] as const;

export function langgraphGroups(env: BenchEnv): MeasureGroup[] {
  if (env.pythonSkip !== null) return [];
  const { postgres } = env;
  return LANGGRAPH_CONCURRENCY.map((concurrency) => {
    const cell = clientsLabel(concurrency);
    const metrics = [opsPerSecMetric("LG", "checkpoint put + get_tuple/s"), ...cpuMetrics("LG", "put + get_tuple")];
    const spec = (mode: PythonSpec["mode"], extra: Partial<PythonSpec> = {}): PythonSpec => ({
      ...pythonLoopSpec(env, mode, concurrency, env.plan.commitMs, "lg"),
      ...extra,
    });
    const measures: Measure[] = [
      {
        id: `lg.c${concurrency}.statehouse`,
        cell,
        subject: "Statehouse · StatehouseSaver (Python SDK)",
        system: "statehouse",
        metrics,
        run: () => runPythonWorker(spec("langgraph-statehouse"), serverProcess(env, "statehouse")),
      },
      {
        id: `lg.c${concurrency}.statehouse-no-cache`,
        cell,
        subject: "Statehouse · StatehouseSaver, blob cache off (every channel value read)",
        system: "statehouse",
        metrics,
        run: () => runPythonWorker(spec("langgraph-statehouse", { blob_cache_bytes: 0 }), serverProcess(env, "statehouse")),
      },
    ];
    if (postgres !== null) {
      const dsn = `postgresql://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`;
      measures.push({
        id: `lg.c${concurrency}.postgres`,
        cell,
        subject: "PostgreSQL · PostgresSaver (langgraph-checkpoint-postgres, psycopg)",
        system: "postgres",
        reference: "postgres",
        metrics,
        run: () => runPythonWorker(spec("langgraph-postgres", { postgres_dsn: dsn }), serverProcess(env, "postgres")),
      });
    }
    return { id: `lg.c${concurrency}`, title: `LG LangGraph checkpoints, ${cell}`, measures };
  });
}
