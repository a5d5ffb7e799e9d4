// `npm run bench -- --cluster` (issue 19 item 5): P1 (64 clients) and P2 (1 client, p50/p99) for
// the single-node RocksDB daemon, plain PostgreSQL (the 4-statement transaction of the main bench)
// and 1, 2 and 3 statehoused in cluster mode (`STATEHOUSE_STORAGE=postgres://…`) over ONE
// PostgreSQL, in alternating rounds of the same run. Each cluster size has its own schema (its own
// store) and its daemons stay up for the run; clients are bound to the daemons round-robin.
// Per window: daemon and PostgreSQL CPU per commit (/proc), WAL flushes (pg_stat_wal), and the
// mean number of backends waiting on a lock (pg_stat_activity sampled every 10 ms: the commit_lock
// row). Writes results/cluster.{json,md}.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import type { ClientHttp2Session } from "node:http2";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { StatehouseService } from "@statehouse/api";
import pg from "pg";
import { benchValue } from "./bench-value.js";
import { connectPool, type PostgresPool } from "./clients/postgres-bench-client.js";
import { rawSession, rawTransact, sendRaw } from "./clients/raw-rpc-client.js";
import { runClosedLoop, type ClosedLoopResult } from "./closed-loop.js";
import {
  CLUSTER_SUBJECTS, SUBJECT_LABELS, daemonCount, daemonOf, makeClusterPlan, medianRatio, subjectOrder,
  type ClusterPlan, type ClusterPlanOptions, type ClusterSubject,
} from "./cluster-plan.js";
import { processCpuMs, reapedChildrenCpuMs } from "./cpu-probe.js";
import { describeMachine, loadAverage1m } from "./machine-info.js";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "./peers/postgres-server.js";
import { startDaemon, type RunningDaemon } from "./peers/statehouse-daemon.js";
import { median, roundSig } from "./stats.js";

export interface ClusterBenchOptions extends ClusterPlanOptions {
  outDir: string;
  scratchDir: string;
  command: string;
  log?: (line: string) => void;
}

interface Window extends ClosedLoopResult {
  daemonCpuUsPerCommit: number;
  /** This bench process (the load generator: every P1 client and the PostgreSQL driver of the plain rows). */
  clientCpuUsPerCommit: number;
  postgresCpuUsPerCommit: number;
  walSyncsPerSec: number;
  lockWaitersMean: number;
}

/** One daemon's client: connect-node's, or a raw node:http2 session (plan.client). */
type DaemonClient = { kind: "connect-node"; client: Client<typeof StatehouseService> } | { kind: "raw"; session: ClientHttp2Session };
type Target = { kind: "daemons"; daemons: RunningDaemon[]; clients: DaemonClient[] } | { kind: "postgres"; pool: PostgresPool };

const NAMESPACE = "bench";

