// `npm run bench -- --soak [--duration 30m]`: issue 16's soak. One daemon (fsync on, the unit's
// Node flags) with an accelerated test clock (STATEHOUSE_TEST_CLOCK_RATE) and a short
// keep-duration retention, under the load of soak-plan.ts for the whole duration: 1,000
// connections (TS SDK, connect-node gRPC and Python SDK clients, most of them idle), 10,000
// server transactions held open and replaced as they commit or abort, short-timeout ones
// committed late, and a mixed open-loop stream of commits, reads, as-of reads, replays and
// watches. Samples the daemon's RSS, its data dir's disk use and its gauges; writes
// results/soak.{json,md,svg}.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ErrorCode, RetentionKind, RetentionService, StatehouseErrorSchema, StatehouseService } from "@statehouse/api";
import { Statehouse, StatehouseError } from "@statehouse/sdk";
import { benchValue } from "./bench-value.js";
import { processCpuMs } from "./cpu-probe.js";
import { describeMachine, loadAverage1m, type MachineInfo } from "./machine-info.js";
import { memoryOf, REPO_ROOT, startDaemon, type RunningDaemon } from "./peers/statehouse-daemon.js";
import { pythonUnavailable, VENV_PYTHON } from "./python-worker.js";
import { soakChartSvg } from "./soak-chart.js";
import {
  classify,
  EXPECTED_CODES,
  LatencyWindows,
  plannedConnections,
  plannedHeldTransactions,
  plateau,
  SOAK_NAMESPACE,
  soakPlan,
  type MixedRates,
  type PlateauVerdict,
  type SoakPlan,
  type SoakScale,
  type WindowSummary,
} from "./soak-plan.js";
import { roundSig } from "./stats.js";

export const SOAK_WORKER = join(REPO_ROOT, "bench", "python", "soak_worker.py");

export interface SoakBenchOptions {
  durationMs: number;
  scale?: SoakScale;
  outDir: string;
  scratchDir: string;
  command: string;
  /** Output file stem (default "soak"). */
  name?: string;
  /** Run the Python processes (default: when the .venv is there). */
  python?: boolean;
  log?: (message: string) => void;
}

export interface SoakSample {
  /** Seconds since the load started. */
  t: number;
  rssMiB: number;
  /** VmRSS split: anonymous memory (heaps, malloc) and file-backed pages (binary, libraries). */
  rssAnonMiB: number;
  rssFileMiB: number;
  /** The daemon's V8 heap in use and its external (Buffer) memory, from its /metrics. */
  heapUsedMiB: number;
  /** V8's committed heap (all spaces, used or not): VmRSS growth outside it and the other parts is native memory. */
  heapTotalMiB: number;
  externalMiB: number;
  /** RocksDB memtables + block cache (statehouse_storage_memory_bytes). */
  rocksdbMemMiB: number;
  /** Bytes allocated on disk by the data dir (st_blocks), MiB. */
  diskMiB: number;
  /** Daemon CPU over the last sample period, % of one core. */
  cpuPct: number;
  openConnections: number;
  openTransactions: number;
  openStreams: number;
  commitTs: number;
  horizonTs: number;
  compactedEvents: number;
  sstMiB: number;
  load1m: number;
  benchRssMiB: number;
  benchHeapMiB: number;
  pythonRssMiB: number;
}

type Outcomes = Record<string, Record<string, number>>;

export interface SoakReport {
  schema: "statehouse-soak/1";
  command: string;
  startedAt: string;
  finishedAt: string;
  /** Seconds the load actually ran (from the last connection to the stop). */
  loadSeconds: number;
  plan: SoakPlan;
  machine: MachineInfo;
  pythonSkipped: string | null;
  testClockLogged: boolean;
  samples: SoakSample[];
  rss: PlateauVerdict & { startMiB: number; endMiB: number; peakHwmMiB: number };
  disk: PlateauVerdict & { startMiB: number; endMiB: number };
  heap: PlateauVerdict & { startMiB: number; endMiB: number };
  /** V8's committed heap, and the anonymous memory outside it, its Buffers and RocksDB's (native: Node, nghttp2, glibc). */
  heapCommitted: PlateauVerdict & { startMiB: number; endMiB: number };
  native: PlateauVerdict & { startMiB: number; endMiB: number };
  steady: { connections: MinMax; openTransactions: MinMax; openStreams: MinMax };
  retention: { compactedEvents: number; horizonTsAtEnd: number; commitTsAtEnd: number };
  outcomes: { ts: Outcomes; python: Outcomes };
  totals: { ok: number; expected: number; unexpected: number; skipped: number };
  unexpected: { source: string; kind: string; code: string; message: string }[];
  skipped: Record<string, number>;
  watchEvents: { ts: number; python: number };
  windows: WindowSummary[];
  daemonErrorLines: string[];
  daemonExit: string;
}

interface MinMax {
  min: number;
  median: number;
  max: number;
}

interface CommitRef {
  /** When the call that made it started (its commit time is later). */
  at: number;
  ts: bigint;
  agentId: string;
  key: string;
}

/** The newest `capacity` commits this process made (for as-of reads and replays). */
class CommitRing {
  private readonly items: CommitRef[] = [];
  private next = 0;
  constructor(private readonly capacity: number) {}
  add(ref: CommitRef): void {
    if (this.items.length < this.capacity) this.items.push(ref);
    else this.items[this.next] = ref;
    this.next = (this.next + 1) % this.capacity;
  }
  /** Up to `n` of the newest. */
  newest(n: number): CommitRef[] {
    const out: CommitRef[] = [];
    for (let i = 1; i <= Math.min(n, this.items.length); i++) out.push(this.items[(this.next - i + this.items.length) % this.items.length] as CommitRef);
    return out;
  }
  /** Up to `n` of the oldest. */
  oldest(n: number): CommitRef[] {
    const out: CommitRef[] = [];
    const start = this.items.length < this.capacity ? 0 : this.next;
    for (let i = 0; i < Math.min(n, this.items.length); i++) out.push(this.items[(start + i) % this.items.length] as CommitRef);
    return out;
  }
}

