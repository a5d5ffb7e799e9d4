// The protocols figure: one-write commits through Transact (1 round trip) and
// through the original BeginTransaction/Write/Commit (3 round trips), per
// protocol and client (connect-node: Connect over HTTP/2 and HTTP/1.1, gRPC,
// gRPC-Web; grpc-js), at each concurrency. "÷ no-op" divides by the same
// protocol's Health row of the context figure (`--only protocols,context`).
import { clientsLabel, loopFor, NAMESPACE, type BenchEnv } from "../bench-env.js";
import { benchValue } from "../bench-value.js";
import { connectClient, PROTOCOL_LABELS, type ConnectProtocol } from "../clients/connect-clients.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { cpuMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "../measure.js";
import { noopId } from "./noop-workloads.js";

const KEYS_PER_CLIENT = 100;
const PROTOCOLS: readonly ConnectProtocol[] = ["connect-h2", "connect-h1", "grpc", "grpc-web"];

export function protocolGroups(env: BenchEnv): MeasureGroup[] {
  return env.plan.concurrency.map((concurrency) => ({
    id: `proto.c${concurrency}`,
    title: `protocols: Transact and Begin/Write/Commit, ${clientsLabel(concurrency)}`,
    measures: protocolMeasures(env, concurrency),
  }));
}

function protocolMeasures(env: BenchEnv, concurrency: number): Measure[] {
  const { daemon } = env;
  const cell = clientsLabel(concurrency);
  const loop = loopFor(env, concurrency, env.plan.shortMs);
  const op = (id: string, w: number, seq: number) => ({ namespace: NAMESPACE, agentId: `proto-${id}-${w}`, key: `k${seq % KEYS_PER_CLIENT}`, value: benchValue(seq) });
  const measure = (id: string, kind: "transact" | "bwc", rest: Omit<Measure, "id" | "cell" | "metrics" | "system">): Measure => ({
    id: `proto.c${concurrency}.${id}.${kind}`,
    cell,
    system: "statehouse",
    metrics: kind === "transact" ? [opsPerSecMetric("protocols", "Transact commits/s"), ...cpuMetrics("protocols", "commit")] : [opsPerSecMetric("protocols", "Begin/Write/Commit transactions/s (3 calls each)"), ...cpuMetrics("protocols", "transaction")],
    ...rest,
  });
  const measures: Measure[] = PROTOCOLS.flatMap((protocol) => [
    measure(protocol, "transact", {
      subject: `Transact · ${PROTOCOL_LABELS[protocol]}`,
      noopRef: noopId(concurrency, protocol),
      run: async () => {
        using client = connectClient(daemon.url, protocol);
        return await loop("statehouse", async (w, seq) => {
          await client.rpc.transact({ operations: [op(`${protocol}-t`, w, seq)] });
        });
      },
    }),
    measure(protocol, "bwc", {
      subject: `BeginTransaction/Write/Commit · ${PROTOCOL_LABELS[protocol]}`,
      noopRef: noopId(concurrency, protocol),
      run: async () => {
        using client = connectClient(daemon.url, protocol);
        return await loop("statehouse", async (w, seq) => {
          const { txnId } = await client.rpc.beginTransaction({});
          await client.rpc.write({ txnId, ...op(`${protocol}-b`, w, seq) });
          await client.rpc.commit({ txnId });
        });
      },
    }),
  ]);
  measures.push(
    measure("grpc-js", "transact", {
      subject: "Transact · gRPC (grpc-js)",
      noopRef: noopId(concurrency, "grpc-js"),
      run: async () => {
        using client = new StatehouseGrpcClient(daemon.address);
        return await loop("statehouse", async (w, seq) => {
          await client.transact([op("grpc-js-t", w, seq)]);
        });
      },
    }),
    measure("grpc-js", "bwc", {
      subject: "BeginTransaction/Write/Commit · gRPC (grpc-js)",
      noopRef: noopId(concurrency, "grpc-js"),
      run: async () => {
        using client = new StatehouseGrpcClient(daemon.address);
        return await loop("statehouse", async (w, seq) => {
          await client.beginWriteCommit(op("grpc-js-b", w, seq));
        });
      },
    }),
  );
  return measures;
}
