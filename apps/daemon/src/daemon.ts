// statehoused: opens the engine, serves every protocol on one port, writes the
// ready file, and shuts down gracefully.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import { BackupService, GrpcHealth, StatehouseService } from "@statehouse/api";
import { type Engine, type EngineObserver, type EngineOptions, isEngineError, openEngine, parseFailpoint } from "@statehouse/engine";
import { ApiKeyStore } from "./auth/api-key-store.js";
import { bootstrapAdminKey } from "./auth/bootstrap.js";
import { exposureProblem, parseListenAddr, redactedStorageUrl, type DaemonConfig } from "./config.js";
import { SharedConnectionCounts } from "./connection-counts.js";
import { DaemonMetrics } from "./daemon-metrics.js";
import { buildFrontEnd } from "./front-end.js";
import { OpsMetrics } from "./ops-metrics.js";
import type { Logger } from "./logger.js";
import { formatAddress, type BoundAddress, type TlsMaterial } from "./protocol-server.js";
import { ListenError, RpcThreadPool } from "./rpc-threads/rpc-thread-pool.js";
import { acceleratedClock } from "./test-clock.js";
import { PACKAGE_DIR } from "./package-dir.js";

/** Startup failed for a reason the operator must fix (data dir locked, port in use, ...). */
export class DaemonStartError extends Error {
  override readonly name = "DaemonStartError";
}

export interface Daemon {
  /** The first bound address, e.g. "127.0.0.1:50051". */
  readonly address: string;
  readonly addresses: readonly string[];
  /** Graceful shutdown: stop accepting, drain within the grace period, close the engine. Idempotent. */
  close(): Promise<void>;
  /** SIGHUP: re-reads the TLS certificate, key and client CA (new connections get them) and the API key file. */
  reload(): void;
}

function versionInfo(): { version: string; gitSha: string } {
  const version = (JSON.parse(readFileSync(`${PACKAGE_DIR}/package.json`, "utf8")) as { version: string }).version;
  let gitSha = process.env["STATEHOUSE_GIT_SHA"] ?? "";
  if (gitSha === "") {
    try {
      gitSha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: PACKAGE_DIR, timeout: 2000, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      gitSha = "unknown";
    }
  }
  return { version, gitSha };
}

async function writeReadyFile(path: string, content: object): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(content)}\n`);
  await rename(tmp, path);
}

function readTlsMaterial(config: DaemonConfig): TlsMaterial | null {
  if (config.tlsCert === null || config.tlsKey === null) return null;
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new DaemonStartError(`cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
  };
  return { cert: read(config.tlsCert, "certificate"), key: read(config.tlsKey, "key"), clientCa: config.tlsClientCa === null ? null : read(config.tlsClientCa, "client CA") };
}

async function openStorage(config: DaemonConfig, log: Logger, observer: EngineObserver): Promise<Engine> {
  // The engine fires every crash point, commit:after-sync-before-reply included (after the synced
  // batch returned, before any commit of it is answered).
  const failpoint = config.failpoint === null ? null : parseFailpoint(config.failpoint);
  const options: EngineOptions = {
    fsyncOnCommit: config.fsyncOnCommit,
    snapshotInterval: config.snapshotInterval,
    txTimeoutMs: config.txTimeoutMs,
    maxValueBytes: config.maxValueBytes,
    maxStagedBytes: config.maxStagedBytes,
    maxTransactionBytes: config.maxTransactionBytes,
    idempotencyWindowMs: config.idempotencyWindowMs,
    recoveryMode: config.recoveryMode,
    compactionIntervalMs: config.compactionIntervalMs,
    compactionPauseMs: config.compactionPauseMs,
    ...(config.retentionDefault === null ? {} : { retentionDefault: config.retentionDefault }),
    rocksdbCacheBytes: config.rocksdbCacheMb * 1024 * 1024,
    rocksdbMemtableBytes: config.rocksdbMemtableMb * 1024 * 1024,
    versionCacheBytes: config.versionCacheMb * 1024 * 1024,
    rocksdbLogLevel: config.rocksdbLogLevel,
    rocksdbWriter: config.rocksdbWriter,
    logger: log.child({ component: "engine" }),
    observer,
    ...(config.useMemory ? { inMemory: true } : { dataDir: config.dataDir }),
    ...(failpoint === null ? {} : { failpoint }),
    ...(config.testClockRate === null ? {} : { clock: acceleratedClock(config.testClockRate) }),
  };
  if (config.storage !== null) {
    // Cluster mode: nothing on local disk; dataDir, snapshots, recovery mode and the RocksDB sizes do not apply.
    const { dataDir: _dataDir, inMemory: _inMemory, ...shared } = options;
    // Loaded only in cluster mode: the PostgreSQL driver is not needed to serve RocksDB (README, "Memory").
    const { openPostgresEngine } = await import("@statehouse/storage-postgres");
    return openPostgresEngine({ connectionString: config.storage, schema: config.postgresSchema, poolSize: config.postgresPoolSize, notify: config.postgresNotify, logger: log.child({ component: "postgres" }) }, shared);
  }
  try {
    return await openEngine(options);
  } catch (error) {
    if (isEngineError(error, "LOCKED")) {
      throw new DaemonStartError(`data dir ${config.dataDir} is in use by another statehoused (RocksDB lock held); refusing to start`, { cause: error });
    }
    throw error;
  }
}

