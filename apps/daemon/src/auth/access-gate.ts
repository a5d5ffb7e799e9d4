// Authentication and authorization of every call, for both the connect-node
// routes (an interceptor, auth-interceptor.ts) and the fast path: who the
// caller is (bearer API key or client certificate), whether the access table
// (rpc-access.ts) lets it make this call on every namespace it touches, which
// server-side transactions it owns, and its per-key limits (open
// transactions, open streams, request rate).
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorCode } from "@statehouse/api";
import { EngineError } from "@statehouse/engine";
import { limitExceeded, rpcError, toRpcError } from "../rpc-errors.js";
import type { ApiKeyRecord, ApiKeyStore } from "./api-key-store.js";
import { MAX_TOKEN_CHARS, parseToken } from "./api-key-token.js";
import type { AuditLog } from "./audit-log.js";
import { ALL_NAMESPACES, grantsAllow, grantsAllowSome, type Grant, type RoleName } from "./grants.js";
import { accessRule, type AccessRule } from "./rpc-access.js";
import { TokenBucket } from "./token-bucket.js";

export const AUTH_MODES = ["off", "optional", "required"] as const;
/**
 * off: no credential is looked at, every caller may do everything (loopback development).
 * optional: a presented credential is checked and limits the call to its grants; a call without one may do everything.
 * required: every call but the public ones needs a valid credential.
 */
export type AuthMode = (typeof AUTH_MODES)[number];

export interface Principal {
  /** "anonymous", or the key id. */
  readonly id: string;
  readonly key: ApiKeyRecord | null;
  readonly grants: readonly Grant[];
  readonly via: "none" | "bearer" | "client-certificate";
}

/** What a TLS connection's client certificate says (see peerIdentity in tls-server.ts). */
export interface PeerIdentity {
  /** The certificate chains to --tls-client-ca. */
  authorized: boolean;
  /** The key id the certificate stands for (its subject CN), when it is one. */
  keyId: string | null;
  /** Why it is not authorized. */
  error: string | null;
}

export interface Credentials {
  /** The Authorization header. */
  authorization: string | undefined;
  peer: PeerIdentity | null;
  remote?: string | undefined;
}

export interface PerKeyDefaults {
  maxOpenTransactions: number;
  maxOpenStreams: number;
}

export interface AccessGateOptions {
  mode: AuthMode;
  store: ApiKeyStore;
  audit: AuditLog;
  /** Per-key limits for keys that set none (ApiKeyLimits 0). */
  perKey: PerKeyDefaults;
  /** The daemon's default transaction timeout (how long an ownership entry lives without timeout_ms). */
  txTimeoutMs: number;
  now?: () => number;
}

const FULL_ACCESS: readonly Grant[] = [{ namespacePattern: ALL_NAMESPACES, role: "admin" }];
const ANONYMOUS: Principal = { id: "anonymous", key: null, grants: FULL_ACCESS, via: "none" };
/** An unauthenticated caller of a public RPC under --auth required. */
const NOBODY: Principal = { id: "anonymous", key: null, grants: [], via: "none" };

interface OwnedTxn {
  owner: string;
  expiresAt: number;
}

const SWEEP_EVERY = 1024;

export function unauthenticated(message: string, details: Record<string, string> = {}): ConnectError {
  return rpcError(Code.Unauthenticated, ErrorCode.UNAUTHENTICATED, message, details);
}

export function permissionDenied(namespace: string, role: RoleName, principal: Principal): ConnectError {
  const where = namespace === ALL_NAMESPACES ? 'every namespace ("*")' : `namespace ${JSON.stringify(namespace)}`;
  const who = principal.key === null ? "an anonymous caller" : `API key ${principal.id}`;
  return rpcError(Code.PermissionDenied, ErrorCode.PERMISSION_DENIED, `${who} lacks the ${role} role on ${where}`, { namespace, role });
}

/** The engine's own answer for a transaction that does not exist: another key's transaction is not there for this one. */
function txnNotFound(txnId: string): ConnectError {
  return toRpcError(new EngineError("TXN_NOT_FOUND", `transaction ${txnId} not found`, { details: { txnId } }), { error: () => undefined }, "");
}

