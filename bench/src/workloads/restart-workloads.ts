// P4 (restart-to-serving time) and P6 (daemon peak RSS) on data sets of N
// committed events = N records (each event writes a new key step/<i> of one
// of 1000 agents, a 200-byte value), default snapshot interval.
//
// Loading method: the data set is written by the engine itself, in the bench
// process, before any daemon opens the directory (@statehouse/engine
// openEngine with fsyncOnCommit=false and the default snapshotInterval, 256
// one-operation transact() calls in flight). That produces exactly what a
// daemon would have written for N one-write transactions, without N synced
// RPCs (1M durable RPCs would take minutes). The time it takes is reported.
//
// One run: start the daemon on the data set (restart after a clean stop),
// serve 64-client point reads and writes over the whole key space, measure
// the 64-client commit rate on it (P1 on a large store), read VmHWM, then
// SIGKILL it while 64 writes are in flight and start it again
// (crash restart), check it serves, stop it. The engine's recovery time and
// the number of events it replayed come from the daemon's "engine recovered"
// log line.
import { openEngine } from "@statehouse/engine";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { countLabel } from "../bench-plan.js";
import { NAMESPACE, type BenchEnv } from "../bench-env.js";
import { benchValue } from "../bench-value.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { runClosedLoop } from "../closed-loop.js";
import type { Measure, MeasureGroup, MetricSpec } from "../measure.js";
import { memoryOf, startDaemon, type RunningDaemon } from "../peers/statehouse-daemon.js";

const AGENTS = 1000;

const restartMetrics: readonly MetricSpec[] = [
  { key: "restartMs", figure: "P4", label: "restart-to-serving after a clean stop (SIGTERM)", unit: "ms", better: "lower" },
  { key: "recoveryMs", figure: "P4", label: "… of which engine recovery (daemon log)", unit: "ms", better: "lower" },
  { key: "eventsReplayed", figure: "P4", label: "… events replayed after the snapshot", unit: "events", better: "lower" },
  { key: "crashRestartMs", figure: "P4", label: "restart-to-serving after SIGKILL with writes in flight", unit: "ms", better: "lower" },
  { key: "crashRecoveryMs", figure: "P4", label: "… of which engine recovery (daemon log)", unit: "ms", better: "lower" },
  { key: "crashEventsReplayed", figure: "P4", label: "… events replayed after the snapshot", unit: "events", better: "lower" },
  { key: "datasetCommitsPerSec", figure: "P1", label: "durable commits/s, 64 clients (grpc-js Transact), on this data set", unit: "/s", better: "higher" },
  { key: "vmHwmMiB", figure: "P6", label: "daemon peak RSS (VmHWM) while serving the data set", unit: "MiB", better: "lower" },
];

function recordOf(i: number): { agentId: string; key: string } {
  return { agentId: `agent-${i % AGENTS}`, key: `step/${i}` };
}

async function loadDataset(env: BenchEnv, dataDir: string, events: number): Promise<void> {
  const t0 = performance.now();
  let snapshotTs = 0n;
  const engine = await openEngine({
    dataDir,
    fsyncOnCommit: false,
    observer: {
      onSnapshot: (info) => {
        if (info.commitTs > snapshotTs) snapshotTs = info.commitTs;
      },
    },
  });
  let lag = 0n;
  let settleCommits = 0;
  try {
    let next = 0;
    let lastLog = performance.now();
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        for (let i = next++; i < events; i = next++) {
          await engine.transact({ operations: [{ namespace: NAMESPACE, ...recordOf(i), value: benchValue(i) }] });
          if (performance.now() - lastLog > 10_000) {
            lastLog = performance.now();
            env.log(`  data set ${countLabel(events)}: ${i} events loaded`);
          }
        }
      }),
    );
    // A bulk load outruns snapshotting (a snapshot of the whole state takes
    // longer than 1000 commits do); a daemon that has been running at a
    // steady rate has a recent snapshot. Keep committing one write at a time
    // until a snapshot covers the bulk load, so P4 measures that steady state.
    lag = engine.commitTs() - snapshotTs;
    const deadline = performance.now() + 180_000;
    while (snapshotTs < BigInt(events) && performance.now() < deadline) {
      await engine.transact({ operations: [{ namespace: NAMESPACE, ...recordOf(settleCommits % events), value: benchValue(settleCommits) }] });
      settleCommits++;
    }
  } finally {
    await engine.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  env.notes.push(
    `P4/P6 data set ${countLabel(events)}: ${events} one-write transactions committed through the engine in-process ` +
      `(fsyncOnCommit=false, default snapshots) in ${seconds.toFixed(1)} s = ${Math.round(events / seconds)} commits/s ` +
      `(including the settle phase). At the end of the bulk load the newest snapshot was ${lag} commits behind; ` +
      `${settleCommits} more single commits until a snapshot covered the load (newest snapshot at commit_ts ${snapshotTs}).`,
  );
  env.log(`data set ${countLabel(events)} loaded in ${seconds.toFixed(1)} s`);
}

