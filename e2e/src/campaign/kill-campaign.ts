// The kill campaign: concurrent Python and TypeScript writers run multi-key
// transactions and reads while the daemon is SIGKILLed at random instants
// (from outside, or by a randomly armed failpoint: before/after the commit
// sync, mid-snapshot, mid-recovery) and restarted on the same data dir.
// After every restart, with the writers paused, an independent reader checks
// every acknowledged commit is present, no transaction is partial, replay
// folds to the served state for every agent, versions are contiguous and
// commit_ts never goes back. The whole history of commits and reads is then
// checked for linearizability.
import { setTimeout as sleep } from "node:timers/promises";
import { compareWithState, foldEvents } from "../check/agent-history.js";
import { CommitLedger, type LedgerReport } from "../check/commit-ledger.js";
import { checkLinearizable, type HistoryOp, type KeyVersion, type LinearizabilityReport } from "../check/linearizability.js";
import type { EventView, KeyRef, OpSpec, StateView } from "../drivers/protocol.js";
import { DaemonExitedError, DaemonHarness, type DaemonRun } from "../harness/daemon-harness.js";
import { DriverProcess, type SdkName } from "../harness/driver-process.js";
import { Oracle } from "../harness/oracle.js";
import { Random } from "./random.js";

export interface KillCampaignOptions {
  /** How many SIGKILLs (external, failpoint or during recovery) to inflict. */
  kills: number;
  seed: number;
  /** One writer process per entry. */
  writers: readonly SdkName[];
  agents?: number;
  keysPerAgent?: number;
  /** STATEHOUSE_SNAPSHOT_INTERVAL of the daemon (small, so snapshots happen under load). */
  snapshotInterval?: number;
  /** Share of cycles whose daemon run has a failpoint armed. */
  failpointShare?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Extra daemon environment (e.g. STATEHOUSE_FSYNC_ON_COMMIT=0 to show what a power cut then loses). */
  env?: Record<string, string>;
  /**
   * Power cuts instead of plain SIGKILLs: the daemon's data dir is on this filesystem, and
   * after every kill (external, failpoint, during recovery) `cut()` drops what was not fsynced.
   */
  powerLoss?: { dataDir: string; cut(): Promise<void> };
}

export interface Distribution {
  count: number;
  min: number;
  median: number;
  max: number;
}

export interface CampaignTotals {
  seed: number;
  kills: number;
  externalKills: number;
  /** Kills by a failpoint while serving, by failpoint name. */
  failpointKills: Record<string, number>;
  /** Restarts that were themselves killed during recovery. */
  recoveryKills: number;
  restarts: number;
  verifications: number;
  acknowledged: number;
  lost: number;
  partial: number;
  phantom: number;
  /** Commits interrupted by a kill that turned out applied / not applied. */
  unknownApplied: number;
  unknownAbsent: number;
  /** Transactions that failed for sure (before their commit was sent, or conflicts). */
  failed: number;
  conflicts: number;
  reads: number;
  errorsByClass: Record<string, number>;
  /** Errors that are neither connection errors nor conflicts. */
  unexpectedErrors: string[];
  /** Spawn to ready, as the harness measured it (process start + recovery + listen). */
  recoveryMs: Distribution;
  /** Recovery as the daemon measured it (open storage, load snapshot, replay). */
  engineRecoveryMs: Distribution;
  eventsReplayed: number;
  linearizability: LinearizabilityReport;
  problems: string[];
  problemCount: number;
  durationMs: number;
}

/** Totals before anything happened. */
export function emptyTotals(seed: number): CampaignTotals {
  return {
    seed,
    kills: 0,
    externalKills: 0,
    failpointKills: {},
    recoveryKills: 0,
    restarts: 0,
    verifications: 0,
    acknowledged: 0,
    lost: 0,
    partial: 0,
    phantom: 0,
    unknownApplied: 0,
    unknownAbsent: 0,
    failed: 0,
    conflicts: 0,
    reads: 0,
    errorsByClass: {},
    unexpectedErrors: [],
    recoveryMs: distribution([]),
    engineRecoveryMs: distribution([]),
    eventsReplayed: 0,
    linearizability: { checked: 0, commits: 0, reads: 0, violations: [] },
    problems: [],
    problemCount: 0,
    durationMs: 0,
  };}

/**
 * The end of a campaign: the ledger's counts into the totals, interrupted commits that turned
 * out applied into the history (without an end), and the linearizability check of the whole
 * history against every key's versions in the replayed events.
 */