export async function startDaemon(config: DaemonConfig, log: Logger): Promise<Daemon> {
  const listen = parseListenAddr(config.listenAddr);
  const exposure = exposureProblem(config);
  if (exposure !== null) throw new DaemonStartError(exposure);
  const tlsMaterial = readTlsMaterial(config);
  if (config.readyFile !== null) await rm(config.readyFile, { force: true });
  // With RPC threads, each counts its own requests; this registry then holds the engine's and the process's metrics.
  const metrics = new DaemonMetrics({ thread: config.rpcThreads > 1 ? null : "0" });
  const ops = new OpsMetrics({ registry: metrics.registry, dataDir: config.useMemory || config.storage !== null ? null : config.dataDir, services: [StatehouseService, BackupService, GrpcHealth] });
  log.info(
    config.storage !== null
      ? { storage: "postgres", url: redactedStorageUrl(config.storage), schema: config.postgresSchema }
      : { storage: config.useMemory ? "memory" : "rocksdb", dataDir: config.useMemory ? null : config.dataDir, fsyncOnCommit: config.fsyncOnCommit },
    "opening storage",
  );
  if (config.testClockRate !== null) {
    log.warn(
      { testClockRate: config.testClockRate },
      `TEST CLOCK: STATEHOUSE_TEST_CLOCK_RATE=${config.testClockRate}: the engine's clock runs ${config.testClockRate}x real time (commit times, retention horizons, the idempotency window are not real). For tests and the soak bench only; never in production`,
    );
  }
  const engine = await openStorage(config, log, ops.observe(metrics.observer));
  const recovery = engine.recovery;
  log.info(
    {
      storage: recovery.storage,
      dataDir: recovery.dataDir,
      snapshotTs: recovery.snapshotTs?.toString() ?? null,
      snapshotFile: recovery.snapshotFile,
      eventsReplayed: recovery.eventsReplayed,
      commitTs: recovery.commitTs.toString(),
      durationMs: recovery.durationMs,
      notes: recovery.notes,
    },
    `storage ready: ${recovery.storage}${recovery.dataDir === null ? "" : ` at ${recovery.dataDir}`}, snapshot ${recovery.snapshotFile ?? "none"}, ${recovery.eventsReplayed} events replayed, commit_ts ${recovery.commitTs}`,
  );
  metrics.attachEngine(() => engine.stats());
  metrics.attachRetention(() => engine.listRetention());
  await ops.attachEngine(() => engine.stats(), recovery);
  const startedAtMs = Date.now();
  const version = versionInfo();
  const scheme = tlsMaterial === null ? "http" : "https";
  let serving: Serving;
  try {
    serving = config.rpcThreads > 1 ? await threadedServing(config, log, engine, metrics, tlsMaterial, version, startedAtMs) : inProcessServing(config, log, engine, metrics, ops, tlsMaterial, version, startedAtMs);
  } catch (error) {
    await engine.close();
    throw error;
  }

  let bound;
  try {
    bound = await serving.listen(listen.hosts, listen.port);
  } catch (error) {
    await serving.close();
    await engine.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new DaemonStartError(`cannot listen on ${config.listenAddr}: ${code ?? (error as Error).message}`, { cause: error });
  }
  const addresses = bound.map(formatAddress);
  const address = addresses[0] ?? config.listenAddr;
  log.info(
    { address, addresses, url: `${scheme}://${address}`, auth: config.authMode, tls: tlsMaterial !== null, mtls: tlsMaterial?.clientCa != null, fastPath: serving.fastPath, rpcThreads: config.rpcThreads },
    "listening",
  );
  if (config.insecureAllowExposed && exposureProblem({ ...config, insecureAllowExposed: false }) !== null) {
    log.warn({ address, auth: config.authMode, tls: tlsMaterial !== null }, "INSECURE: serving a non-loopback address without TLS and --auth required (--insecure-allow-exposed)");
  }
  if (config.readyFile !== null) {
    await writeReadyFile(config.readyFile, { address, pid: process.pid, commitTs: engine.commitTs().toString() });
  }

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    log.info({ inFlight: serving.inFlight(), graceMs: config.shutdownGraceMs }, "shutting down: no new calls, draining in-flight calls");
    serving.beginShutdown();
    const drained = await serving.drained(config.shutdownGraceMs);
    if (!drained.ok) {
      log.warn({ inFlight: drained.inFlight }, "grace period over: ending the remaining calls with UNAVAILABLE");
      serving.abortCalls();
      await serving.drained(1000);
    }
    await serving.close();
    const commitTs = engine.commitTs();
    await engine.close();
    serving.flushLogs();
    if (config.readyFile !== null) await rm(config.readyFile, { force: true });
    log.info({ commitTs: commitTs.toString() }, "stopped");
  };

  return {
    address,
    addresses,
    close() {
      closing ??= close();
      return closing;
    },
    reload() {
      try {
        const material = readTlsMaterial(config);
        serving.reload(material).then(
          () => log.info({ tls: material !== null }, "reloaded: TLS certificate and API keys"),
          (error: unknown) => log.error({ err: error }, "reload failed; serving with the certificate and keys loaded before"),
        );
      } catch (error) {
        log.error({ err: error }, "reload failed; serving with the certificate and keys loaded before");
      }
    },
  };
}

