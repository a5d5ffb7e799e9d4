// statehouse.v1.RetentionService: retention policies, history horizons and compaction,
// thin over the engine (validation here, every error through rpc-errors).
import { Code, type ServiceImpl } from "@connectrpc/connect";
import { ErrorCode, RetentionKind, type RetentionPolicy as WirePolicy, type RetentionService } from "@statehouse/api";
import type { RetentionInfo, RetentionPolicy } from "@statehouse/engine";
import type { DaemonMetrics } from "./daemon-metrics.js";
import type { EngineCalls } from "./rpc-threads/engine-proxy.js";
import type { RequestValidator } from "./request-validator.js";
import { invalidRequest, rpcError, toRpcError, type ErrorLogger } from "./rpc-errors.js";

export interface RetentionServiceDeps {
  engine: EngineCalls;
  validator: RequestValidator;
  metrics: DaemonMetrics;
  log: ErrorLogger;
}

/** The engine's policy from the wire's; INVALID_ARGUMENT naming the field when it is not one. */
export function policyFromWire(policy: WirePolicy | undefined): RetentionPolicy {
  switch (policy?.kind) {
    case RetentionKind.KEEP_ALL:
      return { kind: "all" };
    case RetentionKind.KEEP_DURATION: {
      const ms = policy.keepDurationMs;
      if (ms <= 0n || ms > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidRequest("policy.keep_duration_ms", "keep_duration_ms must be between 1 and 2^53-1 milliseconds");
      return { kind: "duration", keepMs: Number(ms) };
    }
    case RetentionKind.KEEP_VERSIONS: {
      const n = policy.keepVersions;
      if (n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidRequest("policy.keep_versions", "keep_versions must be between 1 and 2^53-1 versions per key");
      return { kind: "versions", keepVersions: Number(n) };
    }
    default:
      throw invalidRequest("policy.kind", "policy.kind must be RETENTION_KIND_KEEP_ALL, RETENTION_KIND_KEEP_DURATION or RETENTION_KIND_KEEP_VERSIONS");
  }
}

function policyToWire(policy: RetentionPolicy): { kind: RetentionKind; keepDurationMs: bigint; keepVersions: bigint } {
  switch (policy.kind) {
    case "all":
      return { kind: RetentionKind.KEEP_ALL, keepDurationMs: 0n, keepVersions: 0n };
    case "duration":
      return { kind: RetentionKind.KEEP_DURATION, keepDurationMs: BigInt(policy.keepMs), keepVersions: 0n };
    case "versions":
      return { kind: RetentionKind.KEEP_VERSIONS, keepDurationMs: 0n, keepVersions: BigInt(policy.keepVersions) };
  }
}

function infoToWire(info: RetentionInfo) {
  return { namespace: info.namespace ?? "", policy: policyToWire(info.policy), explicit: info.explicit, horizonCommitTs: info.horizonCommitTs };
}

export function createRetentionService(deps: RetentionServiceDeps): ServiceImpl<typeof RetentionService> {
  const { engine, validator, metrics, log } = deps;

  function unary<I, O>(procedure: string, fn: (req: I) => Promise<O> | O): (req: I) => Promise<O> {
    return async (req) => {
      metrics.rpcRequest(procedure);
      try {
        return await fn(req);
      } catch (error) {
        throw toRpcError(error, log, `statehouse.v1.RetentionService/${procedure}`);
      }
    };
  }

  /** Empty = the default policy; otherwise a valid namespace. */
  function optionalNamespace(namespace: string): string | null {
    return namespace === "" ? null : validator.namespace(namespace);
  }

  return {
    getRetentionPolicy: unary("GetRetentionPolicy", async (req) => {
      const namespace = optionalNamespace(req.namespace);
      const info = namespace === null ? (await engine.listRetention()).find((r) => r.namespace === null) : await engine.retention(namespace);
      if (info === undefined) throw rpcError(Code.Internal, ErrorCode.INTERNAL_ERROR, "no default retention policy");
      return { retention: infoToWire(info) };
    }),
    listRetentionPolicies: unary("ListRetentionPolicies", async () => ({ retention: (await engine.listRetention()).map(infoToWire) })),
    setRetentionPolicy: unary("SetRetentionPolicy", async (req) => {
      const namespace = optionalNamespace(req.namespace);
      const info = await engine.setRetentionPolicy(namespace, policyFromWire(req.policy));
      return { retention: infoToWire(info) };
    }),
    getHorizon: unary("GetHorizon", async (req) => {
      const namespace = validator.namespace(req.namespace);
      const [info, commitTs] = await Promise.all([engine.retention(namespace), engine.commitTs()]);
      return { namespace, horizonCommitTs: info.horizonCommitTs, commitTs };
    }),
    compactHistory: unary("CompactHistory", async () => ({ eventsCompacted: BigInt(await engine.compactHistory()) })),
    purge: unary("Purge", async (req) => {
      // Elsewhere an empty namespace means "default"; erasing data takes it spelled out.
      if (req.namespace === "") throw invalidRequest("namespace", "Purge needs an explicit namespace (an empty one is not taken to mean \"default\" here)");
      const namespace = validator.namespace(req.namespace);
      const agentId = req.agentId === undefined ? undefined : validator.agentId(req.agentId);
      const result = await engine.purge({ namespace, ...(agentId === undefined ? {} : { agentId }) });
      return { purgeId: BigInt(result.purgeId), eventsRewritten: BigInt(result.eventsRewritten), entriesDeleted: BigInt(result.entriesDeleted) };
    }),
  };
}
