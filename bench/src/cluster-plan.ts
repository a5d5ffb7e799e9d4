// The plan of `npm run bench -- --cluster` (issue 19 item 5): which subjects run, in which order
// each round, which daemon each client is bound to, and the ratios the report gives. Pure, so it is
// unit-tested (cluster-plan.test.ts) without starting anything.

/** The subjects of one cluster run, side by side. */
export const CLUSTER_SUBJECTS = ["rocksdb", "postgres-4stmt", "cluster-1", "cluster-2", "cluster-3"] as const;
export type ClusterSubject = (typeof CLUSTER_SUBJECTS)[number];

export const SUBJECT_LABELS: Record<ClusterSubject, string> = {
  rocksdb: "single daemon, RocksDB (default)",
  "postgres-4stmt": "plain PostgreSQL, BEGIN; INSERT; UPSERT; COMMIT",
  "cluster-1": "cluster: 1 daemon over PostgreSQL",
  "cluster-2": "cluster: 2 daemons over PostgreSQL",
  "cluster-3": "cluster: 3 daemons over PostgreSQL",
};

/** Daemons of a cluster subject (0 for the others). */
export function daemonCount(subject: ClusterSubject): number {
  const match = /^cluster-(\d)$/.exec(subject);
  return match === null ? 0 : Number(match[1]);
}

/** Round-robin binding: client `worker` talks to daemon `worker mod daemons` for the whole window. */
export function daemonOf(worker: number, daemons: number): number {
  if (!Number.isInteger(daemons) || daemons < 1) throw new RangeError(`daemons must be a positive integer, got ${daemons}`);
  return worker % daemons;
}

/** Subjects in round `round`'s order: rotated by one each round so drift hits all alike. */
export function subjectOrder(round: number, subjects: readonly ClusterSubject[] = CLUSTER_SUBJECTS): ClusterSubject[] {
  const shift = round % subjects.length;
  return [...subjects.slice(shift), ...subjects.slice(0, shift)];
}

/**
 * The P1/P2 client of the daemon rows. `raw` (the default): one node:http2 session per daemon and
 * gRPC requests encoded by hand (bench/src/clients/raw-rpc-client.ts), the cheapest client, so on a
 * small machine the load generator's CPU takes little from the daemons and PostgreSQL it measures.
 * `connect-node`: the connect-node gRPC client (what the SDK is built on), about 3x the client CPU.
 */
export const CLUSTER_CLIENTS = ["raw", "connect-node"] as const;
export type ClusterClient = (typeof CLUSTER_CLIENTS)[number];

export interface ClusterPlanOptions {
  quick?: boolean;
  rounds?: number;
  windowMs?: number;
  client?: string;
}

export interface ClusterPlan {
  rounds: number;
  warmupMs: number;
  windowMs: number;
  /** P1 client count (P2 is always 1 client). */
  p1Clients: number;
  client: ClusterClient;
}

export function makeClusterPlan(options: ClusterPlanOptions = {}): ClusterPlan {
  const rounds = options.rounds ?? (options.quick === true ? 1 : 2);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer, got ${rounds}`);
  const windowMs = options.windowMs ?? (options.quick === true ? 1_000 : 3_000);
  const client = options.client ?? "raw";
  if (!(CLUSTER_CLIENTS as readonly string[]).includes(client)) throw new RangeError(`--cluster-client must be one of ${CLUSTER_CLIENTS.join(", ")}, got ${client}`);
  return { rounds, warmupMs: options.quick === true ? 300 : 700, windowMs, p1Clients: 64, client: client as ClusterClient };
}

/** Median of the per-round ratios `num[k] / den[k]` (rounds where both ran). */
export function medianRatio(num: readonly number[], den: readonly number[]): number {
  const ratios: number[] = [];
  for (let k = 0; k < Math.min(num.length, den.length); k++) {
    const a = num[k] as number;
    const b = den[k] as number;
    if (Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b);
  }
  if (ratios.length === 0) return Number.NaN;
  ratios.sort((x, y) => x - y);
  const mid = (ratios.length - 1) / 2;
  return ((ratios[Math.floor(mid)] as number) + (ratios[Math.ceil(mid)] as number)) / 2;
}