/** What serves the port: the engine's thread itself, or a pool of RPC threads. */
interface Serving {
  listen(hosts: readonly string[], port: number): Promise<BoundAddress[]>;
  /** The fast path's paths, or "off" (for the log). */
  readonly fastPath: readonly string[] | "off";
  /** Calls in flight (null: in other threads, not known at once). */
  inFlight(): number | null;
  beginShutdown(): void;
  drained(timeoutMs: number): Promise<{ ok: boolean; inFlight: number }>;
  abortCalls(): void;
  /** Stops listening, closes connections, stops the key refresh; the engine is still open. */
  close(): Promise<void>;
  /** SIGHUP: API keys and TLS material (null: no TLS). */
  reload(material: TlsMaterial | null): Promise<void>;
  flushLogs(): void;
}

/** --rpc-threads 1: the protocol server on the engine's thread, calling the engine directly. */
function inProcessServing(
  config: DaemonConfig,
  log: Logger,
  engine: Engine,
  metrics: DaemonMetrics,
  ops: OpsMetrics,
  tlsMaterial: TlsMaterial | null,
  version: { version: string; gitSha: string },
  startedAtMs: number,
): Serving {
  const keys = ApiKeyStore.open(config.useMemory ? null : config.dataDir);
  // First start with --auth required: the first admin key (shown once, never logged).
  if (config.authMode === "required" && !keys.hasActiveAdmin()) bootstrapAdminKey(keys, log);
  const frontEnd = buildFrontEnd({ config, log, engine, metrics, ops, keys, tlsMaterial, version, startedAtMs, metricsText: () => metrics.registry.metrics(), reusePort: false });
  const { server, audit, limitedLog } = frontEnd;
  // A key bootstrapped by `statehoused auth bootstrap` (or revoked by hand) while running is seen within a second.
  const keyRefresh = setInterval(() => {
    try {
      keys.refresh();
    } catch (error) {
      limitedLog.error({ err: error }, "cannot re-read the API key file; keeping the keys read before");
    }
  }, 1000);
  keyRefresh.unref();
  return {
    listen: (hosts, port) => server.listen(hosts, port),
    fastPath: frontEnd.fastPath === null ? "off" : frontEnd.fastPath.paths,
    inFlight: () => server.inFlight,
    beginShutdown: () => frontEnd.beginShutdown(),
    drained: async (timeoutMs) => ({ ok: await server.drained(timeoutMs), inFlight: server.inFlight }),
    abortCalls: () => frontEnd.abortCalls(),
    async close() {
      await server.close();
      clearInterval(keyRefresh);
      audit.close();
    },
    async reload(material) {
      keys.refresh();
      if (material !== null) server.setSecureContext(material);
    },
    flushLogs: () => limitedLog.flush(),
  };
}

/** --rpc-threads N > 1: N worker threads serve the port (SO_REUSEPORT), the engine stays here. */
async function threadedServing(
  config: DaemonConfig,
  log: Logger,
  engine: Engine,
  metrics: DaemonMetrics,
  tlsMaterial: TlsMaterial | null,
  version: { version: string; gitSha: string },
  startedAtMs: number,
): Promise<Serving> {
  const streams = new Int32Array(new SharedArrayBuffer(4));
  const pool = await RpcThreadPool.start(config.rpcThreads, {
    config,
    log,
    engine,
    registry: metrics.registry,
    streams,
    connections: new SharedConnectionCounts().buffer,
    tls: tlsMaterial,
    version,
    startedAtMs,
    onThreadDied(thread, error) {
      // A thread that died leaves its connections unserved: like an uncaught exception, the daemon exits.
      log.fatal({ err: error, thread }, `RPC thread ${thread} died; exiting`);
      process.exit(1);
    },
  });
  return {
    async listen(hosts, port) {
      try {
        return await pool.listen(hosts, port);
      } catch (error) {
        throw error instanceof ListenError ? Object.assign(new Error(error.message), { code: error.code ?? undefined }) : error;
      }
    },
    get fastPath() {
      return pool.fastPath;
    },
    inFlight: () => null,
    beginShutdown: () => pool.beginShutdown(),
    drained: (timeoutMs) => pool.drained(timeoutMs),
    abortCalls: () => pool.abortCalls(),
    close: () => pool.close(),
    reload: (material) => pool.reload(material),
    flushLogs: () => undefined,
  };
}
