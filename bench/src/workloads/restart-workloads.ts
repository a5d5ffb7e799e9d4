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
// the 64-client commit rate on it (P1 on a large store) with the daemon's CPU
// and disk writes (/proc/PID/io) over the window, read VmHWM, measure the rate
// twice with idle Watch streams open on agents nobody writes and once more
// without (ratio: mean with / mean of the two without), then SIGKILL it
// while 64 writes are in flight and start it again (crash restart), check it
// serves, stop it. The engine's recovery time and
// the number of events it replayed come from the daemon's "engine recovered"
// log line.
import { openEngine } from "@statehouse/engine";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { countLabel } from "../bench-plan.js";
import { NAMESPACE, type BenchEnv } from "../bench-env.js";
import { benchValue } from "../bench-value.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";
import { runClosedLoop } from "../closed-loop.js";
import { cpuProbe, cpuWindow } from "../cpu-probe.js";
import type { Measure, MeasureGroup, MetricSpec } from "../measure.js";
import { memoryOf, startDaemon, type RunningDaemon } from "../peers/statehouse-daemon.js";
import { combineWindows, ThreadCpuWindow, WriteAmplificationWindow } from "../proc-io.js";

const AGENTS = 1000;

const restartMetrics = (idleWatchers: number): readonly MetricSpec[] => [
  { key: "restartMs", figure: "P4", label: "restart-to-serving after a clean stop (SIGTERM)", unit: "ms", better: "lower" },
  { key: "recoveryMs", figure: "P4", label: "… of which engine recovery (daemon log)", unit: "ms", better: "lower" },
  { key: "eventsReplayed", figure: "P4", label: "… events replayed after the snapshot", unit: "events", better: "lower" },
  { key: "crashRestartMs", figure: "P4", label: "restart-to-serving after SIGKILL with writes in flight", unit: "ms", better: "lower" },
  { key: "crashRecoveryMs", figure: "P4", label: "… of which engine recovery (daemon log)", unit: "ms", better: "lower" },
  { key: "crashEventsReplayed", figure: "P4", label: "… events replayed after the snapshot", unit: "events", better: "lower" },
  { key: "datasetCommitsPerSec", figure: "P1", label: "durable commits/s, 64 clients (grpc-js Transact), on this data set", unit: "/s", better: "higher" },
  { key: "datasetServerCpuUsPerOp", figure: "P1", label: "… daemon CPU per commit", unit: "µs", better: "lower" },
  { key: "jsThreadCpuUsPerOp", figure: "P1", label: "… of which its JavaScript thread", unit: "µs", better: "lower" },
  { key: "rocksdbCpuUsPerOp", figure: "P1", label: "… of which RocksDB's flush and compaction threads", unit: "µs", better: "lower" },
  { key: "writeAmplification", figure: "P1", label: "… disk bytes written per committed byte (/proc write_bytes)", unit: "B/B", better: "lower" },
  { key: "wcharAmplification", figure: "P1", label: "… bytes passed to write() per committed byte (/proc wchar)", unit: "B/B", better: "lower" },
  { key: "watchersCommitsPerSec", figure: "P1", label: `… the same with ${idleWatchers} idle Watch streams open on other agents`, unit: "/s", better: "higher" },
  { key: "watchersRatio", figure: "P1", label: "… with idle watchers ÷ without (same run)", unit: "×", better: "higher" },
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
    // Snapshots are O(1) checkpoints (issue 11): they keep up with a bulk load, so the newest
    // one is at most about one interval behind — the state of a daemon running at a steady rate.
    // (Full-state snapshots fell behind a bulk load by up to 3.4M commits at 10M records.)
    lag = engine.commitTs() - snapshotTs;
  } finally {
    await engine.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  env.notes.push(
    `P4/P6 data set ${countLabel(events)}: ${events} one-write transactions committed through the engine in-process ` +
      `(fsyncOnCommit=false, default snapshots) in ${seconds.toFixed(1)} s = ${Math.round(events / seconds)} commits/s; ` +
      `at the end of the load the newest snapshot was ${lag} commits behind (commit_ts ${snapshotTs}).`,
  );
  env.log(`data set ${countLabel(events)} loaded in ${seconds.toFixed(1)} s`);
}

/** Written into a data set's dir once its load completed: what a later run may reuse. */
const LOADED_MARKER = "bench-dataset.json";