function errorCode(error: unknown): { code: string; message: string } {
  if (error instanceof StatehouseError) return { code: error.code, message: error.message };
  if (error instanceof ConnectError) {
    const detail = error.findDetails(StatehouseErrorSchema)[0];
    return { code: detail === undefined ? `CONNECT_${Code[error.code]}` : (ErrorCode[detail.code] ?? "UNKNOWN"), message: error.rawMessage };
  }
  return { code: error instanceof Error ? error.name : "THROWN", message: String(error) };
}

function diskBytes(dir: string): number {
  let total = 0;
  const walk = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed meanwhile (a compacted SST, an old snapshot)
    }
    total += st.blocks * 512;
    if (st.isDirectory()) {
      let entries: string[] = [];
      try {
        entries = readdirSync(path);
      } catch {
        return;
      }
      for (const entry of entries) walk(join(path, entry));
    }
  };
  walk(dir);
  return total;
}

async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    for (const line of text.split("\n")) {
      if (line.startsWith("#") || line === "") continue;
      const space = line.lastIndexOf(" ");
      out.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
  } catch {
    // a missed scrape leaves the gauges NaN in this sample
  }
  return out;
}

const MIB = 1024 * 1024;
const kibToMiB = (kib: number): number => roundSig(kib / 1024, 4);
/** Anonymous memory that is neither V8's committed heap, nor Buffers, nor RocksDB's memtables and cache. */
const nativeMiB = (s: SoakSample): number => roundSig(s.rssAnonMiB - s.heapTotalMiB - s.externalMiB - s.rocksdbMemMiB, 4);
const rssParts = (m: { vmRssKiB: number; rssAnonKiB: number; rssFileKiB: number }): { rssMiB: number; rssAnonMiB: number; rssFileMiB: number } => ({
  rssMiB: kibToMiB(m.vmRssKiB),
  rssAnonMiB: kibToMiB(m.rssAnonKiB),
  rssFileMiB: kibToMiB(m.rssFileKiB),
});
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function minMax(values: readonly number[]): MinMax {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return { min: v[0] ?? Number.NaN, median: v[Math.floor(v.length / 2)] ?? Number.NaN, max: v[v.length - 1] ?? Number.NaN };
}

/** The TS half of the load: its own counters, merged into the report at the end. */
class TsLoad {
  readonly outcomes: Outcomes = {};
  readonly unexpected: SoakReport["unexpected"] = [];
  unexpectedTotal = 0;
  readonly skipped: Record<string, number> = {};
  watchEvents = 0;
  private readonly inFlight = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<void>>();
  private readonly watchAborts = new Set<AbortController>();
  private readonly commits = new CommitRing(50_000);
  private stopped = false;
  private seq = 0;
  private t0 = 0;

