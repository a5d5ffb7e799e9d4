// The kill campaign on a cluster: N statehoused (--storage postgres://) on one PostgreSQL,
// Python and TypeScript writers spread over the daemons. Each round SIGKILLs a random daemon
// (restarted: it holds no state) or the PostgreSQL postmaster (restarted on the same data
// directory: PostgreSQL's own crash recovery, fsync and synchronous_commit on). After every
// round, with the writers paused: every acknowledged commit present, none partial, replay
// folds to the served state on every agent, every daemon serves the same state, commit_ts
// never goes back. At the end the whole history, across all daemons, is checked for
// linearizability. Writers, ledger and checks are the single-daemon campaign's.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensurePostgresInstalled, startPostgres, type PostgresServer } from "@statehouse/test-services";
import { compareWithState, foldEvents } from "../check/agent-history.js";
import { CommitLedger, type LedgerReport } from "../check/commit-ledger.js";
import type { EventView, StateView } from "../drivers/protocol.js";
import { DaemonHarness } from "../harness/daemon-harness.js";
import { DriverProcess, type SdkName } from "../harness/driver-process.js";
import { Oracle } from "../harness/oracle.js";
import { CampaignWriter, distribution, emptyTotals, finishCampaign, Gate, type CampaignTotals, type Shared } from "./kill-campaign.js";
import { Random } from "./random.js";

export interface ClusterCampaignOptions {
  /** SIGKILLs in all (daemons and the postmaster). */
  kills: number;
  seed: number;
  /** Daemons on the one database. */
  daemons: number;
  /** One writer process per entry, writer i talks to daemon i mod `daemons`. */
  writers: readonly SdkName[];
  /** Share of kills that hit the PostgreSQL postmaster instead of a daemon. */
  postgresShare?: number;
  log?: (line: string) => void;
}

export interface ClusterTotals extends CampaignTotals {
  daemonKills: number;
  postgresKills: number;
  /** Keys compared across every daemon after each round. */
  agreementChecks: number;
}

const SCHEMA = "campaign";

/** PostgreSQL started again on its data directory after a SIGKILL; old backends may hold its shared memory for a moment. */
async function restartPostgres(workDir: string, port: number): Promise<PostgresServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startPostgres(workDir, { port });
    } catch (error) {
      if (attempt >= 30) throw error;
      await sleep(500);
    }
  }
}