export function finishCampaign(shared: Shared, report: LedgerReport, eventsByAgent: ReadonlyMap<string, readonly EventView[]>): void {
  const { totals } = shared;
  Object.assign(totals, {
    acknowledged: report.acked,
    lost: report.lost,
    partial: report.partial,
    phantom: report.phantom,
    unknownApplied: report.unknownApplied,
    unknownAbsent: report.unknownAbsent,
    failed: [...shared.ledger.all()].filter((record) => record.status === "failed").length,
  });
  for (const interrupted of shared.interrupted) {
    const commitTs = report.found.get(interrupted.uid);
    if (commitTs !== undefined) {
      shared.history.push({ kind: "commit", client: interrupted.client, t0: interrupted.t0, t1: null, commitTs, label: interrupted.uid });
    }
  }
  const versions = new Map<string, KeyVersion[]>();
  for (const [agent, events] of eventsByAgent) {
    for (const event of events) {
      for (const op of event.operations) {
        const id = `${agent}/${op.key}`;
        let list = versions.get(id);
        if (list === undefined) versions.set(id, (list = []));
        list.push({ version: op.version, commitTs: event.commit_ts, value: op.value });
      }
    }
  }
  totals.linearizability = checkLinearizable(shared.history, versions);
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, min: sorted[0] ?? 0, median: at(0.5), max: sorted.at(-1) ?? 0 };
}

/** Lets writers run while open; `closeAndDrain` waits until every writer finished its current operation. */
export class Gate {
  private opened = false;
  private waiters: Array<() => void> = [];

  get isOpen(): boolean {
    return this.opened;
  }

