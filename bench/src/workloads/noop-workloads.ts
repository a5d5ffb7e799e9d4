// Context rows — the limits under every figure: a no-op RPC (Health) per
// protocol and client, the same for etcd (Maintenance.Status) and PostgreSQL
// (SELECT 1), a bare node:http2 request, and the disk's fdatasync rate.
import { Statehouse } from "@statehouse/sdk";
import { clientsLabel, loopFor, NAMESPACE, pythonLoopSpec, serverProcess, type BenchEnv } from "../bench-env.js";
import { VALUE_BYTES } from "../bench-value.js";
import { connectClient, PROTOCOL_LABELS, type ConnectProtocol } from "../clients/connect-clients.js";
import { EtcdClient } from "../clients/etcd-client.js";
import { connectPool } from "../clients/postgres-bench-client.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { fdatasyncRate } from "../context/fdatasync-rate.js";
import { http2Request, http2Session, startHttp2EchoServer, type Http2EchoServer } from "../context/http2-echo.js";
import { cpuMetrics, opsPerSecMetric, type Measure, type MeasureGroup } from "../measure.js";
import { runPythonWorker, type PythonMode } from "../python-worker.js";

export type NoopKind = ConnectProtocol | "ts-sdk" | "grpc-js" | "grpcio" | "py-sdk" | "http2" | "etcd-status" | "pg-select1";

export function noopId(concurrency: number, kind: NoopKind): string {
  return `ctx.noop.c${concurrency}.${kind}`;
}

const noopMetric = [opsPerSecMetric("context", "no-op calls/s"), ...cpuMetrics("context", "no-op call")];

export function noopGroups(env: BenchEnv): MeasureGroup[] {
  let echo: Http2EchoServer | null = null;
  const groups: MeasureGroup[] = env.plan.concurrency.map((concurrency) => ({
    id: `ctx.noop.c${concurrency}`,
    title: `context: no-op calls, ${clientsLabel(concurrency)}`,
    measures: noopMeasures(env, concurrency, () => {
      if (echo === null) throw new Error("http2 echo server not started");
      return echo.port;
    }),
  }));
  const first = groups[0];
  const last = groups.at(-1);
  if (first !== undefined && last !== undefined) {
    first.setup = async () => {
      echo = await startHttp2EchoServer(env.workDir);
    };
    last.teardown = async () => {
      await echo?.stop();
    };
  }
  groups.push({
    id: "ctx.disk",
    title: "context: disk",
    measures: [
      {
        id: "ctx.disk.fdatasync",
        cell: "1 writer",
        subject: `disk · append ${VALUE_BYTES} B + fdatasync (same filesystem as all data dirs)`,
        system: "baseline",
        metrics: [opsPerSecMetric("context", "fdatasync/s")],
        run: () => Promise.resolve(fdatasyncRate(env.workDir, env.plan.shortMs)),
      },
    ],
  });
  return groups;
}

function noopMeasures(env: BenchEnv, concurrency: number, echoPort: () => number): Measure[] {
  const { plan, daemon } = env;
  const cell = clientsLabel(concurrency);
  const loop = loopFor(env, concurrency, plan.shortMs);
  const measure = (kind: NoopKind, rest: Omit<Measure, "id" | "cell" | "metrics">): Measure => ({
    id: noopId(concurrency, kind),
    cell,
    metrics: noopMetric,
    ...rest,
  });
  const python = (mode: PythonMode) => (): Promise<Record<string, number>> =>
    runPythonWorker(pythonLoopSpec(env, mode, concurrency, plan.shortMs, ""), serverProcess(env, "statehouse"));

  const protocols: ConnectProtocol[] = ["connect-h2", "connect-h1", "grpc", "grpc-web"];
  const measures: Measure[] = protocols.map((protocol) =>
    measure(protocol, {
      subject: `Statehouse Health · ${PROTOCOL_LABELS[protocol]}`,
      system: "statehouse",
      run: async () => {
        using client = connectClient(daemon.url, protocol);
        return await loop("statehouse", async () => {
          await client.rpc.health({});
        });
      },
    }),
  );
  measures.push(
    measure("ts-sdk", {
      subject: "Statehouse Health · TS SDK (Connect, HTTP/2)",
      system: "statehouse",
      run: async () => {
        await using client = new Statehouse({ url: daemon.url, namespace: NAMESPACE });
        return await loop("statehouse", async () => {
          await client.health();
        });
      },
    }),
    measure("grpc-js", {
      subject: "Statehouse Health · gRPC (grpc-js)",
      system: "statehouse",
      run: async () => {
        using client = new StatehouseGrpcClient(daemon.address);
        return await loop("statehouse", async () => {
          await client.health();
        });
      },
    }),
  );
  if (env.pythonSkip === null) {
    measures.push(
      measure("py-sdk", { subject: "Statehouse health() · Python SDK", system: "statehouse", run: python("noop-sdk") }),
      measure("grpcio", { subject: "Statehouse Health · gRPC (grpcio, Python)", system: "statehouse", run: python("noop-grpcio") }),
    );
  }
  measures.push(
    measure("http2", {
      subject: "raw node:http2 POST → 200 (separate server process)",
      system: "baseline",
      run: async () => {
        const session = await http2Session(echoPort());
        const body = Buffer.alloc(16);
        try {
          return await loop("baseline", () => http2Request(session, body));
        } finally {
          session.close();
        }
      },
    }),
  );
  const { etcd, postgres } = env;
  if (etcd !== null) {
    measures.push(
      measure("etcd-status", {
        subject: "etcd Maintenance.Status (grpc-js)",
        system: "etcd",
        run: async () => {
          using client = new EtcdClient(etcd.address);
          return await loop("etcd", () => client.status());
        },
      }),
    );
  }
  if (postgres !== null) {
    measures.push(
      measure("pg-select1", {
        subject: "PostgreSQL SELECT 1 (pg, one connection per client)",
        system: "postgres",
        run: async () => {
          await using pool = await connectPool(postgres, concurrency);
          return await loop("postgres", (w) => pool.at(w).selectOne());
        },
      }),
    );
  }
  return measures;
}