async function loadOrReuse(env: BenchEnv, dataDir: string, events: number): Promise<void> {
  const marker = join(dataDir, LOADED_MARKER);
  if (env.datasetsDir !== null && existsSync(marker)) {
    const loaded = JSON.parse(readFileSync(marker, "utf8")) as { records: number; loadedAt: string };
    if (loaded.records !== events) throw new Error(`${marker} says ${loaded.records} records, expected ${events}`);
    env.notes.push(
      `P4/P6 data set ${countLabel(events)}: reused from ${dataDir} (loaded ${loaded.loadedAt}; earlier runs' commits since then ` +
        `overwrote some of its keys: still ${events} records, more events).`,
    );
    env.log(`data set ${countLabel(events)} reused from ${dataDir}`);
    return;
  }
  rmSync(dataDir, { recursive: true, force: true });
  await loadDataset(env, dataDir, events);
  writeFileSync(marker, `${JSON.stringify({ records: events, loadedAt: new Date().toISOString() })}\n`);
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

/**
 * Payload bytes of one write, the unit of write amplification: the UTF-8 bytes of its namespace,
 * agent id and key plus its value's compact JSON (what the client asked to store).
 */
export function payloadBytes(op: { namespace: string; agentId: string; key: string; value: unknown }): number {
  return Buffer.byteLength(op.namespace) + Buffer.byteLength(op.agentId) + Buffer.byteLength(op.key) + Buffer.byteLength(JSON.stringify(op.value));
}

interface CommitWindow {
  opsPerSec: number;
  serverCpuUsPerOp?: number;
  jsThreadCpuUsPerOp?: number;
  rocksdbCpuUsPerOp?: number;
  writeAmplification?: number;
  wcharAmplification?: number;
}

/**
 * P1's 64-client commit rate on a daemon holding the data set (does the rate depend on the
 * store's size?), with the daemon's CPU and disk writes per committed byte over the window.
 */
async function commitWindow(env: BenchEnv, daemon: RunningDaemon, events: number): Promise<CommitWindow> {
  using client = new StatehouseGrpcClient(daemon.address);
  const io = new WriteAmplificationWindow(daemon.pid);
  const result = await runClosedLoop({
    concurrency: 64,
    warmupMs: env.plan.warmupMs,
    durationMs: env.plan.shortMs,
    window: combineWindows(cpuWindow(cpuProbe({ pid: daemon.pid, withChildren: false })), new ThreadCpuWindow(daemon.pid), io),
    op: async (w, seq) => {
      const op = { namespace: NAMESPACE, ...recordOf((w * 7919 + seq * 64) % events), value: benchValue(seq) };
      await client.transact([op]);
      io.add(payloadBytes(op));
    },
  });
  return result;
}

/** The daemon's `statehouse_open_streams` gauge (Replay/Watch streams holding a slot). */
async function openStreams(daemon: RunningDaemon): Promise<number> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text();
  return Number(/^statehouse_open_streams (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

/** Runs `body` with `count` idle Watch streams open on agents nobody writes to. */
async function withIdleWatchers<T>(daemon: RunningDaemon, count: number, body: () => Promise<T>): Promise<T> {
  // One HTTP/2 connection carries at most the daemon's max concurrent streams (256 by default).
  const perConnection = 200;
  const clients = Array.from({ length: Math.ceil(count / perConnection) }, () => new StatehouseGrpcClient(daemon.address, { ownConnection: true }));
  let events = 0;
  const cancels: (() => void)[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const client = clients[Math.floor(i / perConnection)] as StatehouseGrpcClient;
      cancels.push(client.watch(NAMESPACE, `idle-watcher-${i}`, () => events++));
    }
    const deadline = performance.now() + 30_000;
    while ((await openStreams(daemon)) < count) {
      if (performance.now() > deadline) throw new Error(`${count} Watch streams did not all open within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const result = await body();
    if (events !== 0) throw new Error(`idle watchers received ${events} events`);
    return result;
  } finally {
    for (const cancel of cancels) cancel();
    for (const client of clients) client.close();
  }
}

/** The engine's own account of the last recovery, from the daemon's JSON log ("engine recovered"). */
function recoveryOf(daemon: RunningDaemon): { recoveryMs?: number; eventsReplayed?: number } {
  const lines = daemon.current.lines.map((line) => line.raw).reverse();
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
    metrics: restartMetrics(env.plan.idleWatchers),
    run: async () => {
      let dataDir = dirs.get(events);
      if (dataDir === undefined) {
        dataDir = join(env.datasetsDir ?? env.workDir, `dataset-${countLabel(events)}`);
        await loadOrReuse(env, dataDir, events);
        dirs.set(events, dataDir);
      }
      const name = `p4-${countLabel(events)}`;
      const first = await startDaemon({ dataDir, workDir: env.workDir, name, env: { STATEHOUSE_LOG_LEVEL: "info" } });
      let second: RunningDaemon | null = null;
      try {
        await serveLoad(env, first, events);
        const p1 = await commitWindow(env, first, events);
        // P6 before the watcher row, so that the peak is that of serving the data set.
        const vmHwmMiB = memoryOf(first.pid).vmHwmKiB / 1024;
        // Without, with, with, without (ABBA): each window leaves flush and compaction work to the
        // next, so a plain "without, then with" would charge that drift to the watchers.
        const withWatchers = await withIdleWatchers(first, env.plan.idleWatchers, async () => {
          const a = await commitWindow(env, first, events);
          const b = await commitWindow(env, first, events);
          return (a.opsPerSec + b.opsPerSec) / 2;
        });
        const without = (p1.opsPerSec + (await commitWindow(env, first, events)).opsPerSec) / 2;
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
          datasetCommitsPerSec: p1.opsPerSec,
          ...(p1.serverCpuUsPerOp === undefined ? {} : { datasetServerCpuUsPerOp: p1.serverCpuUsPerOp }),
          ...(p1.jsThreadCpuUsPerOp === undefined ? {} : { jsThreadCpuUsPerOp: p1.jsThreadCpuUsPerOp }),
          ...(p1.rocksdbCpuUsPerOp === undefined ? {} : { rocksdbCpuUsPerOp: p1.rocksdbCpuUsPerOp }),
          ...(p1.writeAmplification === undefined ? {} : { writeAmplification: p1.writeAmplification }),
          ...(p1.wcharAmplification === undefined ? {} : { wcharAmplification: p1.wcharAmplification }),
          watchersCommitsPerSec: withWatchers,
          watchersRatio: withWatchers / without,
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