  constructor(
    private readonly plan: SoakPlan,
    private readonly sdk: Statehouse[],
    private readonly raw: Client<typeof StatehouseService>[],
    private readonly windows: LatencyWindows,
  ) {}

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(Math.random() * items.length)] as T;
  }

  private agent(): string {
    return `agent-${Math.floor(Math.random() * (Math.random() < 0.3 ? this.plan.hotAgents : this.plan.agents))}`;
  }

  private key(): string {
    return `k${Math.floor(Math.random() * this.plan.keysPerAgent)}`;
  }

  private record(kind: string, started: number, error: unknown): void {
    const end = performance.now();
    const code = error === null ? null : errorCode(error);
    const cls = classify(kind, code?.code ?? null);
    const byCode = (this.outcomes[kind] ??= {});
    const label = code?.code ?? "ok";
    byCode[label] = (byCode[label] ?? 0) + 1;
    this.windows.add(end - this.t0, `ts.${kind}`, end - started);
    if (cls === "unexpected") {
      this.unexpectedTotal++;
      if (this.unexpected.length < 20) this.unexpected.push({ source: "ts", kind, code: label, message: (code?.message ?? "succeeded but should have failed").slice(0, 300) });
    }
  }

  /** Runs one call and records its outcome; `bounded`: skipped when maxInFlightPerKind are in flight. */
  private run(kind: string, fn: () => Promise<string | undefined | void>, bounded = true): void {
    if (this.stopped) return;
    const n = this.inFlight.get(kind) ?? 0;
    if (bounded && n >= this.plan.maxInFlightPerKind) {
      this.skipped[`ts.${kind}`] = (this.skipped[`ts.${kind}`] ?? 0) + 1;
      return;
    }
    this.inFlight.set(kind, n + 1);
    const started = performance.now();
    const p = fn()
      .then(
        (skip) => {
          if (typeof skip === "string") this.skipped[`ts.${kind}:${skip}`] = (this.skipped[`ts.${kind}:${skip}`] ?? 0) + 1;
          else this.record(kind, started, null);
        },
        (error: unknown) => {
          if (!this.stopped) this.record(kind, started, error);
        },
      )
      .finally(() => {
        this.inFlight.set(kind, (this.inFlight.get(kind) ?? 1) - 1);
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  private at(delayMs: number, fn: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, delayMs);
    this.timers.add(timer);
  }

  private everyPoisson(kind: string, rate: number, fn: () => Promise<string | undefined | void>): void {
    if (rate <= 0) return;
    const arrive = (): void => {
      this.run(kind, fn);
      this.at(-Math.log(1 - Math.random()) * (1000 / rate), arrive);
    };
    this.at(-Math.log(1 - Math.random()) * (1000 / rate), arrive);
  }

  private value(): ReturnType<typeof benchValue> {
    return benchValue(++this.seq);
  }

  private recent(): CommitRef | undefined {
    const now = performance.now();
    const fresh = this.commits.newest(200).filter((c) => now - c.at < this.plan.daemon.retentionRealMs / 4);
    return fresh.length === 0 ? undefined : this.pick(fresh);
  }

  /**
   * The lowest commit_ts of the commits started within the last quarter of the retention
   * period: everything from it on is surely inside the retention window (the horizon is behind
   * every commit younger than the retention period). Undefined when there is none.
   */
  private recentFloor(): bigint | undefined {
    const now = performance.now();
    let floor: bigint | undefined;
    for (const c of this.commits.newest(500)) if (now - c.at < this.plan.daemon.retentionRealMs / 4 && (floor === undefined || c.ts < floor)) floor = c.ts;
    return floor;
  }

  private old(): CommitRef | undefined {
    const now = performance.now();
    const stale = this.commits.oldest(200).filter((c) => now - c.at > 3 * this.plan.daemon.retentionRealMs);
    return stale.length === 0 ? undefined : this.pick(stale);
  }

  private heldBegin(slot: number): void {
    const client = this.raw[slot % this.raw.length] as Client<typeof StatehouseService>;
    const { min, max } = this.plan.held.lifetimeMs;
    const lifetime = min + Math.random() * (max - min);
    const agentId = `held-ts-${slot % 500}`;
    this.run(
      "heldBegin",
      async () => {
        let txnId: string;
        try {
          txnId = (await client.beginTransaction({ timeoutMs: BigInt(Math.round(lifetime) + 120_000) })).txnId;
        } catch (error) {
          this.at(1000, () => this.heldBegin(slot)); // keep the pool full
          throw error;
        }
        this.at(lifetime, () => this.heldFinish(slot, client, txnId, agentId));
        for (let j = 0; j < this.plan.held.writesPerTxn; j++) {
          await client.write({ txnId, namespace: SOAK_NAMESPACE, agentId, key: `s${slot}-k${j}`, value: this.value() });
        }
      },
      false,
    );
  }

  private heldFinish(slot: number, client: Client<typeof StatehouseService>, txnId: string, agentId: string): void {
    const commit = Math.random() < this.plan.held.commitShare;
    this.run(
      commit ? "heldCommit" : "heldAbort",
      async () => {
        try {
          const at = performance.now();
          if (commit) this.commits.add({ at, ts: (await client.commit({ txnId })).commitTs, agentId, key: `s${slot}-k0` });
          else await client.abort({ txnId });
        } finally {
          this.heldBegin(slot);
        }
      },
      false,
    );
  }

  private expiring(): Promise<void> {
    const client = this.pick(this.raw);
    return (async () => {
      const { txnId } = await client.beginTransaction({ timeoutMs: BigInt(this.plan.expiring.timeoutMs) });
      await client.write({ txnId, namespace: SOAK_NAMESPACE, agentId: "expiring", key: "k", value: this.value() });
      this.at(this.plan.expiring.commitAfterMs, () => this.run("expire", async () => void (await client.commit({ txnId })), false));
    })();
  }

  private mixed(rates: MixedRates): void {
    this.everyPoisson("commit", rates.commit, async () => {
      const agentId = this.agent();
      const keys = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => this.key());
      const at = performance.now();
      const { commitTs } = await this.pick(this.sdk).transact(keys.map((key) => ({ agentId, key, value: this.value() })));
      this.commits.add({ at, ts: commitTs, agentId, key: keys[0] as string });
    });
    this.everyPoisson("readWrite", rates.readWrite, async () => {
      const agentId = this.agent();
      const key = this.key();
      const tx = await this.pick(this.sdk).beginTransaction();
      await tx.get(agentId, key);
      tx.write(agentId, key, this.value());
      const at = performance.now();
      this.commits.add({ at, ts: await tx.commit(), agentId, key });
    });
    this.everyPoisson("get", rates.get, async () => void (await this.pick(this.sdk).getState(this.agent(), this.key())));
    this.everyPoisson("asOfRecent", rates.asOfRecent, async () => {
      const ref = this.recent();
      if (ref === undefined) return "NO_COMMIT_YET";
      await this.pick(this.sdk).getStateAsOf(ref.agentId, ref.key, ref.ts);
      return undefined;
    });
    this.everyPoisson("asOfOld", rates.asOfOld, async () => {
      const ref = this.old();
      if (ref === undefined) return "NO_COMMIT_YET";
      await this.pick(this.sdk).getStateAsOf(ref.agentId, ref.key, ref.ts);
      return undefined;
    });
    this.everyPoisson("replayRecent", rates.replayRecent, async () => {
      const ref = this.recent();
      if (ref === undefined) return "NO_COMMIT_YET";
      for await (const _ of this.pick(this.sdk).replay(ref.agentId, { startTs: ref.ts, limit: 50 })) void _;
      return undefined;
    });
    this.everyPoisson("replayFromStart", rates.replayFromStart, async () => {
      for await (const _ of this.pick(this.sdk).replay(this.agent(), { startTs: 1n, limit: 20 })) void _;
    });
  }

  private watch(index: number): void {
    const client = this.sdk[index % this.sdk.length] as Statehouse;
    const agentId = `agent-${index % this.plan.hotAgents}`;
    let lastTs: bigint | null = null;
    const open = (): void => {
      if (this.stopped) return;
      const abort = new AbortController();
      this.watchAborts.add(abort);
      const restart = setTimeout(() => abort.abort(), this.plan.watches.restartMs);
      // Resume after the last event when it is surely inside the retention window, else live only.
      const floor = this.recentFloor();
      const resume = lastTs !== null && floor !== undefined && lastTs + 1n >= floor;
      const started = performance.now();
      void (async () => {
        try {
          for await (const event of client.watch(agentId, { signal: abort.signal, ...(resume && lastTs !== null ? { startTs: lastTs + 1n } : {}) })) {
            lastTs = event.commitTs;
            this.watchEvents++;
          }
        } catch (error) {
          // The restart timer (or the stop) cancels the stream: that is how a watch ends here.
          if (!(abort.signal.aborted && error instanceof StatehouseError && (error.code === "CANCELLED" || error.code === "CLOSED"))) {
            if (!this.stopped) this.record("watch", started, error);
            await sleep(1000);
          } else if (!this.stopped) this.record("watch", started, null);
        } finally {
          clearTimeout(restart);
          this.watchAborts.delete(abort);
        }
        open();
      })();
    };
    open();
  }

  private heartbeat(call: () => Promise<unknown>): void {
    const { min, max } = this.plan.heartbeatMs;
    const beat = (): void => {
      this.run("health", async () => void (await call()), false);
      this.at(min + Math.random() * (max - min), beat);
    };
    this.at(min + Math.random() * (max - min), beat);
  }

  start(t0: number): void {
    this.t0 = t0;
    for (let slot = 0; slot < this.plan.held.ts; slot++) this.at(Math.random() * this.plan.held.rampMs, () => this.heldBegin(slot));
    this.mixed(this.plan.rates.ts);
    this.everyPoisson("expireBegin", this.plan.expiring.tsPerSec, () => this.expiring());
    for (const client of this.sdk) this.heartbeat(() => client.health());
    for (const client of this.raw) this.heartbeat(() => client.health({}));
    for (let i = 0; i < this.plan.watches.ts; i++) this.watch(i);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const abort of this.watchAborts) abort.abort();
    await Promise.race([Promise.allSettled([...this.pending]), sleep(15_000)]);
  }
}

