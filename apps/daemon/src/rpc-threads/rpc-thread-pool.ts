// The engine's thread side of --rpc-threads N > 1: N worker threads, each
// serving the whole protocol server on the one port (SO_REUSEPORT), each with
// its own engine channel (serveEngine). Shutdown, TLS reload and /metrics go
// to every thread; /metrics adds up every thread's registry and the engine
// thread's own.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { Engine, RecoveryReport } from "@statehouse/engine";
import { AggregatorRegistry, Gauge, type Registry } from "prom-client";
import type { DaemonConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { BoundAddress, TlsMaterial } from "../protocol-server.js";
import { PACKAGE_DIR } from "../package-dir.js";
import { serveEngine } from "./engine-proxy.js";
import type { ChannelServer } from "./port-channel.js";

export interface RpcWorkerData {
  config: DaemonConfig;
  thread: number;
  enginePort: MessagePort;
  recovery: RecoveryReport;
  streams: Int32Array;
  connections: SharedArrayBuffer;
  tls: TlsMaterial | null;
  version: { version: string; gitSha: string };
  startedAtMs: number;
  stackTraceLimit?: number;
}

type WithId<T> = T & { id: number };

export type WorkerCommand =
  | WithId<{ t: "listen"; hosts: readonly string[]; port: number }>
  | { t: "begin-shutdown" }
  | WithId<{ t: "drain"; timeoutMs: number }>
  | { t: "abort-calls" }
  | WithId<{ t: "close" }>
  | WithId<{ t: "reload"; tls: TlsMaterial | null }>
  | WithId<{ t: "metrics-json" }>
  | WithId<{ t: "metrics-text"; text: string; error?: undefined } | { t: "metrics-text"; text: null; error: string }>;

export type WorkerReply =
  | { t: "ready" }
  | WithId<{ t: "listening"; bound: BoundAddress[]; fastPath: readonly string[] | "off" }>
  | WithId<{ t: "listen-failed"; code: string | null; message: string }>
  | WithId<{ t: "drained"; ok: boolean; inFlight: number }>
  | WithId<{ t: "closed" }>
  | WithId<{ t: "reloaded" }>
  | WithId<{ t: "metrics-json"; json: object[] }>
  | WithId<{ t: "metrics-text" }>
  | WithId<{ t: "failed"; message: string }>;

/**
 * The worker entry, beside this module once built (dist/rpc-threads/ or the bundle's dist/bundle/);
 * under vitest, whose sources are TypeScript, the built dist/rpc-threads/rpc-worker.js.
 */
const WORKER_FILE = import.meta.url.endsWith(".ts")
  ? join(PACKAGE_DIR, "dist", "rpc-threads", "rpc-worker.js")
  : fileURLToPath(new URL("./rpc-worker.js", import.meta.url));

/** A listen that failed in a worker: the error's code (EADDRINUSE, ...) as the engine's thread would have seen it. */
export class ListenError extends Error {
  override readonly name = "ListenError";
  readonly code: string | null;
  constructor(message: string, code: string | null) {
    super(message);
    this.code = code;
  }
}

interface RpcThread {
  worker: Worker;
  channel: ChannelServer;
  waiters: Map<number, (reply: WorkerReply) => void>;
}

export interface RpcThreadPoolOptions {
  config: DaemonConfig;
  log: Logger;
  engine: Engine;
  /** The engine thread's registry (engine, storage and process metrics). */
  registry: Registry;
  /** The open-stream counter every thread shares (StreamSlots). */
  streams: Int32Array;
  /** The connection counts every thread shares (SharedConnectionCounts). */
  connections: SharedArrayBuffer;
  tls: TlsMaterial | null;
  version: { version: string; gitSha: string };
  startedAtMs: number;
  /** A thread died: the daemon cannot serve its connections (the process exits). */
  onThreadDied: (thread: number, error: unknown) => void;
}

export class RpcThreadPool {
  readonly #options: RpcThreadPoolOptions;
  readonly #threads: RpcThread[] = [];
  #nextId = 1;
  #stopping = false;
  #fastPath: readonly string[] | "off" = "off";

  private constructor(options: RpcThreadPoolOptions) {
    this.#options = options;
    const threads = this.#threads;
    new Gauge({
      name: "statehouse_engine_calls_pending",
      help: "Engine calls an RPC thread made that the engine has not answered yet, by thread (the engine queue with --rpc-threads > 1).",
      labelNames: ["thread"],
      registers: [options.registry],
      collect() {
        for (const [i, t] of threads.entries()) this.set({ thread: String(i + 1) }, t.channel.pending);
      },
    });
  }

  /** Starts `count` threads and waits until each is ready to listen. */
  static async start(count: number, options: RpcThreadPoolOptions): Promise<RpcThreadPool> {
    const pool = new RpcThreadPool(options);
    await Promise.all(Array.from({ length: count }, (_, i) => pool.#spawn(i + 1)));
    return pool;
  }

  get size(): number {
    return this.#threads.length;
  }

  /** The fast path's paths in the threads (known once they listen), or "off". */
  get fastPath(): readonly string[] | "off" {
    return this.#fastPath;
  }

  #spawn(thread: number): Promise<void> {
    const { config, engine, streams, connections, tls, version, startedAtMs } = this.#options;
    const { port1, port2 } = new MessageChannel();
    const workerData: RpcWorkerData = {
      config,
      thread,
      enginePort: port2,
      recovery: engine.recovery,
      streams,
      connections,
      tls,
      version,
      startedAtMs,
      ...(Error.stackTraceLimit === 0 ? { stackTraceLimit: 0 } : {}),
    };
    const worker = new Worker(WORKER_FILE, { workerData, transferList: [port2], name: `statehoused rpc ${thread}` });
    const entry: RpcThread = { worker, channel: serveEngine(engine, port1), waiters: new Map() };
    this.#threads.push(entry);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on("message", (message: WorkerReply) => {
        if (message.t === "ready") {
          ready = true;
          resolve();
          return;
        }
        if (message.t === "metrics-text") {
          this.metricsText().then(
            (text) => worker.postMessage({ t: "metrics-text", id: message.id, text } satisfies WorkerCommand),
            (error: unknown) => worker.postMessage({ t: "metrics-text", id: message.id, text: null, error: String(error) } satisfies WorkerCommand),
          );
          return;
        }
        const waiter = entry.waiters.get(message.id);
        entry.waiters.delete(message.id);
        waiter?.(message);
      });
      worker.on("error", (error) => {
        if (!ready) reject(error);
        else this.#options.onThreadDied(thread, error);
      });
      worker.on("exit", (code) => {
        if (!ready) reject(new Error(`rpc thread ${thread} exited with code ${code} before it was ready`));
        else if (!this.#stopping) this.#options.onThreadDied(thread, new Error(`rpc thread ${thread} exited with code ${code}`));
      });
    });
  }

  #ask<R extends WorkerReply>(entry: RpcThread, command: WorkerCommand & { id: number }): Promise<R> {
    return new Promise((resolve, reject) => {
      entry.waiters.set(command.id, (reply) => (reply.t === "failed" ? reject(new Error(reply.message)) : resolve(reply as R)));
      entry.worker.postMessage(command);
    });
  }

  #askAll<R extends WorkerReply>(command: (id: number) => WorkerCommand & { id: number }): Promise<R[]> {
    return Promise.all(this.#threads.map((entry) => this.#ask<R>(entry, command(this.#nextId++))));
  }

  /** Binds every thread to the hosts on one port (port 0: the first thread picks it, the others follow). */
  async listen(hosts: readonly string[], port: number): Promise<BoundAddress[]> {
    let bound: BoundAddress[] = [];
    for (const entry of this.#threads) {
      const reply = await this.#ask<Extract<WorkerReply, { t: "listening" | "listen-failed" }>>(entry, { t: "listen", id: this.#nextId++, hosts, port: bound[0]?.port ?? port });
      if (reply.t === "listen-failed") throw new ListenError(reply.message, reply.code);
      if (bound.length === 0) bound = reply.bound;
      this.#fastPath = reply.fastPath;
    }
    return bound;
  }

  /** Every thread: no new calls, followers end, listeners close. */
  beginShutdown(): void {
    for (const entry of this.#threads) entry.worker.postMessage({ t: "begin-shutdown" } satisfies WorkerCommand);
  }

  /** True when every thread drained within `timeoutMs`; with the calls still in flight. */
  async drained(timeoutMs: number): Promise<{ ok: boolean; inFlight: number }> {
    const replies = await this.#askAll<Extract<WorkerReply, { t: "drained" }>>((id) => ({ t: "drain", id, timeoutMs }));
    return { ok: replies.every((r) => r.ok), inFlight: replies.reduce((n, r) => n + r.inFlight, 0) };
  }

  abortCalls(): void {
    for (const entry of this.#threads) entry.worker.postMessage({ t: "abort-calls" } satisfies WorkerCommand);
  }

  /** Closes every thread's server (connections flushed), ends the engine streams left, stops the threads. */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#askAll((id) => ({ t: "close", id }));
    for (const entry of this.#threads) entry.channel.closeStreams();
    await Promise.all(this.#threads.map((entry) => entry.worker.terminate()));
  }

  /** SIGHUP: every thread re-reads the API keys and takes the new TLS material. */
  async reload(tls: TlsMaterial | null): Promise<void> {
    await this.#askAll((id) => ({ t: "reload", id, tls }));
  }

  /** GET /metrics: the engine thread's registry and every RPC thread's, added up (counters by label). */
  async metricsText(): Promise<string> {
    const replies = await this.#askAll<Extract<WorkerReply, { t: "metrics-json" }>>((id) => ({ t: "metrics-json", id }));
    // Process metrics are only here; those prom-client leaves out of a sum ("omit": the start time) are taken as they are.
    const own = (await this.#options.registry.getMetricsAsJSON()).map((m) => (m.aggregator === "omit" ? { ...m, aggregator: "first" as const } : m));
    return AggregatorRegistry.aggregate([own, ...replies.map((r) => r.json)]).metrics();
  }
}
