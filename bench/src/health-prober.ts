// The commit-stall bench's Health prober, run as a worker thread (its own event loop, so the
// bench's P1 clients on the main thread do not delay it): it sends a Health call every
// `intervalMs` (not waiting for answers) on its own grpc-js connection and posts the latencies
// of those sent after the warm-up. The worker runs `proberMain`'s source (eval), so it loads the
// same way from the TypeScript sources (tests) and from dist; it may use only its parameters.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

export interface ProberData {
  address: string;
  intervalMs: number;
  warmupMs: number;
  durationMs: number;
  /** Absolute path of @grpc/grpc-js (the eval'd worker has no module context). */
  grpcJs: string;
}

type Require = (id: string) => unknown;

async function proberMain(data: ProberData, load: Require, post: (latencies: number[]) => void): Promise<void> {
  const grpc = load(data.grpcJs) as typeof import("@grpc/grpc-js");
  const client = new grpc.Client(data.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  // HealthRequest is empty: its encoding is zero bytes; the answer is not decoded.
  const health = (): Promise<void> =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        "/statehouse.v1.StatehouseService/Health",
        () => Buffer.alloc(0),
        (bytes: Buffer) => bytes,
        Buffer.alloc(0),
        (error) => (error === null ? resolve() : reject(error)),
      );
    });
  const latencies: number[] = [];
  const calls: Promise<void>[] = [];
  const start = performance.now();
  const measureFrom = start + data.warmupMs;
  for (let next = start; next < measureFrom + data.durationMs; next += data.intervalMs) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    calls.push(
      health().then(() => {
        if (sent >= measureFrom) latencies.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(calls);
  client.close();
  post(latencies);
}

/** Runs the prober on a worker thread; resolves to the latencies (ms) of the probes sent after the warm-up. */
export async function runHealthProber(options: Omit<ProberData, "grpcJs">): Promise<number[]> {
  const data: ProberData = { ...options, grpcJs: createRequire(import.meta.url).resolve("@grpc/grpc-js") };
  const source = `const { workerData, parentPort } = require("node:worker_threads");
    (${proberMain.toString()})(workerData, require, (latencies) => parentPort.postMessage(latencies));`;
  const worker = new Worker(source, { eval: true, workerData: data });
  try {
    return await new Promise<number[]>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`health prober exited (${code})`)));
    });
  } finally {
    await worker.terminate();
  }
}
