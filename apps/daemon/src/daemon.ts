// statehoused: opens the engine, serves every protocol on one port, writes the
// ready file, and shuts down gracefully.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService, BackupService, GrpcHealth, RetentionService, StatehouseService } from "@statehouse/api";
import { type Engine, type EngineObserver, type EngineOptions, isEngineError, openEngine, parseFailpoint } from "@statehouse/engine";
import { openPostgresEngine } from "@statehouse/storage-postgres";
import { AccessGate, type Principal } from "./auth/access-gate.js";
import { ApiKeyStore } from "./auth/api-key-store.js";
import { AuditLog } from "./auth/audit-log.js";
import { authenticateCall, authInterceptor, callSourceValues, principalOf } from "./auth/auth-interceptor.js";
import { createAuthService } from "./auth/auth-service.js";
import { bootstrapAdminKey } from "./auth/bootstrap.js";
import { createBackupService } from "./backup-service.js";
import { exposureProblem, parseListenAddr, redactedStorageUrl, type DaemonConfig } from "./config.js";
import { CorsPolicy } from "./cors-policy.js";
import { HostPolicy } from "./host-policy.js";
import { ConsoleAssets } from "./console-assets.js";
import { DaemonMetrics } from "./daemon-metrics.js";
import { FastPath } from "./fast-path/fast-path.js";
import { OpsMetrics } from "./ops-metrics.js";
import { createHealthService } from "./health-service.js";
import type { Logger } from "./logger.js";
import { formatAddress, peerIdentityOf, ProtocolServer, type HttpRequest, type HttpResponse, type TlsMaterial } from "./protocol-server.js";
import { RateLimitedLog } from "./rate-limited-log.js";
import { RequestValidator } from "./request-validator.js";
import { createRetentionService } from "./retention-service.js";
import { decorateProtocolError, unavailable } from "./rpc-errors.js";
import { createStatehouseService } from "./statehouse-service.js";
import { StreamSlots } from "./stream-slots.js";
import { TxnOperationCounter } from "./txn-operation-counter.js";

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

const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const ERROR_LOG_WINDOW_MS = 10_000;

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

