// Daemon configuration: one table of settings drives the environment
// variables, the command-line flags, the config file keys, --help and the
// validation. Precedence: command line > environment > config file > default.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parseFailpoint, type RetentionPolicy } from "@statehouse/engine";
import { AUTH_MODES, type AuthMode } from "./auth/access-gate.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const RECOVERY_MODES = ["auto", "rebuild", "accept-rollback"] as const;
export type RecoveryModeSetting = (typeof RECOVERY_MODES)[number];
const ROCKSDB_LOG_LEVELS = ["off", "fatal", "error", "warn", "info", "debug"] as const;
export type RocksdbLogLevelSetting = (typeof ROCKSDB_LOG_LEVELS)[number];
const ROCKSDB_WRITERS = ["wal-sync", "thread"] as const;
export type RocksdbWriterSetting = (typeof ROCKSDB_WRITERS)[number];

export interface DaemonConfig {
  listenAddr: string;
  dataDir: string;
  useMemory: boolean;
  /** A postgres:// URL: cluster mode, the data lives in that database and the daemon holds none (null = RocksDB in dataDir). */
  storage: string | null;
  /** Schema in the PostgreSQL database holding the store. */
  postgresSchema: string;
  /** Pooled connections to PostgreSQL. */
  postgresPoolSize: number;
  /** LISTEN/NOTIFY for other daemons' commits (false = polling only, for databases without it). */
  postgresNotify: boolean;
  fsyncOnCommit: boolean;
  snapshotInterval: number;
  txTimeoutMs: number;
  maxValueBytes: number;
  /** Budget for the data of all open transactions, bytes. */
  maxStagedBytes: number;
  /** Largest transaction, bytes. */
  maxTransactionBytes: number;
  /** How long idempotency keys are kept, ms. */
  idempotencyWindowMs: number;
  /** Default retention policy (namespaces without their own); null = keep what the store has (initially: everything). */
  retentionDefault: RetentionPolicy | null;
  /** How often background history compaction runs, ms (0 = only on CompactHistory). */
  compactionIntervalMs: number;
  /** Pause between compaction batches, ms. */
  compactionPauseMs: number;
  /** auto | rebuild | accept-rollback (see the engine README, Recovery). */
  recoveryMode: RecoveryModeSetting;
  /** RocksDB block cache (data, index and filter blocks), MiB. */
  rocksdbCacheMb: number;
  /** RocksDB memtable budget, MiB. */
  rocksdbMemtableMb: number;
  /** Heap budget of the engine's version cache, MiB (0 = none). */
  versionCacheMb: number;
  /** RocksDB's own LOG in <dataDir>/db: off or the least severe level written. */
  rocksdbLogLevel: RocksdbLogLevelSetting;
  /** How commits are synced off the event loop: wal-sync (libuv thread pool) or thread (a writer thread). */
  rocksdbWriter: RocksdbWriterSetting;
  logLevel: LogLevel;
  /** Allowed browser origins: exact origins, `scheme://host:*` (any port) or `*`. Empty = no CORS. */
  corsOrigins: string[];
  readyFile: string | null;
  /** The web console's built assets, served at /console; null = apps/console/dist beside this daemon. */
  consoleDir: string | null;
  failpoint: string | null;
  /** Tests only: the engine's clock runs this many times faster than real time (null: the real clock). */
  testClockRate: number | null;
  maxTxnTimeoutMs: number;
  maxNameBytes: number;
  maxKeyBytes: number;
  maxOperationsPerTxn: number;
  maxOpenTransactions: number;
  maxConcurrentStreams: number;
  maxStreamingCalls: number;
  maxRequestBytes: number;
  maxJsonDepth: number;
  /** Largest ListKeys page (keys). */
  maxPageKeys: number;
  /** Largest ScanPrefix / GetStateAsOf / ListNamespaces / ListAgents page (entries). */
  maxPageEntries: number;
  /** Byte budget of one page (keys and values as stored); a page ends early once it is reached. */
  maxPageBytes: number;
  /** Largest answer to a ListKeys / ScanPrefix / GetStateAsOf that does not page (old clients). */
  maxUnpagedBytes: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  idleTimeoutMs: number;
  headerTimeoutMs: number;
  requestTimeoutMs: number;
  shutdownGraceMs: number;
  /** Serve the hot unary RPCs over gRPC and Connect (binary, uncompressed, HTTP/2) without connect-node (src/fast-path). */
  fastPath: boolean;
  /** Threads serving RPCs on the one port (1 = the engine's thread serves them itself; README, "RPC threads"). */
  rpcThreads: number;
  /** off | optional | required (README, Securing statehoused). */
  authMode: AuthMode;
  /** Start although a non-loopback address is served without TLS and --auth required. */
  insecureAllowExposed: boolean;
  /** PEM files; cert and key together turn TLS on (every connection on the port). */
  tlsCert: string | null;
  tlsKey: string | null;
  /** PEM CA for client certificates (mTLS); a certificate whose subject CN is a key id stands for that key. */
  tlsClientCa: string | null;
  /** Host header names served besides IP literals and loopback names: exact, *.domain, or *. */
  allowedHosts: string[];
  /** Per-key limits for keys whose ApiKeyLimits leave them 0. */
  keyMaxOpenTransactions: number;
  keyMaxOpenStreams: number;
}