/** pg_stat_wal.wal_sync and a 10 ms sampler of backends waiting on a lock, over one window. */
async function postgresProbe(admin: pg.Client): Promise<{ start(): Promise<void>; stop(): Promise<{ walSyncs: number; lockWaitersMean: number }> }> {
  const walSync = async (): Promise<number> => {
    await admin.query("SELECT pg_stat_clear_snapshot()");
    return Number((await admin.query<{ n: string }>("SELECT wal_sync::text AS n FROM pg_stat_wal")).rows[0]?.n ?? Number.NaN);
  };
  let syncs0 = 0;
  let samples = 0;
  let waiters = 0;
  let sampling = false;
  let loop: Promise<void> = Promise.resolve();
  return {
    async start() {
      syncs0 = await walSync();
      sampling = true;
      loop = (async () => {
        while (sampling) {
          const r = await admin.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'");
          waiters += Number(r.rows[0]?.n ?? 0);
          samples++;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
    },
    async stop() {
      sampling = false;
      await loop;
      return { walSyncs: (await walSync()) - syncs0, lockWaitersMean: samples === 0 ? Number.NaN : waiters / samples };
    },
  };
}

async function measure(subject: ClusterSubject, target: Target, postgres: PostgresServer, admin: pg.Client, concurrency: number, plan: ClusterPlan, tag: string): Promise<Window> {
  const value = benchValue(0);
  const valueJson = JSON.stringify(value);
  const op =
    target.kind === "postgres"
      ? (worker: number, seq: number) => target.pool.at(worker).commitTransaction(NAMESPACE, `${tag}-${worker}`, `k${seq % 100}`, valueJson)
      : async (worker: number, seq: number) => {
          const client = target.clients[daemonOf(worker, target.clients.length)] as DaemonClient;
          const operations = [{ namespace: NAMESPACE, agentId: `${tag}-${worker}`, key: `k${seq % 100}`, value }];
          if (client.kind === "raw") await sendRaw(client.session, rawTransact("gRPC", operations));
          else await client.client.transact({ operations });
        };
  const daemonPids = target.kind === "daemons" ? target.daemons.map((d) => d.pid) : [];
  const daemonCpu = () => daemonPids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  // Live backends plus those that exited in the window (pooled connections come and go).
  const pgCpu = () => processCpuMs(postgres.process.pid, true) + reapedChildrenCpuMs(postgres.process.pid);
  const probe = await postgresProbe(admin);
  let d0 = 0;
  let p0 = 0;
  let t0 = 0;
  let c0 = process.cpuUsage();
  let cpu = { daemon: 0, pg: 0, client: 0 };
  let pgStats: Promise<{ walSyncs: number; lockWaitersMean: number }> = Promise.resolve({ walSyncs: Number.NaN, lockWaitersMean: Number.NaN });
  let started: Promise<void> = Promise.resolve();
  const result = await runClosedLoop({
    concurrency,
    warmupMs: plan.warmupMs,
    durationMs: plan.windowMs,
    op,
    window: {
      start: () => {
        d0 = daemonCpu();
        p0 = pgCpu();
        c0 = process.cpuUsage();
        t0 = performance.now();
        started = probe.start();
      },
      stop: () => {
        const c = process.cpuUsage(c0);
        cpu = { daemon: daemonCpu() - d0, pg: pgCpu() - p0, client: (c.user + c.system) / 1000 };
        pgStats = started.then(() => probe.stop());
        return {};
      },
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const stats = await pgStats;
  const onPostgres = subject !== "rocksdb";
  const perCommit = (ms: number) => (result.ops > 0 ? (ms * 1000) / result.ops : Number.NaN);
  return {
    ...result,
    daemonCpuUsPerCommit: target.kind === "daemons" ? perCommit(cpu.daemon) : Number.NaN,
    clientCpuUsPerCommit: perCommit(cpu.client),
    // The RocksDB row does not use PostgreSQL: its PostgreSQL columns would only show the idle schemas' polling.
    postgresCpuUsPerCommit: onPostgres ? perCommit(cpu.pg) : Number.NaN,
    walSyncsPerSec: onPostgres ? stats.walSyncs / Math.max(seconds, plan.windowMs / 1000) : Number.NaN,
    lockWaitersMean: onPostgres ? stats.lockWaitersMean : Number.NaN,
  };
}

export async function runClusterBench(options: ClusterBenchOptions): Promise<{ markdown: string; files: string[]; report: ClusterReport }> {
  const log = options.log ?? ((line: string) => console.error(line));
  const plan = makeClusterPlan(options);
  ensurePostgresInstalled(log);
  mkdirSync(options.scratchDir, { recursive: true });
  const loadAtStart = loadAverage1m();
  const scratch = mkdtempSync(join(options.scratchDir, "statehouse-cluster-bench-"));
  const targets = new Map<ClusterSubject, Target>();
  const sessions: Http2SessionManager[] = [];
  const rawSessions: ClientHttp2Session[] = [];
  const daemons: RunningDaemon[] = [];
  let postgres: PostgresServer | undefined;
  let admin: pg.Client | undefined;
  const raw: Record<string, Window[]> = {};
  let loadMax = loadAtStart;
  try {
    postgres = await startPostgres(scratch);
    const config = { host: postgres.host, port: postgres.port, user: postgres.user, database: postgres.database };
    admin = new pg.Client(config);
    await admin.connect();
    const url = `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`;
    const connectTo = async (daemon: RunningDaemon): Promise<DaemonClient> => {
      if (plan.client === "raw") {
        const session = await rawSession(daemon.url);
        rawSessions.push(session);
        return { kind: "raw", session };
      }
      const manager = new Http2SessionManager(daemon.url);
      sessions.push(manager);
      return { kind: "connect-node", client: createClient(StatehouseService, createGrpcTransport({ baseUrl: daemon.url, sessionManager: manager })) };
    };
    const rocks = await startDaemon({ dataDir: join(scratch, "rocksdb"), workDir: scratch, name: "rocksdb" });
    daemons.push(rocks);
    targets.set("rocksdb", { kind: "daemons", daemons: [rocks], clients: [await connectTo(rocks)] });
    const pool = await connectPool(config, plan.p1Clients);
    await pool.at(0).createSchema();
    targets.set("postgres-4stmt", { kind: "postgres", pool });
    for (const subject of CLUSTER_SUBJECTS) {
      const n = daemonCount(subject);
      if (n === 0) continue;
      const nodes: RunningDaemon[] = [];
      for (let i = 0; i < n; i++) {
        const env = { STATEHOUSE_STORAGE: url, STATEHOUSE_POSTGRES_SCHEMA: `cluster${n}` };
        nodes.push(await startDaemon({ dataDir: join(scratch, `${subject}-${i}`), workDir: scratch, name: `${subject}-${i}`, env }));
      }
      daemons.push(...nodes);
      targets.set(subject, { kind: "daemons", daemons: nodes, clients: await Promise.all(nodes.map(connectTo)) });
    }
    log(`[bench] cluster: PostgreSQL ${postgres.version}, ${daemons.length} daemons up`);
    for (let r = 0; r < plan.rounds; r++) {
      for (const [cell, concurrency] of [["p1", plan.p1Clients], ["p2", 1]] as const) {
        for (const subject of subjectOrder(r)) {
          const w = await measure(subject, targets.get(subject) as Target, postgres, admin, concurrency, plan, `r${r}-${cell}-${subject}`);
          (raw[`${cell}.${subject}`] ??= []).push(w);
          loadMax = Math.max(loadMax, loadAverage1m());
          log(`[bench] cluster round ${r + 1}/${plan.rounds} ${cell} ${subject}: ${roundSig(w.opsPerSec)}/s`);
        }
      }
    }
  } finally {
    for (const manager of sessions) manager.abort();
    for (const session of rawSessions) session.destroy();
    await Promise.allSettled(daemons.map((d) => d.stop()));
    const pg4 = targets.get("postgres-4stmt");
    if (pg4?.kind === "postgres") await Promise.resolve(pg4.pool[Symbol.asyncDispose]()).catch(() => undefined);
    await admin?.end().catch(() => undefined);
    await postgres?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  const report = buildClusterReport(options.command, plan, describeMachine(options.scratchDir, loadAtStart), loadMax, raw);
  const markdown = clusterMarkdown(report);
  mkdirSync(options.outDir, { recursive: true });
  const files = [join(options.outDir, "cluster.json"), join(options.outDir, "cluster.md")];
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files[1] as string, markdown);
  return { markdown, files, report };
}

interface SubjectSummary {
  subject: ClusterSubject;
  p1CommitsPerSec: number;
  p1P99Ms: number;
  p2P50Ms: number;
  p2P99Ms: number;
  daemonCpuUsPerCommit: number;
  postgresCpuUsPerCommit: number;
  clientCpuUsPerCommit: number;
  walSyncsPerSec: number;
  commitsPerWalSync: number;
  lockWaitersMean: number;
}

export interface ClusterReport {
  command: string;
  plan: ClusterPlan;
  machine: ReturnType<typeof describeMachine>;
  loadAverageMax: number;
  subjects: SubjectSummary[];
  ratios: { cluster1VsPostgres4stmt: number; cluster2VsCluster1: number; cluster3VsCluster1: number; cluster1VsRocksdb: number };
  raw: Record<string, Window[]>;
}

export function buildClusterReport(command: string, plan: ClusterPlan, machine: ReturnType<typeof describeMachine>, loadAverageMax: number, raw: Record<string, Window[]>): ClusterReport {
  const med = (key: string, pick: (w: Window) => number) => roundSig(median((raw[key] ?? []).map(pick).filter(Number.isFinite)));
  const subjects = CLUSTER_SUBJECTS.map((subject): SubjectSummary => {
    const p1 = `p1.${subject}`;
    const walSyncsPerSec = med(p1, (w) => w.walSyncsPerSec);
    return {
      subject,
      p1CommitsPerSec: med(p1, (w) => w.opsPerSec),
      p1P99Ms: med(p1, (w) => w.p99Ms),
      p2P50Ms: med(`p2.${subject}`, (w) => w.p50Ms),
      p2P99Ms: med(`p2.${subject}`, (w) => w.p99Ms),
      daemonCpuUsPerCommit: med(p1, (w) => w.daemonCpuUsPerCommit),
      postgresCpuUsPerCommit: med(p1, (w) => w.postgresCpuUsPerCommit),
      clientCpuUsPerCommit: med(p1, (w) => w.clientCpuUsPerCommit),
      walSyncsPerSec,
      commitsPerWalSync: med(p1, (w) => w.opsPerSec / w.walSyncsPerSec),
      lockWaitersMean: med(p1, (w) => w.lockWaitersMean),
    };
  });
  const rate = (subject: ClusterSubject) => (raw[`p1.${subject}`] ?? []).map((w) => w.opsPerSec);
  const ratios = {
    cluster1VsPostgres4stmt: roundSig(medianRatio(rate("cluster-1"), rate("postgres-4stmt"))),
    cluster2VsCluster1: roundSig(medianRatio(rate("cluster-2"), rate("cluster-1"))),
    cluster3VsCluster1: roundSig(medianRatio(rate("cluster-3"), rate("cluster-1"))),
    cluster1VsRocksdb: roundSig(medianRatio(rate("cluster-1"), rate("rocksdb"))),
  };
  return { command, plan, machine, loadAverageMax, subjects, ratios, raw };
}

const cell = (value: number) => (Number.isFinite(value) ? String(value) : "—");

export function clusterMarkdown(report: ClusterReport): string {
  const { plan, machine, ratios } = report;
  return [
    "# Cluster mode: 1, 2 and 3 statehoused over one PostgreSQL",
    "",
    `\`${report.command}\` — ${plan.rounds} alternating round(s), ${plan.windowMs / 1000} s windows after ${plan.warmupMs} ms warm-up. P1: ${plan.p1Clients} closed-loop clients, each bound to one daemon round-robin (gRPC \`Transact\`, one 200-byte write, ${plan.client === "raw" ? "hand-encoded on one node:http2 session per daemon (`--cluster-client raw`, the default)" : "connect-node's client (`--cluster-client connect-node`)"}); P2: 1 client. PostgreSQL: one 4-statement transaction per commit over ${plan.p1Clients} connections. One PostgreSQL ${""}serves the plain rows and every cluster size (a schema each). Medians over rounds; ratios are medians of per-round ratios.`,
    "",
    `Machine: ${machine.nproc} cores (${machine.cpuModel}), ${machine.disk}. **Load average (1 min): ${machine.loadAverage.start} at start, ${machine.loadAverage.end} at end, ${report.loadAverageMax} at most** — a shared machine; read ratios, not absolute numbers.`,
    "",
    "| subject | P1 commits/s | P1 p99 (ms) | P2 p50 (ms) | P2 p99 (ms) | daemon CPU µs/commit | PostgreSQL CPU µs/commit | load generator CPU µs/commit | WAL flushes/s | commits per flush | backends waiting on a lock (mean) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...report.subjects.map((s) =>
      `| ${SUBJECT_LABELS[s.subject]} | ${cell(s.p1CommitsPerSec)} | ${cell(s.p1P99Ms)} | ${cell(s.p2P50Ms)} | ${cell(s.p2P99Ms)} | ${cell(s.daemonCpuUsPerCommit)} | ${cell(s.postgresCpuUsPerCommit)} | ${cell(s.clientCpuUsPerCommit)} | ${cell(s.walSyncsPerSec)} | ${cell(s.commitsPerWalSync)} | ${cell(s.lockWaitersMean)} |`,
    ),
    "",
    "| ratio (P1, 64 clients) | value | aim |",
    "|---|---|---|",
    `| cluster of 1 ÷ plain PostgreSQL 4-statement | ${cell(ratios.cluster1VsPostgres4stmt)}× | ≥ 0.8× |`,
    `| cluster of 2 ÷ cluster of 1 (total) | ${cell(ratios.cluster2VsCluster1)}× | ≥ 1× |`,
    `| cluster of 3 ÷ cluster of 1 (total) | ${cell(ratios.cluster3VsCluster1)}× | ≥ 1× |`,
    `| cluster of 1 ÷ single daemon on RocksDB | ${cell(ratios.cluster1VsRocksdb)}× | (context) |`,
    "",
    "WAL flushes come from `pg_stat_wal.wal_sync` (backends report it at most once a second, so short windows are approximate); lock waiters from `pg_stat_activity.wait_event_type = 'Lock'`, sampled every 10 ms (the commit_lock row is the only lock cluster batches wait on); CPU from `/proc/PID/stat` (PostgreSQL = postmaster + backends, daemon = every daemon of the row; load generator = this bench process, every P1 client of the row).",
    "",
  ].join("\n");
}
