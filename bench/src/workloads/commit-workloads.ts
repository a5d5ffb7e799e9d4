// P1 (durable commits/s at each concurrency) and P2 (latency at 1 client):
// every transaction writes one 200-byte JSON value; each client cycles over
// 100 keys of its own agent, so state rows are updated, not only inserted.
import { Statehouse } from "@statehouse/sdk";
import { clientsLabel, loopFor, NAMESPACE, pythonLoopSpec, serverProcess, type BenchEnv } from "../bench-env.js";
import { benchValue, benchValueJson } from "../bench-value.js";
import { connectClient } from "../clients/connect-clients.js";
import { EtcdClient } from "../clients/etcd-client.js";
import { connectPool, type PostgresBenchClient } from "../clients/postgres-bench-client.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { cpuMetrics, latencyMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "../measure.js";
import { runPythonWorker, type PythonMode } from "../python-worker.js";
import { noopId } from "./noop-workloads.js";

const KEYS_PER_CLIENT = 100;

export function commitGroups(env: BenchEnv): MeasureGroup[] {
  return env.plan.concurrency.map((concurrency) => ({
    id: `p1.c${concurrency}`,
    title: `P1 durable commits, ${clientsLabel(concurrency)}`,
    measures: commitMeasures(env, concurrency),
  }));
}

function commitMeasures(env: BenchEnv, concurrency: number): Measure[] {
  const { plan, daemon } = env;
  const cell = clientsLabel(concurrency);
  const metrics = [opsPerSecMetric("P1", "durable commits/s"), ...(concurrency === 1 ? latencyMetrics : []), ...cpuMetrics("P1", "commit")];
  const loop = loopFor(env, concurrency, plan.commitMs);
  const key = (seq: number): string => `k${seq % KEYS_PER_CLIENT}`;
  const measure = (id: string, rest: Omit<Measure, "id" | "cell" | "metrics">): Measure => ({
    id: `p1.c${concurrency}.${id}`,
    cell,
    metrics,
    ...rest,
  });

  const python = (mode: PythonMode, agentPrefix: string) => async (): Promise<Record<string, number>> =>
    runPythonWorker(pythonLoopSpec(env, mode, concurrency, plan.commitMs, agentPrefix), serverProcess(env, "statehouse"));

  const measures: Measure[] = [
    measure("sh-ts-sdk", {
      subject: "Statehouse · TS SDK begin/write/commit (1 round trip since issue 13)",
      system: "statehouse",
      noopRef: noopId(concurrency, "connect-h2"),
      run: async () => {
        await using client = new Statehouse({ url: daemon.url, namespace: NAMESPACE });
        return await loop("statehouse", async (w, seq) => {
          const tx = await client.beginTransaction();
          tx.write(`p1-ts-sdk-${w}`, key(seq), benchValue(seq));
          await tx.commit();
        });
      },
    }),
    measure("sh-ts-with", {
      subject: "Statehouse · TS SDK withTransaction (1 round trip)",
      system: "statehouse",
      noopRef: noopId(concurrency, "connect-h2"),
      run: async () => {
        await using client = new Statehouse({ url: daemon.url, namespace: NAMESPACE });
        return await loop("statehouse", async (w, seq) => {
          await client.withTransaction((tx) => tx.write(`p1-ts-with-${w}`, key(seq), benchValue(seq)));
        });
      },
    }),
    measure("sh-ts-sdk-transact", {
      subject: "Statehouse · TS SDK transact(ops) (1 round trip)",
      system: "statehouse",
      noopRef: noopId(concurrency, "connect-h2"),
      run: async () => {
        await using client = new Statehouse({ url: daemon.url, namespace: NAMESPACE });
        return await loop("statehouse", async (w, seq) => {
          await client.transact([{ agentId: `p1-ts-sdk-transact-${w}`, key: key(seq), value: benchValue(seq) }]);
        });
      },
    }),
    measure("sh-ts-transact", {
      subject: "Statehouse · TS Connect client, Transact (1 round trip)",
      system: "statehouse",
      noopRef: noopId(concurrency, "connect-h2"),
      run: async () => {
        using client = connectClient(daemon.url, "connect-h2");
        return await loop("statehouse", async (w, seq) => {
          await client.rpc.transact({
            operations: [{ namespace: NAMESPACE, agentId: `p1-ts-transact-${w}`, key: key(seq), value: benchValue(seq) }],
          });
        });
      },
    }),
    measure("sh-grpc-js", {
      subject: "Statehouse · grpc-js Transact (same client stack as etcd)",
      system: "statehouse",
      noopRef: noopId(concurrency, "grpc-js"),
      run: async () => {
        using client = new StatehouseGrpcClient(daemon.address);
        return await loop("statehouse", async (w, seq) => {
          await client.transact([{ namespace: NAMESPACE, agentId: `p1-grpc-js-${w}`, key: key(seq), value: benchValue(seq) }]);
        });
      },
    }),
  ];

  if (env.pythonSkip === null) {
    measures.push(
      measure("sh-py-sdk", {
        subject: `Statehouse · Python SDK with-block${concurrency > 1 ? " (threads)" : ""}`,
        system: "statehouse",
        noopRef: noopId(concurrency, "py-sdk"),
        run: python("commit-sdk", "p1-py-sdk"),
      }),
      measure("sh-grpcio", {
        subject: `Statehouse · grpcio Transact${concurrency > 1 ? " (threads)" : ""}`,
        system: "statehouse",
        noopRef: noopId(concurrency, "grpcio"),
        run: python("commit-grpcio", "p1-grpcio"),
      }),
    );
  }

  const { etcd, postgres } = env;
  if (etcd !== null) {
    measures.push(
      measure("etcd-put", {
        subject: "etcd · put (grpc-js)",
        system: "etcd",
        reference: "etcd",
        noopRef: noopId(concurrency, "etcd-status"),
        run: async () => {
          using client = new EtcdClient(etcd.address);
          return await loop("etcd", (w, seq) => client.put(`/p1/${w}/${key(seq)}`, benchValueJson(seq)));
        },
      }),
    );
  }
  if (postgres !== null) {
    const withConnections = async (fn: (client: PostgresBenchClient, w: number, seq: number) => Promise<void>): Promise<Record<string, number>> => {
      await using pool = await connectPool(postgres, concurrency);
      return await loop("postgres", (w, seq) => fn(pool.at(w), w, seq));
    };
    measures.push(
      measure("pg-tx", {
        subject: "PostgreSQL · BEGIN; insert event; upsert state; COMMIT (4 round trips)",
        system: "postgres",
        reference: "postgres",
        noopRef: noopId(concurrency, "pg-select1"),
        run: () => withConnections((client, w, seq) => client.commitTransaction(NAMESPACE, `p1-pg-tx-${w}`, key(seq), benchValueJson(seq))),
      }),
      measure("pg-cte", {
        subject: "PostgreSQL · same as one statement (CTE, 1 round trip)",
        system: "postgres",
        noopRef: noopId(concurrency, "pg-select1"),
        run: () => withConnections((client, w, seq) => client.commitOneStatement(NAMESPACE, `p1-pg-cte-${w}`, key(seq), benchValueJson(seq))),
      }),
    );
  }
  return measures;
}
