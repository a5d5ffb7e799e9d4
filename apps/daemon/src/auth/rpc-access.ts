// THE access table: for every RPC, the role it needs and the namespaces it
// touches. An RPC missing from it needs admin on "*" (deny by default), so a
// new admin RPC is safe until its row is added here.
//
// - public: no credential needed, even with --auth required (grpc.health.v1,
//   WhoAmI); a credential that is presented must still be valid.
// - role without namespaces: any valid credential with that role on some
//   namespace (BeginTransaction: the writes name their namespaces later).
// - role null: any valid credential (Health, Version).
// - namespaces: the role is needed on every one (Transact: every operation's
//   and every precondition's namespace). "" is the default namespace, as the
//   request validator reads it.
// - txnId: the transaction must have been begun by the same credential
//   (another credential's transaction answers TXN_NOT_FOUND, as an unknown one).
import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { AuthService, BackupService, GrpcHealth, RetentionService, StatehouseService } from "@statehouse/api";
import { DEFAULT_NAMESPACE } from "../request-validator.js";
import { ALL_NAMESPACES, type RoleName } from "./grants.js";

export interface AccessRule {
  /** Needs no credential. */
  public?: boolean;
  /** null: any valid credential. */
  role: RoleName | null;
  /** The namespaces a request touches; absent: none known (role needed on some namespace). */
  namespaces?: (request: unknown) => string[];
  /** The server-side transaction a request uses. */
  txnId?: (request: unknown) => string | undefined;
  /** Bookkeeping: begins a transaction, ends one, or holds a stream slot while it runs. */
  effect?: "begin-txn" | "end-txn" | "stream";
}

export const DENY_BY_DEFAULT: AccessRule = { role: "admin", namespaces: () => [ALL_NAMESPACES] };

function ns(namespace: string): string {
  return namespace === "" ? DEFAULT_NAMESPACE : namespace;
}

function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

type RequestOf<M extends DescMethod> = M["input"] extends DescMessage ? MessageShape<M["input"]> : never;

function row<M extends DescMethod>(method: M, rule: Omit<AccessRule, "namespaces" | "txnId"> & { namespaces?: (r: RequestOf<M>) => string[]; txnId?: (r: RequestOf<M>) => string | undefined }): [string, AccessRule] {
  return [path(method), rule as AccessRule];
}

const S = StatehouseService.method;
const A = AuthService.method;
const H = GrpcHealth.method;
const R = RetentionService.method;
const one = (r: { namespace: string }): string[] => [ns(r.namespace)];
const adminAll = { role: "admin", namespaces: () => [ALL_NAMESPACES] } as const;

export const RPC_ACCESS: ReadonlyMap<string, AccessRule> = new Map<string, AccessRule>([
  row(H.check, { public: true, role: null }),
  row(H.watch, { public: true, role: null }),
  row(S.health, { role: null }),
  row(S.version, { role: null }),
  row(S.getState, { role: "read", namespaces: one }),
  row(S.getStateAtVersion, { role: "read", namespaces: one }),
  row(S.getStateAsOf, { role: "read", namespaces: one }),
  row(S.listKeys, { role: "read", namespaces: one }),
  row(S.scanPrefix, { role: "read", namespaces: one }),
  row(S.replay, { role: "read", namespaces: one, effect: "stream" }),
  row(S.replayBatches, { role: "read", namespaces: one, effect: "stream" }),
  row(S.watch, { role: "read", namespaces: one, effect: "stream" }),
  row(S.watchBatches, { role: "read", namespaces: one, effect: "stream" }),
  // Read on some namespace; the answer keeps only the namespaces the caller may read.
  row(S.listNamespaces, { role: "read" }),
  row(S.listAgents, { role: "read", namespaces: one }),
  row(S.getDaemonStatus, { role: null }),
  row(S.beginTransaction, { role: "write", effect: "begin-txn" }),
  row(S.write, { role: "write", namespaces: one, txnId: (r) => r.txnId }),
  row(S.delete, { role: "write", namespaces: one, txnId: (r) => r.txnId }),
  row(S.commit, { role: "write", txnId: (r) => r.txnId, effect: "end-txn" }),
  row(S.abort, { role: "write", txnId: (r) => r.txnId, effect: "end-txn" }),
  row(S.transact, {
    role: "write",
    namespaces: (r) => [...new Set([...r.operations.map((o) => ns(o.namespace)), ...r.preconditions.map((p) => ns(p.namespace))])],
    txnId: (r) => (r.txnId === undefined || r.txnId === "" ? undefined : r.txnId),
    effect: "end-txn",
  }),
  row(A.whoAmI, { public: true, role: null }),
  // Plain HTTP endpoints on the same port, keyed "METHOD /path".
  ["GET /healthz", { public: true, role: null }],
  ["GET /metrics", { role: null }],
  row(A.createApiKey, adminAll),
  row(A.listApiKeys, adminAll),
  row(A.revokeApiKey, adminAll),
  row(A.rotateApiKey, adminAll),
  // Retention (retention.proto): an empty namespace there is the default policy, which governs every namespace.
  row(R.getRetentionPolicy, { role: "read", namespaces: (r) => [r.namespace === "" ? ALL_NAMESPACES : r.namespace] }),
  row(R.listRetentionPolicies, { role: "read", namespaces: () => [ALL_NAMESPACES] }),
  row(R.getHorizon, { role: "read", namespaces: one }),
  row(R.setRetentionPolicy, { role: "admin", namespaces: (r) => [r.namespace === "" ? ALL_NAMESPACES : r.namespace] }),
  row(R.compactHistory, adminAll),
  // Purge refuses an empty namespace itself; the role is checked on the namespace it names.
  row(R.purge, { role: "admin", namespaces: (r) => [r.namespace === "" ? ALL_NAMESPACES : r.namespace] }),
  // A backup copies every namespace's data: admin on "*" (what deny-by-default gives too; explicit here).
  row(BackupService.method.backup, adminAll),
]);

/** The rule for a request path ("/package.Service/Method", or "GET /metrics"); DENY_BY_DEFAULT when it has no row. */
export function accessRule(requestPath: string): AccessRule {
  return RPC_ACCESS.get(requestPath) ?? DENY_BY_DEFAULT;
}