/** An invalid setting. The message names the setting and where it came from. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
  }
}

interface Setting<K extends keyof DaemonConfig = keyof DaemonConfig> {
  key: K;
  env: string;
  /** Other environment names read when `env` is unset (the original daemon's); see envAliasesInUse. */
  aliases?: readonly string[];
  flag: string;
  placeholder: string;
  /** The flag may be given without a value, meaning "1" (--insecure-allow-exposed). */
  optionalValue?: boolean;
  default: DaemonConfig[K];
  description: string;
  /** Parses the textual form; throws Error(reason) when invalid. */
  parse(raw: string): DaemonConfig[K];
}

const KIB = 1024;
const MIB = 1024 * KIB;

function integer(min: number, max: number): (raw: string) => number {
  return (raw) => {
    if (!/^\d+$/.test(raw.trim())) throw new Error(`expected an integer between ${min} and ${max}`);
    const value = Number(raw.trim());
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`expected an integer between ${min} and ${max}`);
    return value;
  };
}

function boolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new Error("expected 1/0, true/false, yes/no or on/off");
}

/** The original daemon's reading of STATEHOUSE_USE_MEMORY: set (even empty) means on, except 0 and false. */
function presence(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  return v !== "0" && v !== "false";
}

function nonEmpty(raw: string): string {
  if (raw.trim() === "") throw new Error("must not be empty");
  return raw;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "all" (keep everything) or a duration of history to keep: 90d, 12h, 30m, 45s, 500ms. */
export function retentionPolicy(raw: string): RetentionPolicy | null {
  const v = raw.trim().toLowerCase();
  if (v === "") return null;
  if (v === "all") return { kind: "all" };
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(v);
  const keepMs = match === null ? NaN : Number(match[1]) * (DURATION_UNITS[match[2] as string] ?? NaN);
  if (!Number.isSafeInteger(keepMs) || keepMs < 1) throw new Error('expected "all" or a positive duration such as 90d, 12h, 30m, 45s, 500ms');
  return { kind: "duration", keepMs };
}

function storageUrl(raw: string): string | null {
  const value = raw.trim();
  if (value === "") return null;
  if (!/^postgres(ql)?:\/\/./.test(value)) throw new Error("expected a postgres:// or postgresql:// URL (unset for RocksDB in the data dir)");
  try {
    new URL(value);
  } catch {
    throw new Error("not a valid URL");
  }
  return value;
}

function schemaName(raw: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw new Error("expected a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)");
  return raw;
}

/** The URL with its password replaced, for logs. */
export function redactedStorageUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparseable)";
  }
}

function optionalString(raw: string): string | null {
  return raw.trim() === "" ? null : raw;
}

function oneOf<T extends string>(values: readonly T[]): (raw: string) => T {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(v)) throw new Error(`expected one of ${values.join(", ")}`);
    return v as T;
  };
}

const logLevel = oneOf(LOG_LEVELS);
const authMode = oneOf(AUTH_MODES);

/** A comma-separated list, items trimmed, empty ones dropped. */
function commaList(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function corsOrigins(raw: string): string[] {
  const origins = commaList(raw);
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/(\[[0-9a-fA-F:.]+\]|[^\s/:[\]]+)(:(\d{1,5}|\*))?$/.test(origin)) {
      throw new Error(`"${origin}" is not an origin (scheme://host[:port], port may be *) or *`);
    }
  }
  return origins;
}

function hostNames(raw: string): string[] {
  const names = commaList(raw.toLowerCase());
  for (const name of names) {
    if (name !== "*" && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
      throw new Error(`"${name}" is not a host name (name, *.domain or *)`);
    }
  }
  return names;
}

function recoveryMode(raw: string): RecoveryModeSetting {
  const v = raw.trim();
  if (!(RECOVERY_MODES as readonly string[]).includes(v)) throw new Error(`expected one of ${RECOVERY_MODES.join(", ")}`);
  return v as RecoveryModeSetting;
}

