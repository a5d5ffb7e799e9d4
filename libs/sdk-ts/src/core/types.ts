// Public data types of the SDK: plain objects, no protobuf types.

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object: the only kind of value a record holds. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * A `commit_ts` or `version` given as input. The daemon uses unsigned 64-bit
 * integers; a `number` must be a non-negative safe integer.
 */
export type Uint64Input = bigint | number;

/**
 * The state of one record (latest, at a version, or as of a commit).
 *
 * `version` and `commitTs` are `bigint`: the daemon's counters are unsigned
 * 64-bit integers, and `bigint` keeps them exact. Convert with `Number(x)`
 * when you know they are small.
 */
export interface StateResult {
  /** The value, or `null` when the record does not exist (never written, or deleted). */
  value: JsonObject | null;
  /** Per-record version: 1 on the first write, +1 on every write and delete; 0 if never written. */
  version: bigint;
  /** commit_ts of the transaction that produced this version; 0 if never written. */
  commitTs: bigint;
  /** False when the key was never written or its latest operation deleted it. */
  exists: boolean;
}

/** A record that exists, with its key (from `scanPrefix` or `getAgentStateAsOf`). */
export interface StateEntry {
  /** The record's key. */
  key: string;
  /** Its value. */
  value: JsonObject;
  /** Its version (see {@link StateResult.version}). */
  version: bigint;
  /** commit_ts of the transaction that wrote this version. */
  commitTs: bigint;
}

/** One operation of a committed transaction. */
export interface Operation {
  /** The key the operation wrote or deleted. */
  key: string;
  /** The written value, or `null` when the operation deleted the key. */
  value: JsonObject | null;
  /** The record's version after this operation. */
  version: bigint;
}

/** One committed transaction, as seen by one agent (only that agent's operations). */
export interface ReplayEvent {
  /** The transaction's id. */
  txnId: string;
  /** The transaction's commit_ts (shared by all its operations). */
  commitTs: bigint;
  /** Wall-clock commit time, or `null` if the daemon did not send one. */
  committedAt: Date | null;
  /** Namespace of the replayed agent. */
  namespace: string;
  /** The replayed agent. */
  agentId: string;
  /** This agent's operations in the transaction (other agents' are not included). */
  operations: Operation[];
}

/** Result of {@link StatehouseClient.version}. */
export interface VersionInfo {
  /** The daemon's release version. */
  version: string;
  /** The git commit it was built from (may be empty). */
  gitSha: string;
}

/** Result of {@link StatehouseClient.daemonStatus}. */
export interface DaemonStatus {
  version: string;
  gitSha: string;
  /** The latest commit_ts. */
  commitTs: bigint;
  startedAt: Date | null;
  /** What recovery did at the daemon's last start. */
  recovery: {
    storage: string;
    /** commit_ts of the snapshot loaded, or `null` when none was used. */
    snapshotTs: bigint | null;
    eventsReplayed: number;
    durationMs: number;
    commitTs: bigint;
    notes: string[];
  };
  openTransactions: number;
  committedTransactions: number;
  groupCommits: number;
  watchersWaiting: number;
  /** False once the daemon refuses commits (reads go on); `haltReason` says why. */
  writable: boolean;
  haltReason: string;
  rssBytes: number;
}

/** Options accepted by every call. */
export interface CallOptions {
  /** Cancels the call; it then rejects with a StatehouseError of code `CANCELLED`. */
  signal?: AbortSignal;
}

/** Options of calls that address one namespace. */
export interface NamespaceOptions extends CallOptions {
  /** Overrides the client's namespace. */
  namespace?: string;
}

/** Options of the reads that page ({@link StatehouseClient.iterateScan}, ...). */
export interface PageOptions extends NamespaceOptions {
  /**
   * Items asked for per round trip (default 10 000 keys or 1 000 entries; the daemon caps
   * it at its `max_page_keys` / `max_page_entries` and ends a page early at its byte budget).
   */
  pageSize?: number;
}

/** Options of {@link StatehouseClient.listKeys} and {@link StatehouseClient.iterateKeys}. */
export interface ListKeysOptions extends PageOptions {
  /** Only keys starting with this prefix (filtered by the daemon). */
  prefix?: string;
}

/** Options of {@link StatehouseClient.listNamespaces} and {@link StatehouseClient.iterateNamespaces}. */
export interface ListNamespacesOptions extends CallOptions {
  /** Only namespaces starting with this prefix (filtered by the daemon). */
  prefix?: string;
  /** Namespaces asked for per round trip (default 1 000, the daemon's cap). */
  pageSize?: number;
}

/** Options of {@link StatehouseClient.listAgents} and {@link StatehouseClient.iterateAgents}. */
export interface ListAgentsOptions extends NamespaceOptions {
  /** Only agents whose id starts with this prefix (filtered by the daemon). */
  prefix?: string;
  /** Agents asked for per round trip (default 100: the daemon counts each one's keys). */
  pageSize?: number;
}

/** One agent of {@link StatehouseClient.listAgents}: every agent that ever committed. */
export interface AgentSummary {
  namespace: string;
  agentId: string;
  /** Keys that exist now (deleted keys excluded). */
  keyCount: number;
  /** commit_ts of the agent's last event. */
  lastCommitTs: bigint;
  /** Wall-clock time of that commit, or `null` when the daemon has none (imported history). */
  lastCommittedAt: Date | null;
}

/** Options of {@link StatehouseClient.replay}. */
export interface ReplayOptions extends NamespaceOptions {
  /** First commit_ts to return (inclusive). */
  startTs?: Uint64Input;
  /** Last commit_ts to return (inclusive). */
  endTs?: Uint64Input;
  /** At most this many events (a positive integer). */
  limit?: number;
  /**
   * Newest first: with `limit`, the last `limit` events of the range, read from the end of
   * the agent's history. A daemon older than this option streams oldest first and ignores
   * `limit`; {@link StatehouseClient.lastEvents} handles both.
   */
  reverse?: boolean;
}

