// P5: point reads of random keys of the replay agent (100k keys) at 64
// clients. etcd reads are linearizable (its default), PostgreSQL reads by
// primary key, one connection per client.
import { Statehouse } from "@statehouse/sdk";
import { clientsLabel, loopFor, NAMESPACE, type BenchEnv } from "../bench-env.js";
import { EtcdClient } from "../clients/etcd-client.js";
import { connectPool } from "../clients/postgres-bench-client.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { cpuMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "../measure.js";
import { ensureReplayData, etcdReplayPrefix, REPLAY_AGENT, stepKey } from "./replay-data.js";

export function readGroup(env: BenchEnv): MeasureGroup {
  const concurrency = Math.max(...env.plan.concurrency);
  const cell = clientsLabel(concurrency);
  const keys = env.plan.replayEvents;
  const randomKey = (): string => stepKey(Math.floor(Math.random() * keys));
  const loop = loopFor(env, concurrency, env.plan.shortMs);
  const metrics = [opsPerSecMetric("P5", "point reads/s"), ...cpuMetrics("P5", "read")];
  const measure = (id: string, rest: Omit<Measure, "id" | "cell" | "metrics">): Measure => ({ id: `p5.${id}`, cell, metrics, ...rest });
  const expectFound = (exists: boolean, key: string): void => {
    if (!exists) throw new Error(`point read of ${key} found nothing`);
  };

  const measures: Measure[] = [
    measure("sh-ts-sdk", {
      subject: "Statehouse · TS SDK getState() (Connect, HTTP/2)",
      system: "statehouse",
      noopRef: `ctx.noop.c${concurrency}.ts-sdk`,
      run: async () => {
        await using client = new Statehouse({ url: env.daemon.url, namespace: NAMESPACE });
        return await loop("statehouse", async () => {
          const key = randomKey();
          expectFound((await client.getState(REPLAY_AGENT, key)).exists, key);
        });
      },
    }),
    measure("sh-grpc-js", {
      subject: "Statehouse · GetState (grpc-js)",
      system: "statehouse",
      noopRef: `ctx.noop.c${concurrency}.grpc-js`,
      run: async () => {
        using client = new StatehouseGrpcClient(env.daemon.address);
        return await loop("statehouse", async () => {
          const key = randomKey();
          expectFound((await client.getState(NAMESPACE, REPLAY_AGENT, key)).exists, key);
        });
      },
    }),
  ];
  const { etcd, postgres } = env;
  if (etcd !== null) {
    measures.push(
      measure("etcd-get", {
        subject: "etcd · linearizable range of one key (grpc-js)",
        system: "etcd",
        reference: "etcd",
        noopRef: `ctx.noop.c${concurrency}.etcd-status`,
        run: async () => {
          using client = new EtcdClient(etcd.address);
          return await loop("etcd", async () => {
            const key = randomKey();
            expectFound((await client.range(etcdReplayPrefix + key)).kvs.length === 1, key);
          });
        },
      }),
    );
  }
  if (postgres !== null) {
    measures.push(
      measure("pg-select", {
        subject: "PostgreSQL · SELECT by primary key (pg)",
        system: "postgres",
        reference: "postgres",
        noopRef: `ctx.noop.c${concurrency}.pg-select1`,
        run: async () => {
          await using pool = await connectPool(postgres, concurrency);
          return await loop("postgres", async (w) => {
            const key = randomKey();
            expectFound((await pool.at(w).getState(NAMESPACE, REPLAY_AGENT, key)) !== undefined, key);
          });
        },
      }),
    );
  }
  return { id: "p5", title: `P5 point reads, ${cell}`, measures, setup: () => ensureReplayData(env) };
}