function rocksdbLogLevel(raw: string): RocksdbLogLevelSetting {
  const v = raw.trim();
  if (!(ROCKSDB_LOG_LEVELS as readonly string[]).includes(v)) throw new Error(`expected one of ${ROCKSDB_LOG_LEVELS.join(", ")}`);
  return v as RocksdbLogLevelSetting;
}

function rocksdbWriter(raw: string): RocksdbWriterSetting {
  const v = raw.trim();
  if (!(ROCKSDB_WRITERS as readonly string[]).includes(v)) throw new Error(`expected one of ${ROCKSDB_WRITERS.join(", ")}`);
  return v as RocksdbWriterSetting;
}

function failpoint(raw: string): string | null {
  const v = raw.trim();
  if (v === "") return null;
  parseFailpoint(v); // throws, naming the known points
  return v;
}

function listenAddr(raw: string): string {
  parseListenAddr(raw);
  return raw.trim();
}

export interface ListenAddress {
  /** Hosts to bind: "localhost" means both loopback addresses. */
  hosts: string[];
  port: number;
}

/** Whether a listen host is a loopback address (or "localhost"). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Why the configuration must not start: a non-loopback address served
 * without both TLS and --auth required (unless --insecure-allow-exposed);
 * null when it may.
 */
export function exposureProblem(config: DaemonConfig): string | null {
  const exposed = parseListenAddr(config.listenAddr).hosts.filter((h) => !isLoopbackHost(h));
  if (exposed.length === 0 || config.insecureAllowExposed) return null;
  const tls = config.tlsCert !== null;
  const auth = config.authMode === "required";
  if (tls && auth) return null;
  const missing = [tls ? null : "TLS (--tls-cert/--tls-key)", auth ? null : "authentication (--auth required)"].filter((m) => m !== null).join(" and ");
  return `refusing to serve ${exposed.join(", ")} (not loopback) without ${missing}: anyone who reaches the port could read and change every namespace. Add them (README, "Securing statehoused"), bind a loopback address, or pass --insecure-allow-exposed (STATEHOUSE_INSECURE_ALLOW_EXPOSED=1) to accept the risk`;
}

/** Parses `host:port` / `[v6]:port`; "localhost" binds 127.0.0.1 and ::1. */
export function parseListenAddr(raw: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  if (match === null) throw new Error("expected host:port or [ipv6]:port");
  const port = Number(match[3]);
  if (port > 65535) throw new Error("port must be between 0 and 65535");
  const host = match[1] ?? match[2] ?? "";
  return { hosts: host === "localhost" ? ["127.0.0.1", "::1"] : [host], port };
}

/** The most --rpc-threads allowed. */
export const MAX_RPC_THREADS = 64;

function rpcThreads(raw: string): number {
  const text = raw.trim();
  if (text === "auto" || text === "0") return 0;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_RPC_THREADS) throw new Error(`expected auto or a number of threads between 1 and ${MAX_RPC_THREADS} (the most --rpc-threads allows)`);
  return value;
}

/** --rpc-threads auto: the machine's cores - 1, at least 1; 1 when auth is on (worker threads serve only --auth off). */
export function defaultRpcThreads(authMode: AuthMode, cores = availableParallelism()): number {
  if (authMode !== "off") return 1;
  return Math.max(1, Math.min(MAX_RPC_THREADS, cores - 1));
}

function setting<K extends keyof DaemonConfig>(s: Setting<K>): Setting {
  return s as unknown as Setting;
}