interface PythonProcess {
  child: ChildProcessByStdio<Writable, Readable, Readable>;
  connected: Promise<void>;
  exited: Promise<number | null>;
  last: Record<string, unknown> | null;
  /** The first unexpected errors it reported (each sample line carries the new ones). */
  unexpected: { kind: string; code: string; message: string }[];
  stderr: string[];
}

function startPython(plan: SoakPlan, url: string, worker: number, windows: LatencyWindows, since: () => number): PythonProcess {
  const rates = plan.rates.pythonPerProcess;
  const spec = {
    url,
    namespace: SOAK_NAMESPACE,
    seed: 1000 + worker,
    worker,
    clients: plan.connections.pythonClientsPerProcess,
    threads: 12,
    held: plan.held.pythonPerProcess,
    writes_per_txn: plan.held.writesPerTxn,
    lifetime_ms: plan.held.lifetimeMs,
    commit_share: plan.held.commitShare,
    expire_per_sec: plan.expiring.pythonPerSecPerProcess,
    expire_timeout_ms: plan.expiring.timeoutMs,
    expire_commit_after_ms: plan.expiring.commitAfterMs,
    rates,
    watches: plan.watches.pythonPerProcess,
    watch_restart_ms: plan.watches.restartMs,
    heartbeat_ms: plan.heartbeatMs,
    max_in_flight: plan.maxInFlightPerKind,
    agents: plan.agents,
    hot_agents: plan.hotAgents,
    keys_per_agent: plan.keysPerAgent,
    // it stops when the bench closes its stdin; the margin only bounds a lost parent
    duration_ms: plan.durationMs + 120_000,
    sample_ms: plan.sampleMs,
    ramp_ms: plan.held.rampMs,
    retention_real_ms: plan.daemon.retentionRealMs,
    expected_codes: EXPECTED_CODES,
  };
  const child = spawn(VENV_PYTHON, [SOAK_WORKER, JSON.stringify(spec)], { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
  const proc: PythonProcess = { child, connected: Promise.resolve(), exited: Promise.resolve(null), last: null, unexpected: [], stderr: [] };
  proc.exited = new Promise((resolve) => child.once("close", resolve));
  proc.connected = new Promise((resolve, reject) => {
    child.once("error", reject);
    void proc.exited.then((code) => reject(new Error(`python soak worker ${worker} exited with ${code} before connecting: ${proc.stderr.slice(-10).join("\n")}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        proc.stderr.push(line);
        return;
      }
      if (msg["type"] === "connected") resolve();
      if (msg["type"] === "sample" || msg["type"] === "done") {
        const at = since();
        for (const [kind, list] of Object.entries(msg["lat"] as Record<string, number[]>)) for (const ms of list) windows.add(at, `py.${kind}`, ms);
        proc.last = msg;
        for (const u of msg["unexpected"] as PythonProcess["unexpected"]) if (proc.unexpected.length < 20) proc.unexpected.push(u);
      }
    });
  });
  createInterface({ input: child.stderr }).on("line", (line) => {
    proc.stderr.push(line);
    if (proc.stderr.length > 200) proc.stderr.shift();
  });
  return proc;
}

export async function runSoakBench(options: SoakBenchOptions): Promise<{ markdown: string; files: string[]; report: SoakReport }> {
  const log = options.log ?? ((m: string) => console.error(`[bench] ${m}`));
  const plan = soakPlan(options.durationMs, options.scale ?? "full");
  const pythonSkipped = options.python === false ? "not asked for" : pythonUnavailable();
  if (pythonSkipped !== null) plan.connections.pythonProcesses = 0;
  mkdirSync(options.scratchDir, { recursive: true });
  const machine = describeMachine(options.scratchDir, loadAverage1m());
  const scratch = mkdtempSync(join(options.scratchDir, "statehouse-soak-"));
  const dataDir = join(scratch, "data");
  const startedAt = new Date().toISOString();
  const windows = new LatencyWindows(plan.windowMs);
  const samples: SoakSample[] = [];
  let daemon: RunningDaemon | null = null;
  const pythons: PythonProcess[] = [];
  const sdk: Statehouse[] = [];
  const sessions: Http2SessionManager[] = [];
  let report: SoakReport;
  try {
    daemon = await startDaemon({
      dataDir,
      workDir: scratch,
      name: "soak",
      env: {
        STATEHOUSE_TEST_CLOCK_RATE: String(plan.daemon.clockRate),
        STATEHOUSE_COMPACTION_INTERVAL_MS: String(plan.daemon.compactionIntervalMs),
        STATEHOUSE_IDEMPOTENCY_WINDOW_MS: String(plan.daemon.idempotencyWindowMs),
        STATEHOUSE_MAX_OPEN_TRANSACTIONS: String(plan.daemon.maxOpenTransactions),
      },
    });
    const running = daemon;
    const control = new Http2SessionManager(running.url);
    sessions.push(control);
    const retention = createClient(RetentionService, createGrpcTransport({ baseUrl: running.url, sessionManager: control }));
    const keep = { kind: RetentionKind.KEEP_DURATION, keepDurationMs: BigInt(plan.daemon.retentionKeepMs) };
    // The soak namespace and the default (which bounds the shared event log, daemon README "Retention").
    await retention.setRetentionPolicy({ namespace: SOAK_NAMESPACE, policy: keep });
    await retention.setRetentionPolicy({ namespace: "", policy: keep });
    log(`soak: daemon pid ${running.pid} at ${running.url}, clock x${plan.daemon.clockRate}, keep ${plan.daemon.retentionKeepMs} ms of test clock (${plan.daemon.retentionRealMs} ms real)`);

    let t0 = performance.now();
    const since = (): number => performance.now() - t0;
    for (let w = 0; w < plan.connections.pythonProcesses; w++) pythons.push(startPython(plan, running.url, w, windows, since));
    for (let i = 0; i < plan.connections.tsSdk; i++) sdk.push(new Statehouse({ url: running.url, namespace: SOAK_NAMESPACE }));
    const raw = Array.from({ length: plan.connections.tsRaw }, () => {
      const manager = new Http2SessionManager(running.url);
      sessions.push(manager);
      return createClient(StatehouseService, createGrpcTransport({ baseUrl: running.url, sessionManager: manager }));
    });
    await Promise.all([...sdk.map((c) => c.health()), ...raw.map((c) => c.health({}))]);
    await Promise.all(pythons.map((p) => p.connected));
    log(`soak: ${plannedConnections(plan)} connections open; load for ${options.durationMs / 1000} s`);

    const ts = new TsLoad(plan, sdk, raw, windows);
    t0 = performance.now();
    ts.start(t0);
    let lastCpu = processCpuMs(running.pid);
    let lastT = 0;
    const sample = async (): Promise<void> => {
      const t = since() / 1000;
      const m = await scrapeMetrics(running.url);
      const cpu = processCpuMs(running.pid);
      const g = (name: string): number => m.get(name) ?? Number.NaN;
      samples.push({
        t: roundSig(t, 5),
        ...rssParts(memoryOf(running.pid)),
        heapUsedMiB: roundSig(g("nodejs_heap_size_used_bytes") / MIB, 4),
        heapTotalMiB: roundSig(g("nodejs_heap_size_total_bytes") / MIB, 4),
        externalMiB: roundSig(g("nodejs_external_memory_bytes") / MIB, 4),
        rocksdbMemMiB: roundSig((g(`statehouse_storage_memory_bytes{part="memtables"}`) + g(`statehouse_storage_memory_bytes{part="block_cache"}`)) / MIB, 4),
        diskMiB: roundSig(diskBytes(dataDir) / MIB, 4),
        cpuPct: roundSig(t > lastT ? ((cpu - lastCpu) / 10 / (t - lastT)) : 0),
        openConnections: g("statehouse_open_connections"),
        openTransactions: g("statehouse_open_transactions"),
        openStreams: g("statehouse_open_streams"),
        commitTs: g("statehouse_commit_ts"),
        horizonTs: g(`statehouse_retention_horizon_commit_ts{namespace="${SOAK_NAMESPACE}"}`),
        compactedEvents: g("statehouse_retention_compacted_events_total"),
        sstMiB: roundSig(g("statehouse_rocksdb_sst_bytes") / MIB, 4),
        load1m: loadAverage1m(),
        benchRssMiB: roundSig(process.memoryUsage.rss() / MIB, 4),
        benchHeapMiB: roundSig(process.memoryUsage().heapUsed / MIB, 4),
        pythonRssMiB: roundSig(pythons.reduce((s, p) => s + Number(p.last?.["rss_kib"] ?? 0), 0) / 1024, 4),
      });
      lastCpu = cpu;
      lastT = t;
    };
    await sample();
    const end = t0 + options.durationMs;
    let lastLog = 0;
    while (performance.now() < end) {
      await sleep(Math.min(plan.sampleMs, Math.max(0, end - performance.now())));
      await sample();
      const s = samples.at(-1) as SoakSample;
      if (s.t - lastLog >= 60 || performance.now() >= end) {
        lastLog = s.t;
        log(`soak t=${Math.round(s.t)} s: rss ${s.rssMiB} MiB, disk ${s.diskMiB} MiB, conns ${s.openConnections}, txns ${s.openTransactions}, streams ${s.openStreams}, compacted ${s.compactedEvents}, unexpected ${ts.unexpectedTotal}+${pythons.reduce((n, p) => n + Number(p.last?.["unexpected_total"] ?? 0), 0)}, load ${s.load1m}`);
      }
    }
    const loadSeconds = since() / 1000;
    await ts.stop();
    for (const p of pythons) p.child.stdin.end();
    await Promise.race([Promise.all(pythons.map((p) => p.exited)), sleep(30_000)]);
    for (const p of pythons) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    const hwm = memoryOf(running.pid).vmHwmKiB;
    for (const c of sdk) c.close();
    for (const s of sessions) s.abort();
    sessions.length = 0;
    const exit = await running.stop();
    const daemonExit = exit.signal === null ? `exit code ${String(exit.code)}` : `killed by ${exit.signal}`;
    daemon = null;
    const daemonLog = readFileSync(join(scratch, "soak.log"), "utf8").split("\n");
    const daemonErrorLines = daemonLog.filter((line) => /"level":(50|60)/.test(line)).slice(0, 20);

    // ---- the report
    const pyOutcomes: Outcomes = {};
    const pyUnexpected: SoakReport["unexpected"] = [];
    const skipped: Record<string, number> = { ...ts.skipped };
    let pyWatch = 0;
    for (const p of pythons) {
      const last = p.last ?? {};
      for (const [kind, byCode] of Object.entries((last["outcomes"] ?? {}) as Outcomes)) {
        const into = (pyOutcomes[kind] ??= {});
        for (const [code, n] of Object.entries(byCode)) into[code] = (into[code] ?? 0) + n;
      }
      for (const [kind, n] of Object.entries((last["skipped"] ?? {}) as Record<string, number>)) skipped[`py.${kind}`] = (skipped[`py.${kind}`] ?? 0) + n;
      pyWatch += Number(last["watch_events"] ?? 0);
      if (last["type"] !== "done") pyUnexpected.push({ source: "py", kind: "process", code: "NO_DONE_LINE", message: p.stderr.slice(-5).join(" | ") });
    }
    // Unexpected Python errors: recounted from the outcome table (the worker only sends the first messages).
    const totals = { ok: 0, expected: 0, unexpected: 0, skipped: Object.values(skipped).reduce((a, b) => a + b, 0) };
    for (const table of [ts.outcomes, pyOutcomes]) {
      for (const [kind, byCode] of Object.entries(table)) {
        for (const [code, n] of Object.entries(byCode)) totals[classify(kind, code === "ok" ? null : code)] += n;
      }
    }
    totals.unexpected += pyUnexpected.length;
    const steadyFrom = Math.min(plan.held.rampMs / 1000 + 10, loadSeconds / 2);
    const steady = samples.filter((s) => s.t >= steadyFrom);
    const series = (f: (s: SoakSample) => number) => samples.map((s) => ({ t: s.t, v: f(s) }));
    const last = samples.at(-1) as SoakSample;
    report = {
      schema: "statehouse-soak/1",
      command: options.command,
      startedAt,
      finishedAt: new Date().toISOString(),
      loadSeconds: roundSig(loadSeconds, 5),
      plan,
      machine: { ...machine, loadAverage: { start: machine.loadAverage.start, end: loadAverage1m() } },
      pythonSkipped,
      testClockLogged: daemonLog.some((line) => line.includes("TEST CLOCK")),
      samples,
      rss: { ...plateau(series((s) => s.rssMiB), plan.windowMs / 1000), startMiB: samples[0]?.rssMiB ?? Number.NaN, endMiB: last.rssMiB, peakHwmMiB: kibToMiB(hwm) },
      disk: { ...plateau(series((s) => s.diskMiB), plan.windowMs / 1000), startMiB: samples[0]?.diskMiB ?? Number.NaN, endMiB: last.diskMiB },
      heap: { ...plateau(series((s) => s.heapUsedMiB), plan.windowMs / 1000), startMiB: samples[0]?.heapUsedMiB ?? Number.NaN, endMiB: last.heapUsedMiB },
      heapCommitted: { ...plateau(series((s) => s.heapTotalMiB), plan.windowMs / 1000), startMiB: samples[0]?.heapTotalMiB ?? Number.NaN, endMiB: last.heapTotalMiB },
      native: { ...plateau(series(nativeMiB), plan.windowMs / 1000), startMiB: samples[0] === undefined ? Number.NaN : nativeMiB(samples[0]), endMiB: nativeMiB(last) },
      steady: { connections: minMax(steady.map((s) => s.openConnections)), openTransactions: minMax(steady.map((s) => s.openTransactions)), openStreams: minMax(steady.map((s) => s.openStreams)) },
      retention: { compactedEvents: Math.max(0, ...samples.map((s) => s.compactedEvents).filter(Number.isFinite)), horizonTsAtEnd: last.horizonTs, commitTsAtEnd: last.commitTs },
      outcomes: { ts: ts.outcomes, python: pyOutcomes },
      totals,
      unexpected: [...ts.unexpected, ...pythons.flatMap((p) => p.unexpected.map((u) => ({ source: "py", ...u }))), ...pyUnexpected],
      skipped,
      watchEvents: { ts: ts.watchEvents, python: pyWatch },
      windows: windows.summary(loadSeconds * 1000),
      daemonErrorLines,
      daemonExit,
    };
  } finally {
    for (const p of pythons) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    for (const c of sdk) c.close();
    for (const s of sessions) s.abort();
    if (daemon !== null) await daemon.kill().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
  return writeSoakReport(report, options.outDir, options.name ?? "soak");
}

const fmt = (v: number): string => (!Number.isFinite(v) ? "–" : Math.abs(v) < 1e-6 ? "0" : String(roundSig(v)));

/** The kinds shown in the p99 table, in this order (others are in the JSON). */
const TABLE_KINDS = ["commit", "readWrite", "get", "asOfRecent", "asOfOld", "replayRecent", "heldBegin", "heldCommit", "heldAbort", "expire", "health"];

export function soakMarkdown(report: SoakReport, chartFile: string): string {
  const p = report.plan;
  const minutes = report.loadSeconds / 60;
  const dur = minutes >= 2 ? `${roundSig(minutes, 3)} min` : `${roundSig(report.loadSeconds, 3)} s`;
  const verdict = (v: PlateauVerdict): string => (v.plateau ? "**plateau**" : "**still rising**");
  const peaks = (v: PlateauVerdict): string => v.windowPeaks.map(fmt).join(" → ");
  const pct = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${fmt(v * 100)}%` : "–");
  const lines: string[] = [
    `# Soak: ${dur} of mixed load, ${plannedConnections(p)} connections, ${plannedHeldTransactions(p)} open transactions`,
    "",
    `\`${report.command}\` — ${report.startedAt} → ${report.finishedAt}; the load ran **${fmt(report.loadSeconds)} s** (${dur}).`,
    `Machine: ${report.machine.nproc} × ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, ${report.machine.disk}, ${report.machine.os}, Node ${report.machine.node}. 1-minute load average ${report.machine.loadAverage.start} at the start, ${report.machine.loadAverage.end} at the end (other work shares the 2 cores).`,
    report.pythonSkipped === null ? "" : `Python SDK processes skipped: ${report.pythonSkipped}.`,
    "",
    "## The load",
    "",
    `- **Connections**: ${p.connections.tsSdk} TS SDK clients (\`new Statehouse()\`, Connect over HTTP/2), ${p.connections.tsRaw} connect-node gRPC clients of the generated service, ${p.connections.pythonProcesses} Python processes × ${p.connections.pythonClientsPerProcess} Python SDK clients (\`Statehouse(protocol="grpc")\`); one HTTP/2 connection each, all opened before the load. Most are idle: every connection calls \`Health\` every ${p.heartbeatMs.min / 1000}–${p.heartbeatMs.max / 1000} s (the daemon closes connections idle for 5 min). Daemon gauge after the ramp: ${fmt(report.steady.connections.min)}–${fmt(report.steady.connections.max)} open connections.`,
    `- **Open transactions**: ${p.held.ts} (TS, connect-node) + ${p.connections.pythonProcesses} × ${p.held.pythonPerProcess} (Python) server transactions held at all times: BeginTransaction + ${p.held.writesPerTxn} staged Writes, ramped up over the first minute, each held ${p.held.lifetimeMs.min / 1000}–${p.held.lifetimeMs.max / 1000} s (uniform), then committed (${p.held.commitShare * 100}%) or aborted and replaced by a new one on the same connection. Daemon gauge after the ramp: ${fmt(report.steady.openTransactions.min)}–${fmt(report.steady.openTransactions.max)} (median ${fmt(report.steady.openTransactions.median)}; STATEHOUSE_MAX_OPEN_TRANSACTIONS=${p.daemon.maxOpenTransactions}, default 10,000). Expiring on purpose: ${p.expiring.tsPerSec}/s (TS) + ${p.expiring.pythonPerSecPerProcess}/s per Python process begun with a ${p.expiring.timeoutMs} ms timeout and committed after ${p.expiring.commitAfterMs} ms (TXN_EXPIRED asked for).`,
    `- **Mixed open-loop load** (Poisson arrivals, ops/s; TS SDK | per Python process): commit (1–3 writes) ${p.rates.ts.commit} | ${p.rates.pythonPerProcess.commit}; read-write transaction (get + write, optimistic) ${p.rates.ts.readWrite} | ${p.rates.pythonPerProcess.readWrite}; get ${p.rates.ts.get} | ${p.rates.pythonPerProcess.get}; as-of read of a recent commit ${p.rates.ts.asOfRecent} | ${p.rates.pythonPerProcess.asOfRecent}; as-of read of a commit older than 3 retention periods ${p.rates.ts.asOfOld} | ${p.rates.pythonPerProcess.asOfOld}; replay from a recent commit (≤ 50 events) ${p.rates.ts.replayRecent} | ${p.rates.pythonPerProcess.replayRecent}; replay from commit_ts 1 ${p.rates.ts.replayFromStart} | ${p.rates.pythonPerProcess.replayFromStart}. ${p.agents} agents × ${p.keysPerAgent} keys, 30% of the calls on ${p.hotAgents} hot agents; 200-byte values. At most ${p.maxInFlightPerKind} calls of a kind in flight per process; arrivals beyond are counted as skipped.`,
    `- **Watches**: ${p.watches.ts} (TS SDK) + ${p.connections.pythonProcesses} × ${p.watches.pythonPerProcess} (Python SDK) Watch streams on the hot agents, each reopened every ${p.watches.restartMs / 1000} s from its last event. Events received: ${report.watchEvents.ts} (TS), ${report.watchEvents.python} (Python). Daemon gauge: ${fmt(report.steady.openStreams.min)}–${fmt(report.steady.openStreams.max)} open streams.`,
    `- **Retention with a test clock**: \`STATEHOUSE_TEST_CLOCK_RATE=${p.daemon.clockRate}\` (the engine's clock runs ${p.daemon.clockRate}× real time; the daemon logged its TEST CLOCK warning: ${report.testClockLogged ? "yes" : "**no**"}), keep-duration ${p.daemon.retentionKeepMs / 60_000} min of test clock (= ${p.daemon.retentionRealMs / 1000} s real) on \`${SOAK_NAMESPACE}\` and as the default, compaction every ${p.daemon.compactionIntervalMs / 1000} s, idempotency window ${p.daemon.idempotencyWindowMs / 60_000} min of test clock. Events compacted: **${report.retention.compactedEvents}**; at the end the horizon was commit_ts ${fmt(report.retention.horizonTsAtEnd)} of ${fmt(report.retention.commitTsAtEnd)}.`,
    "",
    "## Memory and disk",
    "",
    `![RSS, disk, connections and transactions over time](${chartFile})`,
    "",
    `| | start | end | peak per ${p.windowMs >= 60_000 ? `${p.windowMs / 60_000}-min` : `${p.windowMs / 1000}-s`} window | last peak vs the one before | slope, second half | verdict |`,
    "|---|---|---|---|---|---|---|",
    `| daemon RSS (VmRSS, MiB; peak VmHWM ${fmt(report.rss.peakHwmMiB)}) | ${fmt(report.rss.startMiB)} | ${fmt(report.rss.endMiB)} | ${peaks(report.rss)} | ${pct(report.rss.lastPeakRise)} | ${fmt(report.rss.slopePer10Min)} MiB / 10 min | ${verdict(report.rss)} |`,
    `| daemon V8 heap used (MiB) | ${fmt(report.heap.startMiB)} | ${fmt(report.heap.endMiB)} | ${peaks(report.heap)} | ${pct(report.heap.lastPeakRise)} | ${fmt(report.heap.slopePer10Min)} MiB / 10 min | ${verdict(report.heap)} |`,
    `| daemon V8 heap committed (MiB) | ${fmt(report.heapCommitted.startMiB)} | ${fmt(report.heapCommitted.endMiB)} | ${peaks(report.heapCommitted)} | ${pct(report.heapCommitted.lastPeakRise)} | ${fmt(report.heapCommitted.slopePer10Min)} MiB / 10 min | ${verdict(report.heapCommitted)} |`,
    `| daemon native memory: RssAnon − V8 committed − Buffers − RocksDB (MiB) | ${fmt(report.native.startMiB)} | ${fmt(report.native.endMiB)} | ${peaks(report.native)} | ${pct(report.native.lastPeakRise)} | ${fmt(report.native.slopePer10Min)} MiB / 10 min | ${verdict(report.native)} |`,
    `| data dir on disk (MiB allocated) | ${fmt(report.disk.startMiB)} | ${fmt(report.disk.endMiB)} | ${peaks(report.disk)} | ${pct(report.disk.lastPeakRise)} | ${fmt(report.disk.slopePer10Min)} MiB / 10 min | ${verdict(report.disk)} |`,
    "",
    "Plateau = the last window's peak is less than 5% above the peak of the window before (peaks, because the disk is a sawtooth — RocksDB frees space in steps as it compacts — and RSS moves with the GC; a leak raises every peak). The first windows hold the ramp-up and history filling up to the retention horizon. The slope is a least-squares line through the second half of the samples, for information.",
    "",
    "## Errors",
    "",
    `Calls: **${report.totals.ok}** succeeded, **${report.totals.expected}** failed as the load asks for, **${report.totals.unexpected}** unexpected errors; ${report.totals.skipped} arrivals skipped.`,
    "",
    "| source | kind | outcomes |",
    "|---|---|---|",
    ...(["ts", "python"] as const).flatMap((source) =>
      Object.entries(report.outcomes[source])
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([kind, byCode]) => `| ${source} | ${kind} | ${Object.entries(byCode).map(([code, n]) => `${code} ${n}${code === "ok" ? "" : classify(kind, code) === "expected" ? " (asked for)" : " (**unexpected**)"}`).join(", ")} |`),
    ),
    "",
    `Asked for: ${Object.entries(EXPECTED_CODES).map(([kind, codes]) => `${kind} → ${codes.join("/")}`).join("; ")} (\`expire\` succeeding would be unexpected).`,
    report.unexpected.length === 0 ? "" : ["", "First unexpected errors:", "", ...report.unexpected.map((u) => `- ${u.source} ${u.kind} ${u.code}: ${u.message.replaceAll("|", "\\|")}`)].join("\n"),
    report.daemonErrorLines.length === 0 ? "Daemon log: no error or fatal lines." : `Daemon log: ${report.daemonErrorLines.length} error/fatal line(s) (in the JSON).`,
    `Daemon stop after the load: ${report.daemonExit}.`,
    Object.keys(report.skipped).length === 0 ? "" : `Skipped arrivals: ${Object.entries(report.skipped).map(([k, n]) => `${k} ${n}`).join(", ")} (\`:NO_COMMIT_YET\`: no commit old or recent enough to read yet).`,
    "",
    `## p99 latency per ${p.windowMs >= 60_000 ? `${p.windowMs / 60_000}-minute` : `${p.windowMs / 1000}-s`} window (ms; calls in the window)`,
    "",
  ];
  const shown = (source: "ts" | "py") => TABLE_KINDS.map((k) => `${source}.${k}`).filter((k) => report.windows.some((w) => w.kinds[k] !== undefined));
  const kinds = [...shown("ts"), ...shown("py")];
  const label = (w: WindowSummary): string => (p.windowMs >= 60_000 ? `${roundSig(w.startS / 60)}–${roundSig(w.endS / 60)} min` : `${roundSig(w.startS)}–${roundSig(w.endS)} s`);
  lines.push(`| kind | ${report.windows.map(label).join(" | ")} |`, `|---|${report.windows.map(() => "---").join("|")}|`);
  for (const kind of kinds) {
    lines.push(`| ${kind} | ${report.windows.map((w) => (w.kinds[kind] === undefined ? "–" : `${fmt(w.kinds[kind].p99Ms)} (${w.kinds[kind].count})`)).join(" | ")} |`);
  }
  lines.push("", "`ts.*` = the TS side (SDK for the mixed load, connect-node gRPC for held/expiring transactions), `py.*` = the Python SDK processes; `heldBegin` is BeginTransaction plus its staged Writes, `health` the idle connections' heartbeat. Every sample (every " + `${p.sampleMs / 1000} s: RSS, disk, CPU, gauges, load average) is in the JSON.`, "");
  return lines.filter((line, i, all) => !(line === "" && all[i - 1] === "")).join("\n");
}

export function writeSoakReport(report: SoakReport, outDir: string, name: string): { markdown: string; files: string[]; report: SoakReport } {
  mkdirSync(outDir, { recursive: true });
  const files = [join(outDir, `${name}.json`), join(outDir, `${name}.md`), join(outDir, `${name}.svg`)];
  const s = report.samples;
  const svg = soakChartSvg(
    `Soak ${report.startedAt.slice(0, 10)}: ${roundSig(report.loadSeconds / 60, 3)} min`,
    [
      {
        title: "daemon memory",
        unit: "MiB",
        series: [
          { label: "RSS (VmRSS)", color: "#2563eb", points: s.map((x) => ({ t: x.t, v: x.rssMiB })) },
          { label: "V8 heap used", color: "#db2777", points: s.map((x) => ({ t: x.t, v: x.heapUsedMiB })) },
          { label: "RocksDB memtables + cache", color: "#65a30d", points: s.map((x) => ({ t: x.t, v: x.rocksdbMemMiB })) },
        ],
      },
      {
        title: "data dir on disk",
        unit: "MiB",
        series: [
          { label: "allocated (all files)", color: "#ea580c", points: s.map((x) => ({ t: x.t, v: x.diskMiB })) },
          { label: "RocksDB SST files", color: "#16a34a", points: s.map((x) => ({ t: x.t, v: x.sstMiB })) },
        ],
      },
      {
        title: "open on the daemon",
        unit: "count",
        series: [
          { label: "transactions", color: "#7c3aed", points: s.map((x) => ({ t: x.t, v: x.openTransactions })) },
          { label: "connections", color: "#0891b2", points: s.map((x) => ({ t: x.t, v: x.openConnections })) },
        ],
      },
    ],
    report.loadSeconds,
  );
  const markdown = soakMarkdown(report, `${name}.svg`);
  writeFileSync(files[0] as string, `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(files[1] as string, markdown);
  writeFileSync(files[2] as string, svg);
  return { markdown, files, report };
}
