// statehouse.v1.AuthService: API key management (admin on "*", enforced by
// the access table) and WhoAmI. Secrets are returned once, in the response to
// CreateApiKey / RotateApiKey, and are neither stored nor logged.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { ErrorCode, Role, type ApiKeyInfo, type AuthService, type NamespaceGrant } from "@statehouse/api";
import { invalidRequest, rpcError, toRpcError, type ErrorLogger } from "../rpc-errors.js";
import type { AccessGate } from "./access-gate.js";
import type { ApiKeyRecord, ApiKeyStore, KeyLimits } from "./api-key-store.js";
import { isKeyId } from "./api-key-token.js";
import { patternProblem, type Grant, type RoleName } from "./grants.js";
import { principalOf } from "./auth-interceptor.js";

export interface AuthServiceDeps {
  store: ApiKeyStore;
  gate: AccessGate;
  log: ErrorLogger;
  maxNameBytes: number;
  /** Ceilings for the per-key limits a key may ask for (the daemon-wide limits). */
  ceilings: { maxOpenTransactions: number; maxOpenStreams: number };
}

const ROLE_OF: Record<RoleName, Role> = { read: Role.READ, write: Role.WRITE, admin: Role.ADMIN };
const NAME_OF = new Map<Role, RoleName>([
  [Role.READ, "read"],
  [Role.WRITE, "write"],
  [Role.ADMIN, "admin"],
]);
const MAX_GRANTS = 64;
const MAX_KEY_NAME_BYTES = 256;

type ApiKeyInfoInit = MessageInitShape<GenMessage<ApiKeyInfo>>;

export function keyInfo(key: ApiKeyRecord): ApiKeyInfoInit {
  return {
    keyId: key.keyId,
    name: key.name,
    grants: key.grants.map((g) => ({ namespacePattern: g.namespacePattern, role: ROLE_OF[g.role] })),
    limits: { ...key.limits },
    createdAtMs: BigInt(key.createdAtMs),
    ...(key.revokedAtMs === null ? {} : { revokedAtMs: BigInt(key.revokedAtMs) }),
    ...(key.rotatedAtMs === null ? {} : { rotatedAtMs: BigInt(key.rotatedAtMs) }),
    ...(key.expiresAtMs === null ? {} : { expiresAtMs: BigInt(key.expiresAtMs) }),
  };
}

function notFound(keyId: string): never {
  throw rpcError(Code.NotFound, ErrorCode.INVALID_REQUEST, `no API key ${JSON.stringify(keyId)}`, { field: "key_id" });
}

export function createAuthService(deps: AuthServiceDeps): ServiceImpl<typeof AuthService> {
  const { store, gate } = deps;

  function grants(list: readonly NamespaceGrant[]): Grant[] {
    if (list.length > MAX_GRANTS) throw invalidRequest("grants", `a key holds at most ${MAX_GRANTS} grants, not ${list.length}`);
    return list.map((g, i) => {
      const problem = patternProblem(g.namespacePattern, deps.maxNameBytes);
      if (problem !== null) throw invalidRequest(`grants[${i}].namespace_pattern`, `grants[${i}].namespace_pattern ${problem}`);
      const role = NAME_OF.get(g.role);
      if (role === undefined) throw invalidRequest(`grants[${i}].role`, `grants[${i}].role must be ROLE_READ, ROLE_WRITE or ROLE_ADMIN`);
      return { namespacePattern: g.namespacePattern, role };
    });
  }

  function limits(init: Partial<KeyLimits> | undefined): Partial<KeyLimits> {
    const l = { maxOpenTransactions: init?.maxOpenTransactions ?? 0, maxOpenStreams: init?.maxOpenStreams ?? 0, requestsPerSecond: init?.requestsPerSecond ?? 0, burst: init?.burst ?? 0 };
    if (l.maxOpenTransactions > deps.ceilings.maxOpenTransactions) {
      throw invalidRequest("limits.max_open_transactions", `limits.max_open_transactions ${l.maxOpenTransactions} is over the daemon's max_open_transactions of ${deps.ceilings.maxOpenTransactions}`);
    }
    if (l.maxOpenStreams > deps.ceilings.maxOpenStreams) {
      throw invalidRequest("limits.max_open_streams", `limits.max_open_streams ${l.maxOpenStreams} is over the daemon's max_streaming_calls of ${deps.ceilings.maxOpenStreams}`);
    }
    if (!Number.isFinite(l.requestsPerSecond) || l.requestsPerSecond < 0) throw invalidRequest("limits.requests_per_second", "limits.requests_per_second must be a finite number >= 0");
    return l;
  }

  function keyId(value: string): string {
    if (!isKeyId(value)) throw invalidRequest("key_id", `key_id ${JSON.stringify(value.slice(0, 40))} is not a key id (16 characters a-z, 2-7)`);
    return value;
  }

  function guarded<I, O>(procedure: string, fn: (req: I, ctx: HandlerContext) => O): (req: I, ctx: HandlerContext) => Promise<O> {
    return async (req, ctx) => {
      try {
        return fn(req, ctx);
      } catch (error) {
        throw toRpcError(error, deps.log, procedure);
      }
    };
  }

  return {
    createApiKey: guarded("CreateApiKey", (req, ctx) => {
      if (Buffer.byteLength(req.name, "utf8") > MAX_KEY_NAME_BYTES) throw invalidRequest("name", `name is longer than ${MAX_KEY_NAME_BYTES} bytes`);
      if (req.expiresAtMs !== undefined && Number(req.expiresAtMs) <= Date.now()) throw invalidRequest("expires_at_ms", "expires_at_ms is in the past");
      const { key, token } = store.create({
        name: req.name,
        grants: grants(req.grants),
        limits: limits(req.limits),
        ...(req.expiresAtMs === undefined ? {} : { expiresAtMs: Number(req.expiresAtMs) }),
      });
      gate.auditAction("api_key_created", principalOf(ctx), { keyId: key.keyId, name: key.name, grants: key.grants }, "API key created");
      return { key: keyInfo(key), secret: token };
    }),

    listApiKeys: guarded("ListApiKeys", (req) => ({ keys: store.list(req.includeRevoked).map(keyInfo) })),

    revokeApiKey: guarded("RevokeApiKey", (req, ctx) => {
      const id = keyId(req.keyId);
      const key = store.revoke(id) ?? notFound(id);
      gate.auditAction("api_key_revoked", principalOf(ctx), { keyId: id }, "API key revoked");
      return { key: keyInfo(key) };
    }),

    rotateApiKey: guarded("RotateApiKey", (req, ctx) => {
      const id = keyId(req.keyId);
      const graceMs = Number(req.gracePeriodMs);
      if (graceMs > 30 * 86_400_000) throw invalidRequest("grace_period_ms", "grace_period_ms is at most 30 days (2592000000)");
      const rotated = store.rotate(id, graceMs) ?? notFound(id);
      gate.auditAction("api_key_rotated", principalOf(ctx), { keyId: id, gracePeriodMs: graceMs }, "API key rotated");
      return { key: keyInfo(rotated.key), secret: rotated.token };
    }),

    whoAmI: guarded("WhoAmI", (_req, ctx) => {
      const principal = principalOf(ctx);
      return { authenticated: principal.key !== null, ...(principal.key === null ? {} : { key: keyInfo(principal.key) }), authMode: gate.mode };
    }),
  };
}