export const SETTINGS: readonly Setting[] = [
  setting({ key: "listenAddr", env: "STATEHOUSE_LISTEN_ADDR", aliases: ["STATEHOUSE_ADDR"], flag: "--listen-addr", placeholder: "host:port", default: "localhost:50051", description: "listen address for every protocol; localhost = 127.0.0.1 and ::1", parse: listenAddr }),
  setting({ key: "dataDir", env: "STATEHOUSE_DATA_DIR", flag: "--data-dir", placeholder: "dir", default: "./statehouse-data", description: "RocksDB and snapshots live here", parse: nonEmpty }),
  setting({ key: "useMemory", env: "STATEHOUSE_USE_MEMORY", flag: "--use-memory", placeholder: "0|1", default: false, description: "set (any value but 0 or false, even empty) = in-memory storage, data lost on exit (tests only)", parse: presence }),
  setting({ key: "storage", env: "STATEHOUSE_STORAGE", flag: "--storage", placeholder: "url", default: null, description: "postgres://user@host:port/db[?sslmode=verify-full&sslrootcert=ca.pem] = cluster mode: the data lives in PostgreSQL, any number of statehoused share it (daemon README, Cluster mode); unset = RocksDB in the data dir", parse: storageUrl }),
  setting({ key: "postgresSchema", env: "STATEHOUSE_POSTGRES_SCHEMA", flag: "--postgres-schema", placeholder: "name", default: "statehouse", description: "cluster mode: the PostgreSQL schema holding the store (created and migrated at start)", parse: schemaName }),
  setting({ key: "postgresPoolSize", env: "STATEHOUSE_POSTGRES_POOL_SIZE", flag: "--postgres-pool-size", placeholder: "n", default: 10, description: "cluster mode: pooled connections to PostgreSQL", parse: integer(2, 1000) }),
  setting({ key: "postgresNotify", env: "STATEHOUSE_POSTGRES_NOTIFY", flag: "--postgres-notify", placeholder: "0|1", default: true, description: "cluster mode: 1 = LISTEN/NOTIFY for other daemons' commits (plus a 1 s poll); 0 = poll every 50 ms (databases without NOTIFY)", parse: boolean }),
  setting({ key: "fsyncOnCommit", env: "STATEHOUSE_FSYNC_ON_COMMIT", flag: "--fsync-on-commit", placeholder: "0|1", default: true, description: "0 = acknowledge commits before the log is synced", parse: boolean }),
  setting({ key: "snapshotInterval", env: "STATEHOUSE_SNAPSHOT_INTERVAL", flag: "--snapshot-interval", placeholder: "commits", default: 1000, description: "commits between snapshots (0 = never)", parse: integer(0, 100_000_000) }),
  setting({ key: "txTimeoutMs", env: "STATEHOUSE_TX_TIMEOUT_MS", flag: "--tx-timeout-ms", placeholder: "ms", default: 30_000, description: "default transaction timeout", parse: integer(1, 86_400_000) }),
  setting({ key: "maxValueBytes", env: "STATEHOUSE_MAX_VALUE_BYTES", flag: "--max-value-bytes", placeholder: "bytes", default: MIB, description: "largest accepted value (its JSON encoding)", parse: integer(16, 256 * MIB) }),
  setting({ key: "maxStagedBytes", env: "STATEHOUSE_MAX_STAGED_BYTES", flag: "--max-staged-bytes", placeholder: "bytes", default: 512 * MIB, description: "budget for the data of all open transactions (staged and queued); past it RESOURCE_EXHAUSTED max_staged_bytes", parse: integer(MIB, 64 * 1024 * MIB) }),
  setting({ key: "maxTransactionBytes", env: "STATEHOUSE_MAX_TRANSACTION_BYTES", flag: "--max-transaction-bytes", placeholder: "bytes", default: 64 * MIB, description: "largest transaction (values plus names); past it RESOURCE_EXHAUSTED max_transaction_bytes", parse: integer(KIB, 256 * MIB) }),
  setting({ key: "idempotencyWindowMs", env: "STATEHOUSE_IDEMPOTENCY_WINDOW_MS", flag: "--idempotency-window-ms", placeholder: "ms", default: 86_400_000, description: "how long idempotency keys are kept (then purged: a retry after it applies again)", parse: integer(1000, 365 * 86_400_000) }),
  setting({ key: "retentionDefault", env: "STATEHOUSE_RETENTION_DEFAULT", flag: "--retention-default", placeholder: "all|duration", default: null, description: "default history retention for namespaces without their own policy (persisted): all, or a duration such as 30d; unset = as stored (initially all)", parse: retentionPolicy }),
  setting({ key: "compactionIntervalMs", env: "STATEHOUSE_COMPACTION_INTERVAL_MS", flag: "--compaction-interval-ms", placeholder: "ms", default: 60_000, description: "how often history behind the retention horizons is compacted (0 = only on CompactHistory)", parse: integer(0, 86_400_000) }),
  setting({ key: "compactionPauseMs", env: "STATEHOUSE_COMPACTION_PAUSE_MS", flag: "--compaction-pause-ms", placeholder: "ms", default: 20, description: "pause between compaction batches of 256 events (bounds compaction's I/O)", parse: integer(0, 60_000) }),
  setting({ key: "recoveryMode", env: "STATEHOUSE_RECOVERY_MODE", flag: "--recovery-mode", placeholder: "mode", default: "auto", description: "auto; rebuild = rebuild every index from the log; accept-rollback = start although acknowledged commits are missing (operator's choice)", parse: recoveryMode }),
  setting({ key: "rocksdbCacheMb", env: "STATEHOUSE_ROCKSDB_CACHE_MB", flag: "--rocksdb-cache-mb", placeholder: "MiB", default: 4, description: "RocksDB block cache: data blocks plus every SST's index and filter blocks (README, Memory)", parse: integer(1, 4095) }),
  setting({ key: "rocksdbMemtableMb", env: "STATEHOUSE_ROCKSDB_MEMTABLE_MB", flag: "--rocksdb-memtable-mb", placeholder: "MiB", default: 32, description: "RocksDB memtable budget: write buffers of a quarter of it, at most 1.5x it in all (README, Memory)", parse: integer(4, 4096) }),
  setting({ key: "versionCacheMb", env: "STATEHOUSE_VERSION_CACHE_MB", flag: "--version-cache-mb", placeholder: "MiB", default: 1, description: "heap budget of the engine's cache of recently written key versions, 0 = none (README, Memory)", parse: integer(0, 1024) }),
  setting({ key: "rocksdbLogLevel", env: "STATEHOUSE_ROCKSDB_LOG_LEVEL", flag: "--rocksdb-log-level", placeholder: "level", default: "warn", description: `RocksDB's own LOG in <data dir>/db (stalls, background errors): ${ROCKSDB_LOG_LEVELS.join(", ")} (README, Metrics and logs)`, parse: rocksdbLogLevel }),
  setting({ key: "rocksdbWriter", env: "STATEHOUSE_ROCKSDB_WRITER", flag: "--rocksdb-writer", placeholder: "mode", default: "wal-sync", description: `how commits are fsynced off the event loop: wal-sync = RocksDB's WAL fdatasynced in libuv's thread pool; thread = a writer thread (about 16 MiB more RSS) (README, Memory)`, parse: rocksdbWriter }),
  setting({ key: "logLevel", env: "STATEHOUSE_LOG_LEVEL", flag: "--log-level", placeholder: "level", default: "info", description: `log level: ${LOG_LEVELS.join(", ")}`, parse: logLevel }),
  setting({ key: "corsOrigins", env: "STATEHOUSE_CORS_ORIGINS", flag: "--cors-origins", placeholder: "list", default: [], description: "browser origins allowed by CORS (other origins are refused on every request): comma list, port may be *, or * for any; default none", parse: corsOrigins }),
  setting({ key: "readyFile", env: "STATEHOUSE_READY_FILE", flag: "--ready-file", placeholder: "path", default: null, description: 'write {"address","pid","commitTs"} here once serving', parse: optionalString }),
  setting({ key: "consoleDir", env: "STATEHOUSE_CONSOLE_DIR", flag: "--console-dir", placeholder: "dir", default: null, description: "the web console's built assets, served at /console (default: apps/console/dist of this checkout; when missing, /console says how to build it and RPC is unaffected)", parse: optionalString }),
  setting({ key: "failpoint", env: "STATEHOUSE_FAILPOINT", flag: "--failpoint", placeholder: "name[@N]", default: null, description: "crash test: SIGKILL the process at the Nth hit of a named point", parse: failpoint }),
  setting({ key: "testClockRate", env: "STATEHOUSE_TEST_CLOCK_RATE", flag: "--test-clock-rate", placeholder: "factor", default: null, description: "TESTS ONLY (soak bench): the engine's wall clock (commit times, retention horizons, idempotency window) runs this many times faster than real time from start; logged as a warning; never in production", parse: integer(1, 1_000_000) }),
  setting({ key: "maxTxnTimeoutMs", env: "STATEHOUSE_MAX_TXN_TIMEOUT_MS", flag: "--max-txn-timeout-ms", placeholder: "ms", default: 3_600_000, description: "largest timeout_ms a BeginTransaction may ask for", parse: integer(1, 86_400_000) }),
  setting({ key: "maxNameBytes", env: "STATEHOUSE_MAX_NAME_BYTES", flag: "--max-name-bytes", placeholder: "bytes", default: 256, description: "longest namespace or agent_id (UTF-8 bytes)", parse: integer(1, KIB) }),
  setting({ key: "maxKeyBytes", env: "STATEHOUSE_MAX_KEY_BYTES", flag: "--max-key-bytes", placeholder: "bytes", default: KIB, description: "longest key, prefix or idempotency key (UTF-8 bytes)", parse: integer(1, KIB) }),
  setting({ key: "maxOperationsPerTxn", env: "STATEHOUSE_MAX_OPERATIONS_PER_TXN", flag: "--max-operations-per-txn", placeholder: "n", default: 10_000, description: "operations (plus preconditions) in one transaction", parse: integer(1, 10_000_000) }),
  setting({ key: "maxOpenTransactions", env: "STATEHOUSE_MAX_OPEN_TRANSACTIONS", flag: "--max-open-transactions", placeholder: "n", default: 10_000, description: "server-side transactions open at once", parse: integer(1, 10_000_000) }),
  setting({ key: "maxConcurrentStreams", env: "STATEHOUSE_MAX_CONCURRENT_STREAMS", flag: "--max-concurrent-streams", placeholder: "n", default: 256, description: "HTTP/2 streams per connection", parse: integer(1, 100_000) }),
  setting({ key: "maxStreamingCalls", env: "STATEHOUSE_MAX_STREAMING_CALLS", flag: "--max-streaming-calls", placeholder: "n", default: 1024, description: "Replay/Watch/health Watch streams open at once (whole daemon)", parse: integer(1, 1_000_000) }),
  setting({ key: "maxRequestBytes", env: "STATEHOUSE_MAX_REQUEST_BYTES", flag: "--max-request-bytes", placeholder: "bytes", default: 4 * MIB, description: "largest request message, >= max value bytes + 64 KiB (default: the larger of 4 MiB and max value bytes + 1 MiB)", parse: integer(KIB, 1024 * MIB) }),
  setting({ key: "maxJsonDepth", env: "STATEHOUSE_MAX_JSON_DEPTH", flag: "--max-json-depth", placeholder: "levels", default: 32, description: "deepest nesting of objects/arrays in a value", parse: integer(1, 100) }),
  setting({ key: "maxPageKeys", env: "STATEHOUSE_MAX_PAGE_KEYS", flag: "--max-page-keys", placeholder: "keys", default: 10_000, description: "largest ListKeys page (a larger page_size is capped to it)", parse: integer(1, 1_000_000) }),
  setting({ key: "maxPageEntries", env: "STATEHOUSE_MAX_PAGE_ENTRIES", flag: "--max-page-entries", placeholder: "entries", default: 1000, description: "largest ScanPrefix / GetStateAsOf / ListNamespaces / ListAgents page (a larger page_size is capped to it)", parse: integer(1, 1_000_000) }),
  setting({ key: "maxPageBytes", env: "STATEHOUSE_MAX_PAGE_BYTES", flag: "--max-page-bytes", placeholder: "bytes", default: 2 * MIB, description: "byte budget of one page (keys and values as stored): the page ends once it is reached", parse: integer(KIB, 256 * MIB) }),
  setting({ key: "maxUnpagedBytes", env: "STATEHOUSE_MAX_UNPAGED_BYTES", flag: "--max-unpaged-bytes", placeholder: "bytes", default: 32 * MIB, description: "largest answer to a ListKeys / ScanPrefix / GetStateAsOf without page_size (old clients); larger is RESOURCE_EXHAUSTED", parse: integer(KIB, 4096 * MIB) }),
  setting({ key: "maxConnections", env: "STATEHOUSE_MAX_CONNECTIONS", flag: "--max-connections", placeholder: "n", default: 4096, description: "TCP connections open at once", parse: integer(1, 1_000_000) }),
  setting({ key: "maxConnectionsPerAddress", env: "STATEHOUSE_MAX_CONNECTIONS_PER_ADDRESS", flag: "--max-connections-per-address", placeholder: "n", default: 1024, description: "TCP connections open at once from one remote address", parse: integer(1, 1_000_000) }),
  setting({ key: "idleTimeoutMs", env: "STATEHOUSE_IDLE_TIMEOUT_MS", flag: "--idle-timeout-ms", placeholder: "ms", default: 300_000, description: "close connections with no call in flight after this long", parse: integer(100, 86_400_000) }),
  setting({ key: "headerTimeoutMs", env: "STATEHOUSE_HEADER_TIMEOUT_MS", flag: "--header-timeout-ms", placeholder: "ms", default: 10_000, description: "time a new connection has to send its preface / request headers", parse: integer(100, 600_000) }),
  setting({ key: "requestTimeoutMs", env: "STATEHOUSE_REQUEST_TIMEOUT_MS", flag: "--request-timeout-ms", placeholder: "ms", default: 30_000, description: "time a client has to send a whole request, headers and body (HTTP/1.1 request, HTTP/2 stream)", parse: integer(100, 3_600_000) }),
  setting({ key: "shutdownGraceMs", env: "STATEHOUSE_SHUTDOWN_GRACE_MS", flag: "--shutdown-grace-ms", placeholder: "ms", default: 10_000, description: "on SIGTERM/SIGINT, time in-flight calls get to finish", parse: integer(0, 600_000) }),
  setting({ key: "authMode", env: "STATEHOUSE_AUTH", flag: "--auth", placeholder: "mode", default: "off", description: "off = no credentials checked (loopback development); optional = a presented API key is checked and limits the call, calls without one may do everything; required = every call needs an API key or client certificate", parse: authMode }),
  setting({ key: "insecureAllowExposed", env: "STATEHOUSE_INSECURE_ALLOW_EXPOSED", flag: "--insecure-allow-exposed", placeholder: "0|1", optionalValue: true, default: false, description: "start although a non-loopback address is served without TLS and --auth required (anyone who reaches the port can do anything)", parse: boolean }),
  setting({ key: "tlsCert", env: "STATEHOUSE_TLS_CERT", flag: "--tls-cert", placeholder: "pem", default: null, description: "TLS certificate chain (PEM); with --tls-key every connection is TLS (ALPN h2, http/1.1); reloaded on SIGHUP", parse: optionalString }),
  setting({ key: "tlsKey", env: "STATEHOUSE_TLS_KEY", flag: "--tls-key", placeholder: "pem", default: null, description: "TLS private key (PEM) of --tls-cert; reloaded on SIGHUP", parse: optionalString }),
  setting({ key: "tlsClientCa", env: "STATEHOUSE_TLS_CLIENT_CA", flag: "--tls-client-ca", placeholder: "pem", default: null, description: "CA (PEM) for client certificates (mTLS): a verified certificate whose subject CN is a key id authenticates as that key; reloaded on SIGHUP", parse: optionalString }),
  setting({ key: "allowedHosts", env: "STATEHOUSE_ALLOWED_HOSTS", flag: "--allowed-hosts", placeholder: "list", default: [], description: "Host header names served besides IP literals and localhost (defeats DNS rebinding): comma list of names, *.domain, or * for any", parse: hostNames }),
  setting({ key: "keyMaxOpenTransactions", env: "STATEHOUSE_KEY_MAX_OPEN_TRANSACTIONS", flag: "--key-max-open-transactions", placeholder: "n", default: 1000, description: "server-side transactions one API key may hold open (unless the key sets its own limit)", parse: integer(1, 10_000_000) }),
  setting({ key: "keyMaxOpenStreams", env: "STATEHOUSE_KEY_MAX_OPEN_STREAMS", flag: "--key-max-open-streams", placeholder: "n", default: 128, description: "Replay/Watch streams one API key may hold open (unless the key sets its own limit)", parse: integer(1, 1_000_000) }),
  setting({ key: "rpcThreads", env: "STATEHOUSE_RPC_THREADS", flag: "--rpc-threads", placeholder: "n|auto", default: 0, description: `threads serving RPCs on the one port, 1 to ${MAX_RPC_THREADS}; auto (0) = the machine's cores - 1, at least 1 (1 with --auth optional/required); 1 = the engine's thread serves them, more = worker threads talking to the engine's thread`, parse: rpcThreads }),
  setting({ key: "fastPath", env: "STATEHOUSE_FAST_PATH", flag: "--fast-path", placeholder: "0|1", default: true, description: "1 = serve Transact, GetState, Health and the transaction RPCs over gRPC/Connect binary h2c without connect-node; 0 = connect-node for every call", parse: boolean }),
];