function describe(requestPath: string): string {
  return requestPath.startsWith("/") ? requestPath.slice(1) : requestPath;
}

export class AccessGate {
  readonly mode: AuthMode;
  readonly #store: ApiKeyStore;
  readonly #audit: AuditLog;
  readonly #perKey: PerKeyDefaults;
  readonly #txTimeoutMs: number;
  readonly #now: () => number;
  readonly #txns = new Map<string, OwnedTxn>();
  readonly #openTxns = new Map<string, number>();
  readonly #openStreams = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();
  #begins = 0;

  constructor(options: AccessGateOptions) {
    this.mode = options.mode;
    this.#store = options.store;
    this.#audit = options.audit;
    this.#perKey = options.perKey;
    this.#txTimeoutMs = options.txTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  /** Whether calls are checked at all (off: they are not). */
  get enforcing(): boolean {
    return this.mode !== "off";
  }

  /** Who makes a call to `requestPath`; throws UNAUTHENTICATED (or RESOURCE_EXHAUSTED for a key over its rate). */
  authenticate(requestPath: string, credentials: Credentials): Principal {
    if (this.mode === "off") return ANONYMOUS;
    const { authorization, peer } = credentials;
    if (authorization !== undefined) return this.#limitRate(this.#bearer(requestPath, authorization, credentials), requestPath);
    if (peer !== null) return this.#limitRate(this.#certificate(requestPath, peer, credentials), requestPath);
    if (this.mode === "optional") return ANONYMOUS;
    if (accessRule(requestPath).public === true) return NOBODY;
    throw this.#reject(requestPath, credentials, "missing", null, "this daemon requires an API key (--auth required): send Authorization: Bearer shk_...");
  }

  /** Throws PERMISSION_DENIED (or TXN_NOT_FOUND for another key's transaction) unless `principal` may make this call. */
  authorize(requestPath: string, principal: Principal, request: unknown): void {
    if (this.mode === "off") return;
    const rule = accessRule(requestPath);
    this.#checkRole(requestPath, rule, principal, request);
    const txnId = rule.txnId?.(request);
    if (txnId !== undefined) {
      const owned = this.#txns.get(txnId);
      if (owned !== undefined && owned.owner !== principal.id) throw txnNotFound(txnId);
    }
  }

  /** Runs a unary call after authorize(), with the transaction bookkeeping its rule asks for. */
  async unary<T>(requestPath: string, principal: Principal, request: unknown, run: () => Promise<T>, messageOf: (response: T) => unknown = (r) => r): Promise<T> {
    if (this.mode === "off") return run();
    this.authorize(requestPath, principal, request);
    const rule = accessRule(requestPath);
    if (rule.effect === "begin-txn") {
      this.#reserveTxn(principal);
      const response = await run();
      const txnId = (messageOf(response) as { txnId?: unknown }).txnId;
      const timeoutMs = (request as { timeoutMs?: number }).timeoutMs;
      if (typeof txnId === "string") this.#ownTxn(txnId, principal, timeoutMs === undefined || timeoutMs === 0 ? this.#txTimeoutMs : timeoutMs);
      return response;
    }
    const ending = rule.effect === "end-txn" ? rule.txnId?.(request) : undefined;
    try {
      const response = await run();
      // Admin calls are audited here, whoever implements them (key management adds its own details).
      if (rule.role === "admin") this.#audit.action("admin_call", { actor: principal.id, procedure: describe(requestPath) }, "admin call");
      return response;
    } finally {
      if (ending !== undefined) this.#releaseTxn(ending);
    }
  }

  /** UNAUTHENTICATED when the key a call was authenticated with has been revoked or has expired since. */
  #checkStillValid(principal: Principal): void {
    if (principal.key === null) return;
    const key = this.#store.get(principal.id);
    if (key === undefined || key.revokedAtMs !== null) throw unauthenticated(`API key ${principal.id} was revoked`, { reason: "revoked" });
    if (key.expiresAtMs !== null && key.expiresAtMs <= this.#now()) throw unauthenticated(`API key ${principal.id} expired`, { reason: "expired" });
  }

  /** Runs an authorized server stream, holding one of the key's stream slots while it is open. */
  async *stream<T>(requestPath: string, principal: Principal, run: () => AsyncIterable<T>): AsyncIterable<T> {
    const limited = this.mode !== "off" && principal.key !== null && accessRule(requestPath).effect === "stream";
    if (!limited) {
      yield* run();
      return;
    }
    // A stream of a key revoked (or expired) while it runs ends before its next message.
    const checked = async function* (gate: AccessGate): AsyncIterable<T> {
      for await (const item of run()) {
        gate.#checkStillValid(principal);
        yield item;
      }
    };
    const max = this.#limit(principal, "maxOpenStreams");
    const open = this.#openStreams.get(principal.id) ?? 0;
    if (open >= max) {
      throw limitExceeded("key_max_open_streams", `API key ${principal.id} has ${open} streams open: its max_open_streams limit is ${max}`, { key_id: principal.id });
    }
    this.#openStreams.set(principal.id, open + 1);
    try {
      yield* checked(this);
    } finally {
      const left = (this.#openStreams.get(principal.id) ?? 1) - 1;
      if (left === 0) this.#openStreams.delete(principal.id);
      else this.#openStreams.set(principal.id, left);
    }
  }

  /** Whether `principal` has `role` on `namespace`: for RPCs that filter what they list. */
  can(principal: Principal, namespace: string, role: RoleName): boolean {
    return this.mode === "off" || grantsAllow(principal.grants, namespace, role);
  }

  /** Keeps the namespaces `principal` may read (listings: console, admin RPCs). */
  readableNamespaces<T extends string>(principal: Principal, namespaces: Iterable<T>): T[] {
    return [...namespaces].filter((namespace) => this.can(principal, namespace, "read"));
  }

  /** Server-side transactions this gate knows an owner of (tests, metrics). */
  get ownedTransactions(): number {
    return this.#txns.size;
  }

  /** Logs an admin action (key management and other admin RPCs). */
  auditAction(event: string, principal: Principal, fields: Record<string, unknown>, msg: string): void {
    this.#audit.action(event, { actor: principal.id, ...fields }, msg);
  }

  #checkRole(requestPath: string, rule: AccessRule, principal: Principal, request: unknown): void {
    if (rule.public === true || rule.role === null) return;
    const role = rule.role;
    const namespaces = rule.namespaces?.(request);
    if (namespaces === undefined) {
      if (grantsAllowSome(principal.grants, role)) return;
      throw this.#deny(requestPath, principal, "any", role);
    }
    for (const namespace of namespaces) {
      if (!grantsAllow(principal.grants, namespace, role)) throw this.#deny(requestPath, principal, namespace, role);
    }
  }

  #deny(requestPath: string, principal: Principal, namespace: string, role: RoleName): ConnectError {
    this.#audit.failure("permission_denied", { keyId: principal.key === null ? null : principal.id, procedure: describe(requestPath), namespace, role }, "permission denied");
    if (namespace === "any") {
      const who = principal.key === null ? "an anonymous caller" : `API key ${principal.id}`;
      return rpcError(Code.PermissionDenied, ErrorCode.PERMISSION_DENIED, `${who} lacks the ${role} role on every namespace`, { namespace: "", role });
    }
    return permissionDenied(namespace, role, principal);
  }

