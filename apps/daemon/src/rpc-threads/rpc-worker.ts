// An RPC worker thread (--rpc-threads N > 1): the whole protocol server of
// front-end.ts over an engine proxy, listening with SO_REUSEPORT on the
// daemon's port. The engine's thread (rpc-thread-pool.ts) drives it with the
// messages of WorkerCommand and answers its /metrics requests.
import { parentPort, workerData } from "node:worker_threads";
import { BackupService, GrpcHealth, StatehouseService } from "@statehouse/api";
import { ApiKeyStore } from "../auth/api-key-store.js";
import { DaemonMetrics } from "../daemon-metrics.js";
import { buildFrontEnd } from "../front-end.js";
import { createLogger } from "../logger.js";
import { OpsMetrics } from "../ops-metrics.js";
import { engineProxy } from "./engine-proxy.js";
import type { RpcWorkerData, WorkerCommand, WorkerReply } from "./rpc-thread-pool.js";

const data = workerData as RpcWorkerData;
const port = parentPort;
if (port === null) throw new TypeError("rpc-worker.js runs as a worker thread");
const { config } = data;
const thread = String(data.thread);
const log = createLogger(config.logLevel).child({ thread: data.thread });
if (data.stackTraceLimit !== undefined) Error.stackTraceLimit = data.stackTraceLimit;
const engine = engineProxy(data.enginePort, data.recovery);
const metrics = new DaemonMetrics({ thread, processMetrics: false });
const ops = new OpsMetrics({ registry: metrics.registry, dataDir: null, services: [StatehouseService, BackupService, GrpcHealth] });
// Each thread reads the key file; changes are made under the file's lock and seen by the others within a second.
const keys = ApiKeyStore.open(config.useMemory ? null : config.dataDir);

let nextRequest = 1;
const metricsWaiters = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();

const frontEnd = buildFrontEnd({
  config,
  log,
  engine,
  metrics,
  ops,
  keys,
  tlsMaterial: data.tls,
  version: data.version,
  startedAtMs: data.startedAtMs,
  // The engine's thread adds up every thread's registry.
  metricsText: () =>
    new Promise((resolve, reject) => {
      const id = nextRequest++;
      metricsWaiters.set(id, { resolve, reject });
      reply({ t: "metrics-text", id });
    }),
  sharedStreams: data.streams,
  sharedConnections: data.connections,
  reusePort: true,
});

const keyRefresh = setInterval(() => {
  try {
    keys.refresh();
  } catch (error) {
    frontEnd.limitedLog.error({ err: error }, "cannot re-read the API key file; keeping the keys read before");
  }
}, 1000);
keyRefresh.unref();

function reply(message: WorkerReply): void {
  port?.postMessage(message);
}

async function onCommand(command: WorkerCommand): Promise<void> {
  switch (command.t) {
    case "listen":
      try {
        const bound = await frontEnd.server.listen(command.hosts, command.port);
        reply({ t: "listening", id: command.id, bound, fastPath: frontEnd.fastPath?.paths ?? "off" });
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        reply({ t: "listen-failed", id: command.id, code: e.code ?? null, message: e.message });
      }
      return;
    case "begin-shutdown":
      frontEnd.beginShutdown();
      return;
    case "drain":
      reply({ t: "drained", id: command.id, ok: await frontEnd.server.drained(command.timeoutMs), inFlight: frontEnd.server.inFlight });
      return;
    case "abort-calls":
      frontEnd.abortCalls();
      return;
    case "close":
      await frontEnd.server.close();
      clearInterval(keyRefresh);
      frontEnd.audit.close();
      frontEnd.limitedLog.flush();
      reply({ t: "closed", id: command.id });
      return;
    case "reload":
      keys.refresh();
      if (command.tls !== null) frontEnd.server.setSecureContext(command.tls);
      reply({ t: "reloaded", id: command.id });
      return;
    case "metrics-json":
      reply({ t: "metrics-json", id: command.id, json: await metrics.registry.getMetricsAsJSON() });
      return;
    case "metrics-text": {
      const waiter = metricsWaiters.get(command.id);
      metricsWaiters.delete(command.id);
      if (command.text === null) waiter?.reject(new Error(command.error));
      else waiter?.resolve(command.text);
      return;
    }
  }
}

port.on("message", (command: WorkerCommand) => {
  onCommand(command).catch((error: unknown) => {
    log.error({ err: error, command: command.t }, "rpc thread command failed");
    if ("id" in command) reply({ t: "failed", id: command.id, message: (error as Error).message });
  });
});
reply({ t: "ready" });