export interface ConfigSources {
  /** Command-line values by setting key (already split by the CLI parser). */
  cli?: Partial<Record<keyof DaemonConfig, string>>;
  env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file whose keys are the setting keys (camelCase). */
  configFile?: string;
  /** Base for relative paths; default process.cwd(). */
  cwd?: string;
}

function fileValueToText(setting: Setting, value: unknown, file: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null) return "";
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(",");
  throw new ConfigError(setting.key, `invalid ${setting.key} in config file ${file}: expected a string, number or boolean`);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError("config", `cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("config", `config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError("config", `config file ${file} must hold a JSON object of settings`);
  }
  const known = new Set(SETTINGS.map((s) => s.key as string));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(key, `unknown setting "${key}" in config file ${file}; known: ${[...known].join(", ")}`);
  }
  return parsed as Record<string, unknown>;
}

export interface EnvAliasUse {
  /** The variable that is set, e.g. STATEHOUSE_ADDR (the original daemon's name). */
  alias: string;
  /** The setting's own variable, e.g. STATEHOUSE_LISTEN_ADDR. */
  env: string;
  /** True when the alias is not used: the setting's own variable or its flag is set too (they win). */
  ignored: boolean;
}

/** The alias variables set in `env`, for the startup log (resolveConfig applies them). */
export function envAliasesInUse(
  env: Readonly<Record<string, string | undefined>>,
  cli: Partial<Record<keyof DaemonConfig, string>> = {},
): EnvAliasUse[] {
  const uses: EnvAliasUse[] = [];
  for (const s of SETTINGS) {
    for (const alias of s.aliases ?? []) {
      if (env[alias] === undefined) continue;
      uses.push({ alias, env: s.env, ignored: env[s.env] !== undefined || cli[s.key] !== undefined });
    }
  }
  return uses;
}