  #reject(requestPath: string, credentials: Credentials, reason: string, keyId: string | null, message: string): ConnectError {
    this.#audit.failure("auth_failure", { reason, keyId, procedure: describe(requestPath), remote: credentials.remote ?? null }, "authentication failed");
    return unauthenticated(message, { reason });
  }

  #bearer(requestPath: string, header: string, credentials: Credentials): Principal {
    if (header.length > MAX_TOKEN_CHARS + 16) {
      throw this.#reject(requestPath, credentials, "malformed", null, `the Authorization header is longer than ${MAX_TOKEN_CHARS + 16} characters: not an API key`);
    }
    const match = /^bearer[ ]+(\S+)[ ]*$/i.exec(header);
    const parsed = match?.[1] === undefined ? null : parseToken(match[1]);
    if (parsed === null) {
      throw this.#reject(requestPath, credentials, "malformed", null, 'the Authorization header is not "Bearer shk_<key_id>_<secret>"');
    }
    const result = this.#store.verify(parsed.keyId, parsed.secret);
    if (!result.ok) {
      // Unknown key and wrong secret read the same to the caller.
      const reason = result.reason === "unknown_key" || result.reason === "wrong_secret" ? "invalid" : result.reason;
      throw this.#reject(requestPath, credentials, result.reason, parsed.keyId, reason === "invalid" ? "invalid API key" : `API key ${parsed.keyId} is ${reason}`);
    }
    return { id: result.key.keyId, key: result.key, grants: result.key.grants, via: "bearer" };
  }

  #certificate(requestPath: string, peer: PeerIdentity, credentials: Credentials): Principal {
    if (!peer.authorized) {
      throw this.#reject(requestPath, credentials, "untrusted_certificate", null, `the client certificate is not trusted (--tls-client-ca): ${peer.error ?? "unknown reason"}`);
    }
    const key = peer.keyId === null ? undefined : this.#store.get(peer.keyId);
    const now = this.#now();
    if (key === undefined) {
      throw this.#reject(requestPath, credentials, "unknown_certificate_key", peer.keyId, "the client certificate's subject CN names no API key");
    }
    if (key.revokedAtMs !== null) throw this.#reject(requestPath, credentials, "revoked", key.keyId, `API key ${key.keyId} is revoked`);
    if (key.expiresAtMs !== null && key.expiresAtMs <= now) throw this.#reject(requestPath, credentials, "expired", key.keyId, `API key ${key.keyId} is expired`);
    return { id: key.keyId, key, grants: key.grants, via: "client-certificate" };
  }

  #limitRate(principal: Principal, requestPath: string): Principal {
    const key = principal.key;
    if (key === null || key.limits.requestsPerSecond <= 0) return principal;
    let bucket = this.#buckets.get(key.keyId);
    if (bucket === undefined || bucket.rate !== key.limits.requestsPerSecond) {
      bucket = new TokenBucket(key.limits.requestsPerSecond, key.limits.burst > 0 ? key.limits.burst : Math.ceil(key.limits.requestsPerSecond), this.#now());
      this.#buckets.set(key.keyId, bucket);
    }
    if (!bucket.take(this.#now())) {
      this.#audit.failure("rate_limited", { keyId: key.keyId, procedure: describe(requestPath) }, "request rate limit reached");
      throw limitExceeded("key_requests_per_second", `API key ${key.keyId} is over its request rate of ${key.limits.requestsPerSecond}/s (burst ${bucket.burst})`, { key_id: key.keyId });
    }
    return principal;
  }

  #limit(principal: Principal, which: keyof PerKeyDefaults): number {
    const own = principal.key?.limits[which] ?? 0;
    return own > 0 ? own : this.#perKey[which];
  }

  #reserveTxn(principal: Principal): void {
    if (principal.key === null) return;
    const max = this.#limit(principal, "maxOpenTransactions");
    let open = this.#openTxns.get(principal.id) ?? 0;
    if (open >= max) {
      this.#sweep();
      open = this.#openTxns.get(principal.id) ?? 0;
    }
    if (open >= max) {
      throw limitExceeded("key_max_open_transactions", `API key ${principal.id} has ${open} transactions open: its max_open_transactions limit is ${max}`, { key_id: principal.id });
    }
  }

  #ownTxn(txnId: string, principal: Principal, timeoutMs: number): void {
    this.#txns.set(txnId, { owner: principal.id, expiresAt: this.#now() + timeoutMs + 1000 });
    this.#openTxns.set(principal.id, (this.#openTxns.get(principal.id) ?? 0) + 1);
    if (++this.#begins % SWEEP_EVERY === 0) this.#sweep();
  }

  #releaseTxn(txnId: string): void {
    const owned = this.#txns.get(txnId);
    if (owned === undefined) return;
    this.#txns.delete(txnId);
    const left = (this.#openTxns.get(owned.owner) ?? 1) - 1;
    if (left <= 0) this.#openTxns.delete(owned.owner);
    else this.#openTxns.set(owned.owner, left);
  }

  /** Forgets transactions past their deadline (the engine has expired them). */
  #sweep(): void {
    const now = this.#now();
    for (const [txnId, owned] of this.#txns) if (owned.expiresAt < now) this.#releaseTxn(txnId);
  }
}