/** Options of {@link StatehouseClient.watch}. */
export interface WatchOptions extends NamespaceOptions {
  /** First commit_ts to replay (inclusive) before following live commits. Absent: only new commits. */
  startTs?: Uint64Input;
}

/** Options of {@link StatehouseClient.beginTransaction}. */
export interface BeginTransactionOptions extends CallOptions {
  /**
   * Transaction timeout in milliseconds (default 30 000, the daemon's default): a commit
   * later than this after `beginTransaction` fails with `TXN_EXPIRED` (checked by the SDK).
   */
  timeoutMs?: number;
  /** Namespace of every operation of the transaction (default: the client's). */
  namespace?: string;
  /**
   * Idempotency key sent with the commit: a commit with a key that already
   * committed applies nothing and returns the original commitTs. Default: a
   * fresh random key.
   */
  idempotencyKey?: string;
}

/** Options of {@link StatehouseClient.withTransaction}. */
export interface WithTransactionOptions extends Omit<BeginTransactionOptions, "idempotencyKey"> {
  /** How many times to retry after a ConflictError or ConnectionError (default 3). */
  retries?: number;
  /** First backoff delay in milliseconds; doubles per retry, with jitter (default 100). */
  backoffMs?: number;
  /** Largest backoff delay in milliseconds (default 2000). */
  maxBackoffMs?: number;
}

/** One operation of {@link StatehouseClient.transact}: a write of `value`, or a delete. */
export type TransactOperation =
  | { agentId: string; key: string; value: JsonObject }
  | { agentId: string; key: string; delete: true };

/** Options of {@link StatehouseClient.transact}. */
export interface TransactOptions extends BeginTransactionOptions {
  /** How many times to resend a commit whose connection broke (default 3). */
  retries?: number;
  /** First backoff delay in milliseconds; doubles per resend, with jitter (default 100). */
  backoffMs?: number;
  /** Largest backoff delay in milliseconds (default 2000). */
  maxBackoffMs?: number;
}

/** Result of {@link StatehouseClient.transact}. */
export interface TransactOutcome {
  /** commit_ts of the transaction. */
  commitTs: bigint;
  /** True when a resend found the first commit applied (its reply was lost); nothing more was applied. */
  duplicate: boolean;
}

/** Result of {@link StatehouseClient.withTransaction}. */
export interface TransactionOutcome<T> {
  /** What the callback returned on the attempt that committed. */
  result: T;
  /** commit_ts of the transaction. */
  commitTs: bigint;
  /**
   * True when an earlier attempt had already committed (its reply was lost)
   * and the last attempt applied nothing; `commitTs` is the original one.
   */
  duplicate: boolean;
  /** How many attempts were made (1 when no retry was needed). */
  attempts: number;
}

/** Options common to both entry points' clients. */
export interface ClientOptions {
  /**
   * Base URL of the daemon, e.g. `http://127.0.0.1:50051` (default `http://localhost:50051`; `host:port` means
   * `http://host:port`), or an array of them (see `urls`). `https://` is TLS, verified against the system CAs (Node: or `ca`; browsers: their own store).
   */
  url?: string | readonly string[];
  /**
   * Several daemons of one cluster (`statehoused --storage postgres://...`), tried in order: a call that
   * cannot reach one (ConnectionError: refused, reset, the daemon died) is sent to the next, and later calls
   * stay there. A commit resent that way carries its idempotency key, so it applies once. Same as an array `url`.
   */
  urls?: readonly string[];
  /**
   * API key, sent as `Authorization: Bearer <key>` on every call (as `statehousectl auth create-key` printed it).
   * Node entry: default `STATEHOUSE_API_KEY` from the environment, else none. Send keys only over `https://`
   * or loopback.
   */
  apiKey?: string;
  /** Default namespace (default `"default"`). */
  namespace?: string;
  /** Largest value `write` accepts, in UTF-8 bytes of its JSON text (default 1 048 576, the daemon's default). */
  maxValueBytes?: number;
}

/**
 * Options of `new Statehouse(...)`. The same type in both entry points, so
 * code type-checks whichever entry a bundler or runtime picks.
 */
export interface StatehouseOptions extends ClientOptions {
  /**
   * Wire protocol (default `"connect"`):
   * - `"connect"` – the Connect protocol; Node: over HTTP/2 (or HTTP/1.1, see `httpVersion`); browser: over fetch.
   * - `"grpc"` – plain gRPC over HTTP/2, as grpcio clients speak it. Node only: the browser entry throws TypeError.
   * - `"grpc-web"` – gRPC-Web; browser: over fetch; Node: over HTTP/1.1 or HTTP/2.
   */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** Node entry: HTTP version for `"connect"` and `"grpc-web"` (default `"2"`; `"grpc"` always uses HTTP/2). Ignored by the browser entry. */
  httpVersion?: "2" | "1.1";
  /** Browser entry: the fetch implementation (default `globalThis.fetch`). Ignored by the Node entry. */
  fetch?: typeof globalThis.fetch;
  /**
   * Node entry, `https://` only: PEM certificate(s) trusted to sign the daemon's certificate, instead of the
   * system CAs (a private CA). The browser entry throws TypeError: a browser trusts its own certificate store.
   */
  ca?: string | Uint8Array;
  /** Node entry, `https://` only: PEM client certificate (chain) for mTLS; needs `key`. */
  cert?: string | Uint8Array;
  /** Node entry, `https://` only: PEM private key of `cert`. */
  key?: string | Uint8Array;
}