export async function runClusterCampaign(options: ClusterCampaignOptions): Promise<ClusterTotals> {
  const started = performance.now();
  const log = options.log ?? ((): void => undefined);
  const random = new Random(options.seed);
  const agents = Array.from({ length: 4 }, (_, index) => `cluster-${index}`);
  const keys = Array.from({ length: 5 }, (_, index) => `k${index}`);
  const universe = agents.flatMap((agent) => keys.map((key) => ({ agent, key })));
  const totals: ClusterTotals = { ...emptyTotals(options.seed), daemonKills: 0, postgresKills: 0, agreementChecks: 0 };

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
    // While the database is down (or recovering) the daemons answer STORAGE_ERROR.
    outageError: (error) => error.code === "STORAGE_ERROR",
  };
  const recoveryMs: number[] = [];

  ensurePostgresInstalled((message) => log(`[postgres] ${message}`));
  const pgDir = await mkdtemp(join(tmpdir(), "statehouse-cluster-pg-"));
  let postgres = await startPostgres(pgDir);
  const url = `postgres://${postgres.user}@${postgres.host}:${postgres.port}/${postgres.database}`;
  const harnesses: DaemonHarness[] = [];
  const drivers: DriverProcess[] = [];
  const writers: CampaignWriter[] = [];
  const loops: Array<Promise<void>> = [];
  let lastLedger: LedgerReport | undefined;

  const verify = async (): Promise<void> => {
    totals.verifications++;
    const through = random.pick(harnesses);
    const oracles = harnesses.map((harness) => new Oracle(harness.url));
    const oracle = oracles[harnesses.indexOf(through)] as Oracle;
    try {
      const eventsByAgent = new Map<string, EventView[]>();
      let maxEventTs = 0;
      for (const agent of agents) {
        const events = await oracle.replay(agent);
        eventsByAgent.set(agent, events);
        const folded = foldEvents(agent, events);
        maxEventTs = Math.max(maxEventTs, folded.maxCommitTs);
        const observed = new Map<string, StateView>();
        for (const key of keys) {
          const states = await Promise.all(oracles.map((o) => o.getState(agent, key)));
          const first = states[0] as StateView;
          totals.agreementChecks++;
          states.forEach((state, i) => {
            if (state.version !== first.version || state.commit_ts !== first.commit_ts || JSON.stringify(state.value) !== JSON.stringify(first.value)) {
              shared.problem(`daemons disagree on ${agent}/${key}: daemon 0 has v${first.version}@${first.commit_ts}, daemon ${i} has v${state.version}@${state.commit_ts}`);
            }
          });
          observed.set(key, await oracle.getState(agent, key));
        }
        const listed = await oracle.listKeys(agent);
        for (const message of [...folded.problems, ...compareWithState(agent, folded, observed, listed)]) shared.problem(message);
      }
      const report = shared.ledger.verify(eventsByAgent);
      lastLedger = report;
      for (const message of report.problems) shared.problem(message);
      let maxAcked = 0;
      for (const record of shared.ledger.all()) {
        if (record.status === "acked") maxAcked = Math.max(maxAcked, record.commitTs ?? 0);
      }
      if (maxEventTs < maxAcked) shared.problem(`the log ends at commit_ts ${maxEventTs}, below the acknowledged ${maxAcked}`);
      if (maxEventTs < shared.recoveredTs) shared.problem(`commit_ts went back: ${shared.recoveredTs} -> ${maxEventTs}`);
      shared.recoveredTs = Math.max(shared.recoveredTs, maxEventTs);
    } finally {
      for (const o of oracles) o.close();
    }
  };

  try {
    for (let i = 0; i < options.daemons; i++) {
      const harness = await DaemonHarness.create({ name: `cluster-${i}`, env: { STATEHOUSE_STORAGE: url, STATEHOUSE_POSTGRES_SCHEMA: SCHEMA } });
      harnesses.push(harness);
      await harness.start();
    }
    for (const [index, sdk] of options.writers.entries()) {
      const harness = harnesses[index % harnesses.length] as DaemonHarness;
      const driver = await DriverProcess.spawn(sdk, { url: harness.url, name: `${sdk}-writer-${index}` });
      drivers.push(driver);
      writers.push(new CampaignWriter(`${sdk}${index}`, driver, new Random(options.seed + 7919 * (index + 1)), shared));
    }
    loops.push(...writers.map((writer) => writer.loop()));
    const progressEvery = Math.max(1, Math.round(options.kills / 10));
    while (totals.kills < options.kills) {
      shared.gate.open();
      await sleep(random.int(50, 500));
      const killPostgres = random.chance(options.postgresShare ?? 0.25);
      let restart: () => Promise<void>;
      if (killPostgres) {
        const port = postgres.port;
        const child = postgres.process.child;
        const gone = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await gone;
        totals.postgresKills++;
        restart = async () => {
          const t0 = performance.now();
          postgres = await restartPostgres(pgDir, port);
          recoveryMs.push(performance.now() - t0);
        };
      } else {
        const harness = random.pick(harnesses);
        await harness.kill();
        totals.daemonKills++;
        restart = async () => {
          const run = await harness.start();
          if (run.recoveryMs !== undefined) recoveryMs.push(run.recoveryMs);
        };
      }
      totals.kills++;
      totals.externalKills++;
      // The others keep serving (or, with the database down, failing) for a moment.
      await sleep(random.int(0, 200));
      shared.gate.close();
      await Promise.all(writers.map((writer) => writer.current));
      await restart();
      totals.restarts++;
      for (const harness of harnesses) {
        const run = harness.current;
        if (run?.alive !== true) await run?.exited;
        if (run?.alive !== true) throw new Error(`daemon ${harness.url} died during the round (${JSON.stringify(run?.exitInfo)}):\n${run?.tail() ?? ""}`);
      }
      await verify();
      if (totals.kills % progressEvery === 0) {
        log(
          `[cluster] kills ${totals.kills}/${options.kills} (daemons ${totals.daemonKills}, postgres ${totals.postgresKills}), acknowledged ${lastLedger?.acked ?? 0}, lost ${lastLedger?.lost ?? 0}, partial ${lastLedger?.partial ?? 0}, problems ${totals.problemCount}`,
        );
      }
    }
    shared.gate.open();
    await sleep(200);
    shared.stopped = true;
    shared.gate.close();
    await Promise.all(writers.map((writer) => writer.current));
    shared.gate.open();
    await Promise.all(loops);
    await verify();

    const report = lastLedger;
    if (report === undefined) throw new Error("no verification ran");
    const oracle = new Oracle((harnesses[0] as DaemonHarness).url);
    const eventsByAgent = new Map<string, EventView[]>();
    try {
      for (const agent of agents) eventsByAgent.set(agent, await oracle.replay(agent));
    } finally {
      oracle.close();
    }
    finishCampaign(shared, report, eventsByAgent);
  } finally {
    shared.stopped = true;
    shared.gate.open();
    await Promise.all(drivers.map((driver) => driver.close()));
    for (const harness of harnesses) await harness.dispose();
    await postgres.stop();
    await rm(pgDir, { recursive: true, force: true });
  }
  totals.recoveryMs = distribution(recoveryMs);
  totals.durationMs = performance.now() - started;
  return totals;
}