  open(): void {
    this.opened = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  close(): void {
    this.opened = false;
  }

  waitOpen(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface Shared {
  gate: Gate;
  stopped: boolean;
  ledger: CommitLedger;
  history: HistoryOp[];
  /** Commits whose reply was lost: added to the history if they turn out applied. */
  interrupted: Array<{ uid: string; client: string; t0: bigint }>;
  universe: KeyRef[];
  /** commit_ts the current daemon run recovered to: every new commit must be above it. */
  recoveredTs: number;
  totals: CampaignTotals;
  problem(message: string): void;
  /**
   * Errors that an outage this campaign inflicts can cause besides ConnectionError (the cluster
   * campaign's database kills: STORAGE_ERROR); a commit failing with one has an unknown outcome.
   */
  outageError?: (error: { class: string; code: string | null }) => boolean;
}

export class CampaignWriter {
  current: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(
    readonly name: string,
    private readonly driver: DriverProcess,
    private readonly random: Random,
    private readonly shared: Shared,
  ) {}

  async loop(): Promise<void> {
    const { gate } = this.shared;
    while (!this.shared.stopped) {
      if (!gate.isOpen) {
        await gate.waitOpen();
        continue;
      }
      // Synchronously after the gate check, so a closing gate always sees this operation.
      this.current = this.random.chance(0.35) ? this.read() : this.transact();
      await this.current;
    }
  }

  private countError(name: string): void {
    const errors = this.shared.totals.errorsByClass;
    errors[name] = (errors[name] ?? 0) + 1;
  }

  private async read(): Promise<void> {
    const target = this.random.pick(this.shared.universe);
    const outcome = await this.driver.call({ op: "get", agent: target.agent, key: target.key });
    if (!outcome.ok) {
      this.countError(outcome.error.class);
      if (outcome.error.class !== "ConnectionError" && this.shared.outageError?.(outcome.error) !== true) {
        this.shared.totals.unexpectedErrors.push(`${this.name} get: ${outcome.error.class} ${outcome.error.code}: ${outcome.error.message}`);
      }
      await sleep(this.random.int(10, 30));
      return;
    }
    this.shared.totals.reads++;
    this.shared.history.push({
      kind: "read",
      client: this.name,
      t0: outcome.t0,
      t1: outcome.t1,
      key: `${target.agent}/${target.key}`,
      exists: outcome.result.exists,
      value: outcome.result.value,
      version: outcome.result.version,
      commitTs: outcome.result.commit_ts,
    });
  }

  private async transact(): Promise<void> {
    const { ledger, totals } = this.shared;
    const uid = `${this.name}-${++this.seq}`;
    const targets = this.random.sample(this.shared.universe, this.random.int(2, 4));
    const ops: OpSpec[] = targets.map((target, index) => ({
      ...target,
      value: index > 0 && this.random.chance(0.12) ? null : { uid, w: this.name, n: this.seq },
    }));
    const gets = this.random.chance(0.15) ? targets.slice(0, 1) : [];
    const record = ledger.begin(uid, this.name, ops);
    const outcome = await this.driver.call({ op: "txn", ops, gets });
    if (outcome.ok) {
      record.status = "acked";
      record.commitTs = outcome.result.commit_ts;
      if (outcome.result.commit_ts <= this.shared.recoveredTs) {
        this.shared.problem(
          `commit_ts went back: ${uid} acknowledged with ${outcome.result.commit_ts} after recovery to ${this.shared.recoveredTs}`,
        );
      }
      this.shared.history.push({ kind: "commit", client: this.name, t0: outcome.t0, t1: outcome.t1, commitTs: outcome.result.commit_ts, label: uid });
      return;
    }
    const error = outcome.error;
    record.error = error;
    this.countError(error.class);
    if (error.class === "ConflictError") {
      record.status = "failed";
      totals.conflicts++;
      return;
    }
    if (error.class === "ConnectionError") {
      // Only a commit call that was sent can have applied.
      record.status = error.stage === "commit" ? "unknown" : "failed";
      if (record.status === "unknown") this.shared.interrupted.push({ uid, client: this.name, t0: outcome.t0 });
    } else if (error.class === "TransactionError" && error.code === "TXN_NOT_FOUND") {
      record.status = "failed";
    } else if (this.shared.outageError?.(error) === true) {
      // The database went away mid-commit: applied or not, the log will tell.
      record.status = "unknown";
      this.shared.interrupted.push({ uid, client: this.name, t0: outcome.t0 });
    } else {
      record.status = "unknown";
      totals.unexpectedErrors.push(`${this.name} txn at ${error.stage}: ${error.class} ${error.code}: ${error.message}`);
    }
    await sleep(this.random.int(10, 30));
  }
}

const COMMIT_FAILPOINTS = ["commit:before-sync", "commit:after-sync-before-reply"] as const;

export async function runKillCampaign(options: KillCampaignOptions): Promise<CampaignTotals> {
  const started = performance.now();
  const log = options.log ?? ((): void => undefined);
  const random = new Random(options.seed);
  const agents = Array.from({ length: options.agents ?? 4 }, (_, index) => `campaign-${index}`);
  const keys = Array.from({ length: options.keysPerAgent ?? 5 }, (_, index) => `k${index}`);
  const universe = agents.flatMap((agent) => keys.map((key) => ({ agent, key })));
  const failpointShare = options.failpointShare ?? 0.4;
  const totals = emptyTotals(options.seed);

  const shared: Shared = {
    gate: new Gate(),
    stopped: false,
    ledger: new CommitLedger(),
    history: [],
    interrupted: [],
    universe,
    recoveredTs: 0,
    totals,
    problem(message) {
      totals.problemCount++;
      if (totals.problems.length < 50) totals.problems.push(message);
    },
  };
  const recoveryMs: number[] = [];
  const engineRecoveryMs: number[] = [];

  const harness = await DaemonHarness.create({
    name: "campaign",
    env: { STATEHOUSE_SNAPSHOT_INTERVAL: String(options.snapshotInterval ?? 25), ...options.env },
    ...(options.powerLoss === undefined ? {} : { dataDir: options.powerLoss.dataDir }),
  });
  /** After the daemon died: with a power-loss filesystem, the power goes too. */
  const crashed = async (): Promise<void> => {
    await options.powerLoss?.cut();
  };
  const drivers: DriverProcess[] = [];
  const writers: CampaignWriter[] = [];
  const loops: Array<Promise<void>> = [];
  // Per-agent replay cache for incremental checks in long campaigns.
  const cache = new Map<string, EventView[]>(agents.map((agent) => [agent, []]));
  const fullEvery = options.kills <= 100 ? 1 : 10;
  let lastLedger: LedgerReport | undefined;

  const noteRecovery = (run: DaemonRun): void => {
    totals.restarts++;
    if (run.recoveryMs !== undefined) recoveryMs.push(run.recoveryMs);
    const facts = run.recovery();
    if (facts.durationMs !== undefined) engineRecoveryMs.push(facts.durationMs);
    totals.eventsReplayed += facts.eventsReplayed ?? 0;
  };

  /** `afterRestart`: the current run has just recovered and nothing was committed since. */
  const verify = async (full: boolean, afterRestart: boolean): Promise<void> => {
    totals.verifications++;
    const run = harness.current;
    const ready = run?.readyInfo;
    if (ready === undefined) throw new Error("verify without a ready daemon");
    const oracle = new Oracle(harness.url);
    try {
      const eventsByAgent = new Map<string, EventView[]>();
      let maxEventTs = 0;
      for (const agent of agents) {
        const cached = cache.get(agent) ?? [];
        const last = cached.at(-1)?.commit_ts ?? 0;
        const events = full ? await oracle.replay(agent) : [...cached, ...(await oracle.replay(agent, last + 1))];
        cache.set(agent, events);
        eventsByAgent.set(agent, events);
        const folded = foldEvents(agent, events);
        maxEventTs = Math.max(maxEventTs, folded.maxCommitTs);
        const observed = new Map<string, StateView>();
        for (const key of keys) observed.set(key, await oracle.getState(agent, key));
        const listed = await oracle.listKeys(agent);
        for (const message of [...folded.problems, ...compareWithState(agent, folded, observed, listed)]) shared.problem(message);
      }
      const report = shared.ledger.verify(eventsByAgent);
      lastLedger = report;
      for (const message of report.problems) shared.problem(message);
      if (!afterRestart) return;
      const recovered = Number(ready.commitTs);
      let maxAcked = 0;
      for (const record of shared.ledger.all()) {
        if (record.status === "acked") maxAcked = Math.max(maxAcked, record.commitTs ?? 0);
      }
      if (recovered < maxAcked) shared.problem(`recovered commit_ts ${recovered} is below the acknowledged ${maxAcked}`);
      if (recovered < shared.recoveredTs) shared.problem(`commit_ts went back across a restart: ${shared.recoveredTs} -> ${recovered}`);
      if (maxEventTs > recovered) shared.problem(`an event has commit_ts ${maxEventTs} above the recovered ${recovered}`);
      shared.recoveredTs = recovered;
    } finally {
      oracle.close();
    }
  };

  /** The failpoint of the next run, or undefined for a run that will be killed from outside. */
  const nextFailpoint = (): string | undefined => {
    if (!random.chance(failpointShare)) return undefined;
    const kind = random.pick(["commit", "commit", "snapshot", "recovery"] as const);
    if (kind === "commit") return `${random.pick(COMMIT_FAILPOINTS)}@${random.int(1, 40)}`;
    if (kind === "snapshot") return `snapshot:mid-write@${random.int(1, 2)}`;
    return `recovery:mid-replay@${random.int(1, 5)}`;
  };

  const restart = async (): Promise<void> => {
    // The last run serves the final round of writes and checks: no failpoint there.
    let failpoint = totals.kills < options.kills ? nextFailpoint() : undefined;
    if (failpoint?.startsWith("recovery:") === true) {
      try {
        noteRecovery(await harness.start({ failpoint }));
        // Fewer events to replay than the failpoint's count: it never fired.
        return;
      } catch (error) {
        if (!(error instanceof DaemonExitedError) || error.exit.signal !== "SIGKILL") throw error;
        await crashed();
        totals.kills++;
        totals.recoveryKills++;
      }
      failpoint = undefined;
    }
    try {
      noteRecovery(await harness.start(failpoint === undefined ? {} : { failpoint }));
    } catch (error) {
      // Recovery itself failed after a plain SIGKILL: the worst finding; keep everything.
      const dir = harness.keepForPostMortem();
      throw new Error(`restart after kill ${totals.kills} failed; data dir and logs kept in ${dir}\n${(error as Error).message}`, { cause: error });
    }
  };

  try {
    await harness.start();
    for (const [index, sdk] of options.writers.entries()) {
      const driver = await DriverProcess.spawn(sdk, { url: harness.url, name: `${sdk}-writer-${index}` });
      drivers.push(driver);
      writers.push(new CampaignWriter(`${sdk}${index}`, driver, new Random(options.seed + 7919 * (index + 1)), shared));
    }
    loops.push(...writers.map((writer) => writer.loop()));
    const progressEvery = Math.max(1, Math.round(options.kills / 10));
    let cycle = 0;
    while (totals.kills < options.kills) {
      cycle++;
      const run = harness.current;
      if (run === undefined) throw new Error("no daemon run");
      shared.gate.open();
      if (run.failpoint !== undefined) {
        const fired = await Promise.race([run.exited.then(() => true), sleep(5_000).then(() => false)]);
        if (fired) {
          const name = run.failpoint.split("@")[0] ?? run.failpoint;
          totals.failpointKills[name] = (totals.failpointKills[name] ?? 0) + 1;
          if (run.exitInfo?.signal !== "SIGKILL") shared.problem(`${run.describe()} exited with ${JSON.stringify(run.exitInfo)}`);
        } else {
          await run.kill();
          totals.externalKills++;
        }
      } else {
        await sleep(random.int(20, 400));
        await run.kill();
        totals.externalKills++;
      }
      await crashed();
      totals.kills++;
      shared.gate.close();
      await Promise.all(writers.map((writer) => writer.current));
      await restart();
      await verify(cycle % fullEvery === 0, true);
      if (cycle % progressEvery === 0) {
        log(
          `[campaign] kills ${totals.kills}/${options.kills}, acknowledged ${lastLedger?.acked ?? 0}, lost ${lastLedger?.lost ?? 0}, partial ${lastLedger?.partial ?? 0}, problems ${totals.problemCount}`,
        );
      }
    }
    // Let the writers run once more on the last run, then stop them and check everything.
    shared.gate.open();
    await sleep(200);
    shared.stopped = true;
    shared.gate.close();
    await Promise.all(writers.map((writer) => writer.current));
    shared.gate.open();
    await Promise.all(loops);
    await verify(true, false);

    const report = lastLedger;
    if (report === undefined) throw new Error("no verification ran");
    finishCampaign(shared, report, cache);
  } finally {
    shared.stopped = true;
    shared.gate.open();
    await Promise.all(drivers.map((driver) => driver.close()));
    await harness.dispose();
  }
  totals.recoveryMs = distribution(recoveryMs);
  totals.engineRecoveryMs = distribution(engineRecoveryMs);
  totals.durationMs = performance.now() - started;
  return totals;
}

/** What a campaign must not find; a clean campaign's findings equal NO_FINDINGS. */
export function findings(totals: CampaignTotals): Record<"lost" | "partial" | "phantom" | "problems" | "violations" | "unexpectedErrors", number> {
  return {
    lost: totals.lost,
    partial: totals.partial,
    phantom: totals.phantom,
    problems: totals.problemCount,
    violations: totals.linearizability.violations.length,
    unexpectedErrors: totals.unexpectedErrors.length,
  };
}

export const NO_FINDINGS = { lost: 0, partial: 0, phantom: 0, problems: 0, violations: 0, unexpectedErrors: 0 } as const;

/** The totals as the lines the suite prints. */
export function formatTotals(totals: CampaignTotals): string {
  const ms = (d: Distribution): string => `min ${d.min.toFixed(0)} / median ${d.median.toFixed(0)} / max ${d.max.toFixed(0)} ms (n=${d.count})`;
  const failpoints = Object.entries(totals.failpointKills)
    .map(([name, count]) => `${name} ${count}`)
    .join(", ");
  return [
    `kill campaign (seed ${totals.seed}, ${(totals.durationMs / 1000).toFixed(1)} s)`,
    `  kills:                 ${totals.kills} (external SIGKILL ${totals.externalKills}; failpoints: ${failpoints || "none"}; during recovery ${totals.recoveryKills})`,
    `  restarts / checks:     ${totals.restarts} / ${totals.verifications}`,
    `  acknowledged commits:  ${totals.acknowledged}`,
    `  lost:                  ${totals.lost}`,
    `  partial:               ${totals.partial}`,
    `  phantom/duplicated:    ${totals.phantom}`,
    `  interrupted commits:   ${totals.unknownApplied} applied whole, ${totals.unknownAbsent} not applied`,
    `  failed for sure:       ${totals.failed} (conflicts ${totals.conflicts})`,
    `  reads:                 ${totals.reads}`,
    `  errors seen by SDKs:   ${JSON.stringify(totals.errorsByClass)}; unexpected ${totals.unexpectedErrors.length}`,
    `  recovery (spawn->ready): ${ms(totals.recoveryMs)}`,
    `  recovery (engine):       ${ms(totals.engineRecoveryMs)}; events replayed in total ${totals.eventsReplayed}`,
    `  linearizability:       ${totals.linearizability.checked} operations checked (${totals.linearizability.commits} commits, ${totals.linearizability.reads} reads), ${totals.linearizability.violations.length} violations`,
    `  other problems:        ${totals.problemCount}`,
  ].join("\n");
}
