// The RPC side of statehoused: every protocol on the port (connect-node
// routes, the fast path, /metrics, /healthz, the console) over an engine.
// The daemon builds one on the engine's thread (--rpc-threads 1) or one per
// RPC worker thread, over an engine proxy (rpc-threads/).
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService, BackupService, GrpcHealth, RetentionService, StatehouseService } from "@statehouse/api";
import { AccessGate, type Principal } from "./auth/access-gate.js";
import type { ApiKeyStore } from "./auth/api-key-store.js";
import { AuditLog } from "./auth/audit-log.js";
import { authenticateCall, authInterceptor, callSourceValues, principalOf } from "./auth/auth-interceptor.js";
import { createAuthService } from "./auth/auth-service.js";
import { createBackupService } from "./backup-service.js";
import type { DaemonConfig } from "./config.js";
import { SharedConnectionCounts } from "./connection-counts.js";
import { CorsPolicy } from "./cors-policy.js";
import { HostPolicy } from "./host-policy.js";
import { ConsoleAssets } from "./console-assets.js";
import type { DaemonMetrics } from "./daemon-metrics.js";
import { FastPath } from "./fast-path/fast-path.js";
import type { OpsMetrics } from "./ops-metrics.js";
import { createHealthService } from "./health-service.js";
import type { Logger } from "./logger.js";
import { peerIdentityOf, ProtocolServer, type HttpRequest, type HttpResponse, type TlsMaterial } from "./protocol-server.js";
import { RateLimitedLog } from "./rate-limited-log.js";
import { RequestValidator } from "./request-validator.js";
import { createRetentionService } from "./retention-service.js";
import { decorateProtocolError, unavailable } from "./rpc-errors.js";
import type { EngineCalls } from "./rpc-threads/engine-proxy.js";
import { createStatehouseService } from "./statehouse-service.js";
import { StreamSlots } from "./stream-slots.js";
import { TxnOperationCounter } from "./txn-operation-counter.js";

const ERROR_LOG_WINDOW_MS = 10_000;

export interface FrontEndDeps {
  config: DaemonConfig;
  log: Logger;
  engine: EngineCalls;
  metrics: DaemonMetrics;
  ops: OpsMetrics;
  keys: ApiKeyStore;
  tlsMaterial: TlsMaterial | null;
  version: { version: string; gitSha: string };
  startedAtMs: number;
  /** The text of GET /metrics (with RPC threads: every thread's, added up on the engine's thread). */
  metricsText: () => Promise<string>;
  /** The daemon-wide open-stream counter (StreamSlots.shared), shared by every RPC thread. */
  sharedStreams?: Int32Array;
  /** Listen with SO_REUSEPORT (RPC threads). */
  reusePort: boolean;
  /** The connection counts every RPC thread shares (SharedConnectionCounts.buffer), for the caps. */
  sharedConnections?: SharedArrayBuffer;
}

export interface FrontEnd {
  readonly server: ProtocolServer;
  readonly fastPath: FastPath | null;
  readonly audit: AuditLog;
  readonly limitedLog: RateLimitedLog;
  readonly shuttingDown: boolean;
  /** New calls get UNAVAILABLE, followers end, the listeners close (in-flight calls go on). */
  beginShutdown(): void;
  /** Ends the calls still running with UNAVAILABLE (the grace period is over). */
  abortCalls(): void;
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

/** Answers a plain-HTTP request the gate refused (401 / 403 / 429), in text. */
function refuseHttp(res: HttpResponse, error: unknown): void {
  const e = error instanceof ConnectError ? error : new ConnectError(String(error), Code.Internal);
  res.statusCode = e.code === Code.Unauthenticated ? 401 : e.code === Code.PermissionDenied ? 403 : e.code === Code.ResourceExhausted ? 429 : 500;
  if (e.code === Code.Unauthenticated) res.setHeader("www-authenticate", 'Bearer realm="statehoused"');
  res.setHeader("content-type", "text/plain");
  res.end(`${e.rawMessage}\n`);
}

/** Builds the protocol server (not listening yet) and what shutdown needs of it. */
export function buildFrontEnd(deps: FrontEndDeps): FrontEnd {
  const { config, log, engine, metrics, ops, keys, tlsMaterial, version } = deps;
  const followController = new AbortController();
  const shutdownController = new AbortController();
  let shuttingDown = false;
  const streams = new StreamSlots(config.maxStreamingCalls, (open) => metrics.setOpenStreams(open), deps.sharedStreams);
  const validator = new RequestValidator(config);
  const recursionLimit = 2 * config.maxJsonDepth + 16;
  const abortListener = onCallAbort(metrics);

  // Failed calls log through this: identical errors once per 10 s, with a count of the rest.
  const limitedLog = new RateLimitedLog(log, { windowMs: ERROR_LOG_WINDOW_MS });
  // One implementation for both paths: connect-node routes and the fast path call the same functions.
  const service = createStatehouseService({
    engine,
    validator,
    metrics,
    log: limitedLog,
    streams,
    txnOps: new TxnOperationCounter(config.txTimeoutMs),
    maxOpenTransactions: config.maxOpenTransactions,
    version,
    startedAtMs: deps.startedAtMs,
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
        deps.metricsText().then(
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
      metrics.threadRequest();
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
            metrics.threadRequest();
            if (done !== null) stream.once("close", done);
            return true;
          },
        }),
    ...(tlsMaterial === null ? {} : { tls: tlsMaterial }),
    ...(deps.reusePort ? { reusePort: true } : {}),
    ...(deps.sharedConnections === undefined ? {} : { connectionCounts: new SharedConnectionCounts(deps.sharedConnections) }),
  });

  return {
    server,
    fastPath,
    audit,
    limitedLog,
    get shuttingDown() {
      return shuttingDown;
    },
    beginShutdown(): void {
      shuttingDown = true;
      // Followers (Watch, health Watch) never finish on their own: end them now.
      followController.abort(unavailable());
      server.beginShutdown();
    },
    abortCalls(): void {
      shutdownController.abort(unavailable());
    },
  };

}