async function serveLoad(env: BenchEnv, daemon: RunningDaemon, events: number): Promise<void> {
  using client = new StatehouseGrpcClient(daemon.address);
  await runClosedLoop({
    concurrency: 64,
    warmupMs: 0,
    durationMs: env.plan.shortMs,
    op: async (_worker, seq) => {
      const i = Math.floor(Math.random() * events);
      const { agentId, key } = recordOf(i);
      if (seq % 4 === 3) {
        await client.transact([{ namespace: NAMESPACE, agentId, key, value: benchValue(seq) }]);
      } else {
        const state = await client.getState(NAMESPACE, agentId, key);
        if (!state.exists) throw new Error(`${agentId}/${key} missing after restart`);
      }
    },
  });
}

/** P1's 64-client commit rate, on a daemon holding the data set (does the rate depend on the store's size?). */
async function commitRate(env: BenchEnv, daemon: RunningDaemon, events: number): Promise<number> {
  using client = new StatehouseGrpcClient(daemon.address);
  const result = await runClosedLoop({
    concurrency: 64,
    warmupMs: env.plan.warmupMs,
    durationMs: env.plan.shortMs,
    op: async (w, seq) => {
      await client.transact([{ namespace: NAMESPACE, ...recordOf((w * 7919 + seq * 64) % events), value: benchValue(seq) }]);
    },
  });
  return result.opsPerSec;
}

/** The engine's own account of the last recovery, from the daemon's JSON log ("engine recovered"). */
function recoveryOf(daemon: RunningDaemon): { recoveryMs?: number; eventsReplayed?: number } {
  const lines = readFileSync(daemon.process.logFile, "utf8").split("\n").reverse();
  for (const line of lines) {
    if (!line.includes("engine recovered")) continue;
    try {
      const entry = JSON.parse(line) as { pid?: number; durationMs?: number; eventsReplayed?: number };
      if (entry.pid !== daemon.pid) continue;
      return { recoveryMs: entry.durationMs ?? Number.NaN, eventsReplayed: entry.eventsReplayed ?? Number.NaN };
    } catch {
      continue;
    }
  }
  return {};
}

export function restartGroup(env: BenchEnv): MeasureGroup {
  const dirs = new Map<number, string>();
  const measures: Measure[] = env.plan.datasets.map((events) => ({
    id: `p4.${countLabel(events)}`,
    cell: `${countLabel(events)} events`,
    subject: "Statehouse daemon, default snapshots",
    system: "statehouse",
    metrics: restartMetrics,
    run: async () => {
      let dataDir = dirs.get(events);
      if (dataDir === undefined) {
        dataDir = join(env.workDir, `dataset-${countLabel(events)}`);
        await loadDataset(env, dataDir, events);
        dirs.set(events, dataDir);
      }
      const name = `p4-${countLabel(events)}`;
      const first = await startDaemon({ dataDir, workDir: env.workDir, name, env: { STATEHOUSE_LOG_LEVEL: "info" } });
      let second: RunningDaemon | null = null;
      try {
        await serveLoad(env, first, events);
        const datasetCommitsPerSec = await commitRate(env, first, events);
        const vmHwmMiB = memoryOf(first.pid).vmHwmKiB / 1024;
        // Crash with writes in flight, then restart.
        using writer = new StatehouseGrpcClient(first.address);
        const inFlight = Array.from({ length: 64 }, (_, worker) =>
          (async () => {
            for (let seq = 0; ; seq++) {
              await writer.transact([{ namespace: NAMESPACE, ...recordOf((worker * 7919 + seq) % events), value: benchValue(seq) }]);
            }
          })().catch(() => undefined),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        await first.stop("SIGKILL");
        await Promise.all(inFlight);
        second = await startDaemon({ dataDir, workDir: env.workDir, name, env: { STATEHOUSE_LOG_LEVEL: "info" } });
        using check = new StatehouseGrpcClient(second.address);
        const { agentId, key } = recordOf(events - 1);
        if (!(await check.getState(NAMESPACE, agentId, key)).exists) throw new Error("data missing after crash restart");
        const crash = recoveryOf(second);
        return {
          restartMs: first.startMs,
          ...recoveryOf(first),
          crashRestartMs: second.startMs,
          ...(crash.recoveryMs === undefined ? {} : { crashRecoveryMs: crash.recoveryMs }),
          ...(crash.eventsReplayed === undefined ? {} : { crashEventsReplayed: crash.eventsReplayed }),
          datasetCommitsPerSec,
          vmHwmMiB,
        };
      } finally {
        await first.stop();
        await second?.stop();
      }
    },
  }));
  return { id: "p4", title: "P4/P6 restart time and peak RSS", measures };
}
