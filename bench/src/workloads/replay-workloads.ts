// P3: replay the whole replay agent (100k events) and count events/s at the
// client, values decoded to JSON objects in every case. etcd's range read of
// the same keys and PostgreSQL's ordered SELECT of the events are context:
// neither returns transactions as events, but they are what a user of those
// systems would do to read an agent's history.
import { Statehouse } from "@statehouse/sdk";
import { countLabel } from "../bench-plan.js";
import { NAMESPACE, pythonLoopSpec, serverProcess, type BenchEnv } from "../bench-env.js";
import { EtcdClient, keyAfter, prefixEnd } from "../clients/etcd-client.js";
import { PostgresBenchClient } from "../clients/postgres-bench-client.js";
import { connectClient } from "../clients/connect-clients.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { cpuMetrics, type Measure, type MeasureGroup, type MetricSpec, type System } from "../measure.js";
import { cpuProbe } from "../cpu-probe.js";
import { runPythonWorker, type PythonMode } from "../python-worker.js";
import { ensureReplayData, etcdReplayPrefix, REPLAY_AGENT } from "./replay-data.js";

const replayMetric: readonly MetricSpec[] = [
  { key: "eventsPerSec", figure: "P3", label: "replay events/s", unit: "/s", better: "higher" },
  ...cpuMetrics("P3", "event"),
];

/** Counts the replay and charges the server's and this process's CPU time to it. */
async function timed(env: BenchEnv, system: System, expected: number, count: () => Promise<number>): Promise<Record<string, number>> {
  const server = serverProcess(env, system);
  const probe = server === null ? null : cpuProbe(server);
  probe?.start();
  const t0 = performance.now();
  const events = await count();
  const seconds = (performance.now() - t0) / 1000;
  probe?.stop();
  if (events !== expected) throw new Error(`replay returned ${events} events, expected ${expected}`);
  return { events, seconds, eventsPerSec: events / seconds, ...probe?.perOp(events) };
}

export function replayGroup(env: BenchEnv): MeasureGroup {
  const expected = env.plan.replayEvents;
  const cell = `${countLabel(expected)} events`;
  const measure = (id: string, rest: Omit<Measure, "id" | "cell" | "metrics">): Measure => ({ id: `p3.${id}`, cell, metrics: replayMetric, ...rest });
  const python = (mode: PythonMode) => async (): Promise<Record<string, number>> => {
    const spec = { ...pythonLoopSpec(env, mode, 1, 0, ""), warmup_s: 0, agent_id: REPLAY_AGENT };
    const result = await runPythonWorker(spec, serverProcess(env, "statehouse"));
    if (result["events"] !== expected) throw new Error(`${mode} replayed ${result["events"]} events, expected ${expected}`);
    return result;
  };

  const measures: Measure[] = [
    measure("sh-ts-sdk", {
      subject: "Statehouse · TS SDK replay() (Connect, HTTP/2; ReplayBatches since issue 13)",
      system: "statehouse",
      run: async () => {
        await using client = new Statehouse({ url: env.daemon.url, namespace: NAMESPACE });
        await client.health();
        return await timed(env, "statehouse", expected, async () => {
          let n = 0;
          for await (const event of client.replay(REPLAY_AGENT)) n += event.operations.length > 0 ? 1 : 0;
          return n;
        });
      },
    }),
    measure("sh-ts-replay-single", {
      subject: "Statehouse · TS Connect client, Replay stream (one message per event, as before issue 13)",
      system: "statehouse",
      run: async () => {
        using client = connectClient(env.daemon.url, "connect-h2");
        return await timed(env, "statehouse", expected, async () => {
          let n = 0;
          // Values arrive decoded to JSON objects (protobuf-es maps Struct to JSON).
          for await (const event of client.rpc.replay({ namespace: NAMESPACE, agentId: REPLAY_AGENT })) n += event.operations.length > 0 ? 1 : 0;
          return n;
        });
      },
    }),
    measure("sh-grpc-js", {
      subject: "Statehouse · Replay stream (grpc-js)",
      system: "statehouse",
      run: async () => {
        using client = new StatehouseGrpcClient(env.daemon.address);
        await client.health();
        return await timed(env, "statehouse", expected, async () => {
          let n = 0;
          for await (const event of client.replay(NAMESPACE, REPLAY_AGENT)) n += event.operations.length > 0 ? 1 : 0;
          return n;
        });
      },
    }),
  ];
  if (env.pythonSkip === null) {
    measures.push(
      measure("sh-py-sdk", { subject: "Statehouse · Python SDK replay()", system: "statehouse", run: python("replay-sdk") }),
      measure("sh-grpcio", { subject: "Statehouse · Replay stream (grpcio, Python)", system: "statehouse", run: python("replay-grpcio") }),
    );
  }
  const { etcd, postgres } = env;
  if (etcd !== null) {
    measures.push(
      measure("etcd-range", {
        subject: "etcd · range read of the same keys, pages of 10k (grpc-js, context)",
        system: "etcd",
        reference: "etcd",
        run: async () => {
          using client = new EtcdClient(etcd.address);
          await client.status();
          return await timed(env, "etcd", expected, async () => {
            const end = prefixEnd(etcdReplayPrefix);
            let from: Uint8Array | string = etcdReplayPrefix;
            let n = 0;
            for (;;) {
              const page = await client.range(from, { rangeEnd: end, limit: 10_000 });
              for (const kv of page.kvs) {
                JSON.parse(Buffer.from(kv.value).toString("utf8"));
                n++;
              }
              const last = page.kvs.at(-1);
              if (!page.more || last === undefined) return n;
              from = keyAfter(last.key);
            }
          });
        },
      }),
    );
  }
  if (postgres !== null) {
    measures.push(
      measure("pg-select", {
        subject: "PostgreSQL · SELECT the agent's events ORDER BY id (pg, context)",
        system: "postgres",
        reference: "postgres",
        run: async () => {
          await using client = await PostgresBenchClient.connect(postgres);
          return await timed(env, "postgres", expected, () => client.replay(NAMESPACE, REPLAY_AGENT));
        },
      }),
    );
  }
  return { id: "p3", title: `P3 replay of a ${cell} agent`, measures, setup: () => ensureReplayData(env) };
}