/** Makes protocol-layer errors carry a StatehouseError detail and counts errors. */
function onCallAbort(metrics: DaemonMetrics): (this: AbortSignal) => void {
  return function onAbort(this: AbortSignal) {
    const reason: unknown = this.reason;
    if (reason instanceof ConnectError) {
      decorateProtocolError(reason);
      metrics.rpcError(Code[reason.code]);
    }
  };
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

/** Answers a plain-HTTP request the gate refused (401 / 403 / 429), in text. */
function refuseHttp(res: HttpResponse, error: unknown): void {
  const e = error instanceof ConnectError ? error : new ConnectError(String(error), Code.Internal);
  res.statusCode = e.code === Code.Unauthenticated ? 401 : e.code === Code.PermissionDenied ? 403 : e.code === Code.ResourceExhausted ? 429 : 500;
  if (e.code === Code.Unauthenticated) res.setHeader("www-authenticate", 'Bearer realm="statehoused"');
  res.setHeader("content-type", "text/plain");
  res.end(`${e.rawMessage}\n`);
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
    rocksdbLogLevel: config.rocksdbLogLevel,
    logger: log.child({ component: "engine" }),
    observer,
    ...(config.useMemory ? { inMemory: true } : { dataDir: config.dataDir }),
    ...(failpoint === null ? {} : { failpoint }),
  };
  if (config.storage !== null) {
    // Cluster mode: nothing on local disk; dataDir, snapshots, recovery mode and the RocksDB sizes do not apply.
    const { dataDir: _dataDir, inMemory: _inMemory, ...shared } = options;
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
  const metrics = new DaemonMetrics();
  const ops = new OpsMetrics({ registry: metrics.registry, dataDir: config.useMemory || config.storage !== null ? null : config.dataDir, services: [StatehouseService, BackupService, GrpcHealth] });
  log.info(
    config.storage !== null
      ? { storage: "postgres", url: redactedStorageUrl(config.storage), schema: config.postgresSchema }
      : { storage: config.useMemory ? "memory" : "rocksdb", dataDir: config.useMemory ? null : config.dataDir, fsyncOnCommit: config.fsyncOnCommit },
    "opening storage",
  );
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
  const keys = ApiKeyStore.open(config.useMemory ? null : config.dataDir);
  // First start with --auth required: the first admin key (shown once, never logged).
  if (config.authMode === "required" && !keys.hasActiveAdmin()) bootstrapAdminKey(keys, log);
  await ops.attachEngine(() => engine.stats(), recovery);

  const followController = new AbortController();
  const shutdownController = new AbortController();
  let shuttingDown = false;
  const streams = new StreamSlots(config.maxStreamingCalls, (open) => metrics.setOpenStreams(open));
  const validator = new RequestValidator(config);
  const recursionLimit = 2 * config.maxJsonDepth + 16;
  const abortListener = onCallAbort(metrics);

  // Failed calls log through this: identical errors once per 10 s, with a count of the rest.
  const limitedLog = new RateLimitedLog(log, { windowMs: ERROR_LOG_WINDOW_MS });
  // One implementation for both paths: connect-node routes and the fast path call the same functions.
  const version = versionInfo();
  const service = createStatehouseService({
    engine,
    validator,
    metrics,
    log: limitedLog,
    streams,
    txnOps: new TxnOperationCounter(config.txTimeoutMs),
    maxOpenTransactions: config.maxOpenTransactions,
    version,
    startedAtMs: Date.now(),
    // The gate is built below; this runs only for calls it let through.
    readableNamespaces: (ctx, namespaces) => (gate.enforcing ? gate.readableNamespaces(principalOf(ctx), namespaces) : namespaces),
    followSignal: followController.signal,
  });
  const routes = (router: ConnectRouter): void => {
    router.service(StatehouseService, service);
    // Batches are sent uncompressed whatever the client accepts: on the
    // loopback and LAN links the daemon is meant for, gzip costs more CPU than
    // it saves in transfer (issue 13: 141k events/s plain, 87k gzipped).
    const uncompressed = { compressMinBytes: Number.MAX_SAFE_INTEGER };
    router.rpc(StatehouseService.method.replayBatches, service.replayBatches, uncompressed);
    router.rpc(StatehouseService.method.watchBatches, service.watchBatches, uncompressed);
    router.service(RetentionService, createRetentionService({ engine, validator, metrics, log: limitedLog }));
    router.service(BackupService, createBackupService({ engine, metrics, log, errorLog: limitedLog, streams, version: version.version }), uncompressed);
    router.service(GrpcHealth, createHealthService({ log: limitedLog, streams, shutdownSignal: followController.signal }));
    router.service(AuthService, authService);
  };
  const audit = new AuditLog(log.child({ component: "audit" }));
  const gate = new AccessGate({
    mode: config.authMode,
    store: keys,
    audit,
    perKey: { maxOpenTransactions: config.keyMaxOpenTransactions, maxOpenStreams: config.keyMaxOpenStreams },
    txTimeoutMs: config.txTimeoutMs,
  });
  const authService = createAuthService({
    store: keys,
    gate,
    log: limitedLog,
    maxNameBytes: config.maxNameBytes,
    ceilings: { maxOpenTransactions: config.maxOpenTransactions, maxOpenStreams: config.maxStreamingCalls },
  });
  const cors = new CorsPolicy(config.corsOrigins);
  const hosts = new HostPolicy(config.allowedHosts);
  const scheme = tlsMaterial === null ? "http" : "https";
  /** Authenticates and authorizes a plain-HTTP endpoint ("GET /metrics"); false when it answered the refusal. */
  const httpAllowed = (req: HttpRequest, res: HttpResponse, endpoint: string): boolean => {
    try {
      const principal: Principal = gate.authenticate(endpoint, { authorization: req.headers.authorization, peer: peerIdentityOf(req.socket), remote: req.socket.remoteAddress });
      gate.authorize(endpoint, principal, undefined);
      return true;
    } catch (error) {
      refuseHttp(res, error);
      return false;
    }
  };
  const consoleAssets = new ConsoleAssets(config.consoleDir, log);
  const readMaxBytes = config.maxRequestBytes;
  const writeMaxBytes = Math.max(config.maxRequestBytes, 64 * 1024 * 1024);
  const binaryOptions = { recursionLimit };
  const jsonOptions = { recursionLimit, ignoreUnknownFields: true };
  const fastPath = config.fastPath
    ? new FastPath({
        service,
        metrics,
        readMaxBytes,
        writeMaxBytes,
        binaryOptions,
        jsonOptions,
        requestGate() {
          if (shuttingDown) throw unavailable();
        },
        gate,
        hostAllowed: (authority) => hosts.allows(authority),
      })
    : null;
  const rpc = connectNodeAdapter({
    routes,
    readMaxBytes,
    writeMaxBytes,
    binaryOptions,
    jsonOptions,
    shutdownSignal: shutdownController.signal,
    // Every route, also those added later: the access table denies what it does not list.
    interceptors: [authInterceptor(gate)],
    contextValues: (req) => callSourceValues(peerIdentityOf(req.socket), req.socket.remoteAddress),
    requestGate(context) {
      if (shuttingDown) throw unavailable();
      context.signal.addEventListener("abort", abortListener, { once: true });
      authenticateCall(gate, context);
    },
    fallback(req: HttpRequest, res: HttpResponse) {
      const path = req.url?.split("?", 1)[0];
      if (req.method === "GET" && path === "/metrics") {
        if (!httpAllowed(req, res, "GET /metrics")) return;
        metrics.registry.metrics().then(
          (text) => {
            res.setHeader("content-type", metrics.registry.contentType);
            res.end(text);
          },
          (error: unknown) => {
            log.error({ err: error }, "metrics collection failed");
            res.statusCode = 500;
            res.end();
          },
        );
        return;
      }
      if (consoleAssets.handle(req, res)) return;
      if (req.method === "GET" && path === "/healthz") {
        res.statusCode = shuttingDown ? 503 : 200;
        res.end(shuttingDown ? "shutting down\n" : "ok\n");
        return;
      }
      res.statusCode = 404;
      res.end();
    },
  });

  const server = new ProtocolServer({
    handler: (req, res) => {
      const done = ops.startCall(req.url, req.headers["content-type"]);
      if (done !== null) res.once("close", done);
      // Every request on the port (RPCs, /metrics, /healthz, pages): DNS rebinding, then CORS.
      const authority = req.headers.host ?? (req.headers[":authority"] as string | undefined);
      if (!hosts.allows(authority)) {
        res.statusCode = 421;
        res.setHeader("content-type", "text/plain");
        res.end(`host ${JSON.stringify(authority)} is not served here (STATEHOUSE_ALLOWED_HOSTS)\n`);
        return;
      }
      if (cors.handle(req, res, authority === undefined ? null : `${scheme}://${authority}`)) return;
      rpc(req, res);
    },
    log: { info: (obj, msg) => log.info(obj, msg), debug: (obj, msg) => log.debug(obj, msg), warn: (obj, msg) => limitedLog.warn(obj, msg) },
    maxConcurrentStreams: config.maxConcurrentStreams,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    idleTimeoutMs: config.idleTimeoutMs,
    headerTimeoutMs: config.headerTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    onConnections: (open) => metrics.setOpenConnections(open),
    ...(fastPath === null
      ? {}
      : {
          streamHandler: (stream, headers) => {
            const done = ops.startCall(headers[":path"], headers["content-type"]);
            if (!fastPath.handle(stream, headers)) return false;
            if (done !== null) stream.once("close", done);
            return true;
          },
        }),
    ...(tlsMaterial === null ? {} : { tls: tlsMaterial }),
  });

  let bound;
  try {
    bound = await server.listen(listen.hosts, listen.port);
  } catch (error) {
    await engine.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new DaemonStartError(`cannot listen on ${config.listenAddr}: ${code ?? (error as Error).message}`, { cause: error });
  }
  const addresses = bound.map(formatAddress);
  const address = addresses[0] ?? config.listenAddr;
  log.info({ address, addresses, url: `${scheme}://${address}`, auth: config.authMode, tls: tlsMaterial !== null, mtls: tlsMaterial?.clientCa != null, fastPath: fastPath === null ? "off" : fastPath.paths }, "listening");
  if (config.insecureAllowExposed && exposureProblem({ ...config, insecureAllowExposed: false }) !== null) {
    log.warn({ address, auth: config.authMode, tls: tlsMaterial !== null }, "INSECURE: serving a non-loopback address without TLS and --auth required (--insecure-allow-exposed)");
  }
  // A key bootstrapped by `statehoused auth bootstrap` (or revoked by hand) while running is seen within a second.
  const keyRefresh = setInterval(() => {
    try {
      keys.refresh();
    } catch (error) {
      limitedLog.error({ err: error }, "cannot re-read the API key file; keeping the keys read before");
    }
  }, 1000);
  keyRefresh.unref();
  if (config.readyFile !== null) {
    await writeReadyFile(config.readyFile, { address, pid: process.pid, commitTs: engine.commitTs().toString() });
  }

  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    shuttingDown = true;
    log.info({ inFlight: server.inFlight, graceMs: config.shutdownGraceMs }, "shutting down: no new calls, draining in-flight calls");
    // Followers (Watch, health Watch) never finish on their own: end them now.
    followController.abort(unavailable());
    server.beginShutdown();
    if (!(await server.drained(config.shutdownGraceMs))) {
      log.warn({ inFlight: server.inFlight }, "grace period over: ending the remaining calls with UNAVAILABLE");
      shutdownController.abort(unavailable());
      await server.drained(1000);
    }
    await server.close();
    clearInterval(keyRefresh);
    audit.close();
    const commitTs = engine.commitTs();
    await engine.close();
    limitedLog.flush();
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
        keys.refresh();
        const material = readTlsMaterial(config);
        if (material !== null) server.setSecureContext(material);
        log.info({ tls: material !== null }, "reloaded: TLS certificate and API keys");
      } catch (error) {
        log.error({ err: error }, "reload failed; serving with the certificate and keys loaded before");
      }
    },
  };
}