/** Resolves the configuration from its sources; throws ConfigError naming the first invalid setting. */
export function resolveConfig(sources: ConfigSources = {}): DaemonConfig {
  const env = sources.env ?? {};
  const file = sources.configFile === undefined ? {} : readConfigFile(sources.configFile);
  const config: Record<string, unknown> = {};
  const defaulted = new Set<keyof DaemonConfig>();
  for (const s of SETTINGS) {
    const cliValue = sources.cli?.[s.key];
    const envName = [s.env, ...(s.aliases ?? [])].find((name) => env[name] !== undefined);
    const envValue = envName === undefined ? undefined : env[envName];
    let raw: string | undefined;
    let origin: string;
    if (cliValue !== undefined) {
      raw = cliValue;
      origin = `${s.flag} (command line)`;
    } else if (envValue !== undefined) {
      raw = envValue;
      origin = envName === s.env ? `${s.env} (environment)` : `${envName ?? ""} (environment, alias of ${s.env})`;
    } else if (s.key in file) {
      raw = fileValueToText(s, file[s.key], sources.configFile ?? "");
      origin = `${s.key} (config file ${sources.configFile ?? ""})`;
    } else {
      config[s.key] = s.default;
      defaulted.add(s.key);
      continue;
    }
    try {
      config[s.key] = s.parse(raw);
    } catch (error) {
      throw new ConfigError(s.env, `invalid ${origin}: ${JSON.stringify(raw)}: ${(error as Error).message}`);
    }
  }
  const result = config as unknown as DaemonConfig;
  result.dataDir = resolve(sources.cwd ?? process.cwd(), result.dataDir);
  if (result.readyFile !== null) result.readyFile = resolve(sources.cwd ?? process.cwd(), result.readyFile);
  for (const key of ["tlsCert", "tlsKey", "tlsClientCa"] as const) {
    const path = result[key];
    if (path !== null) result[key] = resolve(sources.cwd ?? process.cwd(), path);
  }
  if ((result.tlsCert === null) !== (result.tlsKey === null)) {
    throw new ConfigError("STATEHOUSE_TLS_CERT", "--tls-cert (STATEHOUSE_TLS_CERT) and --tls-key (STATEHOUSE_TLS_KEY) go together: give both or neither");
  }
  if (result.tlsClientCa !== null && result.tlsCert === null) {
    throw new ConfigError("STATEHOUSE_TLS_CLIENT_CA", "--tls-client-ca (STATEHOUSE_TLS_CLIENT_CA) needs --tls-cert and --tls-key");
  }
  if (result.consoleDir !== null) result.consoleDir = resolve(sources.cwd ?? process.cwd(), result.consoleDir);
  if (defaulted.has("maxRequestBytes")) result.maxRequestBytes = Math.max(4 * MIB, result.maxValueBytes + MIB);
  if (result.maxRequestBytes < result.maxValueBytes + 64 * KIB) {
    throw new ConfigError(
      "STATEHOUSE_MAX_REQUEST_BYTES",
      `invalid STATEHOUSE_MAX_REQUEST_BYTES ${result.maxRequestBytes}: must be at least STATEHOUSE_MAX_VALUE_BYTES (${result.maxValueBytes}) + 65536`,
    );
  }
  if (result.storage !== null && result.useMemory) {
    throw new ConfigError("STATEHOUSE_STORAGE", "STATEHOUSE_STORAGE (a postgres:// URL) and STATEHOUSE_USE_MEMORY exclude each other: pick one storage");
  }
  if (result.rpcThreads === 0) {
    result.rpcThreads = defaultRpcThreads(result.authMode);
  } else if (result.rpcThreads > 1 && result.authMode !== "off") {
    throw new ConfigError(
      "STATEHOUSE_RPC_THREADS",
      `invalid STATEHOUSE_RPC_THREADS ${result.rpcThreads}: more than 1 RPC thread needs --auth off (the per-key limits, transaction ownership and revocation are kept by one thread); use --rpc-threads 1 with --auth ${result.authMode}`,
    );
  }
  if (result.txTimeoutMs > result.maxTxnTimeoutMs) {
    throw new ConfigError(
      "STATEHOUSE_TX_TIMEOUT_MS",
      `invalid STATEHOUSE_TX_TIMEOUT_MS ${result.txTimeoutMs}: must not exceed STATEHOUSE_MAX_TXN_TIMEOUT_MS (${result.maxTxnTimeoutMs})`,
    );
  }
  return result;
}
