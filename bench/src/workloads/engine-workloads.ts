// The engine figure: the engine alone, in this process, no RPC — what the
// daemon's commit path costs below the RPC stack. The binding's raw synced
// batch rate (sequential db.batch of one put with sync, the faster of the
// binding's defaults and the engine's RocksDB options) is the base; the engine
// with 1 and N committers (fsync on, default snapshots; N also with snapshots
// off), with this process's CPU per commit (all threads: RocksDB's too) and
// the transactions per synced batch; and the replay of one agent. Each run
// opens a fresh store under the scratch dir.
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { openEngine, type OperationInput, type Engine } from "@statehouse/engine";
import { NAMESPACE, type BenchEnv } from "../bench-env.js";
import { benchValue } from "../bench-value.js";
import { runClosedLoop, type WindowProbe } from "../closed-loop.js";
import { processCpuMs } from "../cpu-probe.js";
import { countLabel } from "../bench-plan.js";
import type { Measure, MeasureGroup, MetricSpec } from "../measure.js";
import { opsPerSecMetric } from "../measure.js";

interface RawDb {
  open(options: object): Promise<void>;
  close(): Promise<void>;
  batch(ops: { type: "put"; key: Buffer; value: Buffer }[], options: { sync: boolean }): Promise<void>;
}

/** The options the engine opens RocksDB with (libs/engine/src/storage/rocks-kv.ts). */
const ENGINE_ROCKS_OPTIONS = { walCompression: false, compaction: "level", memtableMemoryBudget: 32 * 1024 * 1024 };
const KEYS_PER_COMMITTER = 100;
const REPLAY_AGENT = "engine-replay";

const cpuMetric: MetricSpec = { key: "processCpuUsPerOp", figure: "engine", label: "process CPU per commit (all threads)", unit: "µs", better: "lower" };
const batchMetric: MetricSpec = { key: "txnsPerBatch", figure: "engine", label: "transactions per synced batch", unit: "txns", better: "higher" };

/** This process's CPU (every thread) per operation over the closed loop's window. */
function processCpuWindow(): WindowProbe {
  let startMs = 0;
  return {
    start: () => {
      startMs = processCpuMs(process.pid);
    },
    stop: (ops) => ({ processCpuUsPerOp: ops > 0 ? ((processCpuMs(process.pid) - startMs) * 1000) / ops : Number.NaN }),
  };
}

function committerLabel(n: number): string {
  return n === 1 ? "1 committer" : `${n} committers`;
}

function operation(agent: string, seq: number): OperationInput[] {
  return [{ namespace: NAMESPACE, agentId: agent, key: `k${seq % KEYS_PER_COMMITTER}`, value: benchValue(seq) }];
}

export function engineGroups(env: BenchEnv): MeasureGroup[] {
  const { plan } = env;
  const scratch = (label: string): Promise<string> => mkdtemp(join(env.workDir, `engine-${label}-`));

  const rawRate = async (options: object): Promise<number> => {
    const dir = await scratch("raw");
    const { RocksLevel } = (await import("@nxtedition/rocksdb" as string)) as { RocksLevel: new (location: string) => RawDb };
    const db = new RocksLevel(dir);
    await db.open({ createIfMissing: true, ...options });
    const value = Buffer.alloc(200, 7);
    try {
      return (await runClosedLoop({ concurrency: 1, warmupMs: plan.warmupMs, durationMs: plan.commitMs, op: (_w, seq) => db.batch([{ type: "put", key: Buffer.from(`k${seq}`), value }], { sync: true }) })).opsPerSec;
    } finally {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    }
  };

  const commit = async (committers: number, snapshotInterval: number | undefined): Promise<Record<string, number>> => {
    const dir = await scratch(`c${committers}`);
    const engine = await openEngine({ dataDir: dir, ...(snapshotInterval === undefined ? {} : { snapshotInterval }) });
    try {
      const before = engine.stats();
      const result = await runClosedLoop({
        concurrency: committers,
        warmupMs: plan.warmupMs,
        durationMs: plan.commitMs,
        op: async (w, seq) => {
          await engine.transact({ operations: operation(`engine-${w}`, seq) });
        },
        window: processCpuWindow(),
      });
      const after = engine.stats();
      const txns = (after.committedTransactions ?? 0) - (before.committedTransactions ?? 0);
      return { ...result, txnsPerBatch: txns / Math.max(1, (after.groupCommits ?? 0) - (before.groupCommits ?? 0)) };
    } finally {
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  };

  const rawId = "engine.raw";
  const commitMeasures: Measure[] = [
    {
      id: rawId,
      cell: "1 writer",
      subject: "RocksDB binding · sequential synced batches of one put (best of its defaults and the engine's options)",
      system: "baseline",
      metrics: [opsPerSecMetric("engine", "synced batches/s")],
      run: async () => ({ opsPerSec: Math.max(await rawRate({}), await rawRate(ENGINE_ROCKS_OPTIONS)) }),
    },
    ...[1, Math.max(...plan.concurrency)].map(
      (committers): Measure => ({
        id: `engine.c${committers}`,
        cell: committerLabel(committers),
        subject: "engine · transact(), fsync on, default snapshots",
        system: "statehouse",
        baseRef: rawId,
        metrics: [opsPerSecMetric("engine", "durable commits/s"), cpuMetric, batchMetric],
        run: () => commit(committers, undefined),
      }),
    ),
  ];
  const top = Math.max(...plan.concurrency);
  commitMeasures.push({
    id: `engine.c${top}.no-snapshots`,
    cell: committerLabel(top),
    subject: "engine · transact(), fsync on, snapshots off (÷ base: ÷ default snapshots)",
    system: "statehouse",
    baseRef: `engine.c${top}`,
    metrics: [opsPerSecMetric("engine", "durable commits/s"), cpuMetric, batchMetric],
    run: () => commit(top, 0),
  });

  // Replay: one agent of plan.replayEvents one-write events, loaded with fsync off before the rounds.
  let replayEngine: Engine | undefined;
  const events = plan.replayEvents;
  const replay: MeasureGroup = {
    id: "engine.replay",
    title: `engine: replay of ${countLabel(events)} events`,
    setup: async () => {
      replayEngine = await openEngine({ dataDir: await scratch("replay"), fsyncOnCommit: false });
      const engine = replayEngine;
      let next = 0;
      await Promise.all(
        Array.from({ length: 256 }, async () => {
          while (next < events) await engine.transact({ operations: operation(REPLAY_AGENT, next++) });
        }),
      );
    },
    teardown: async () => {
      await replayEngine?.close();
    },
    measures: [
      {
        id: "engine.replay",
        cell: `${countLabel(events)} events`,
        subject: "engine · replay() of one agent, in process",
        system: "statehouse",
        metrics: [{ key: "eventsPerSec", figure: "engine", label: "replay events/s", unit: "/s", better: "higher" }],
        run: async () => {
          const engine = replayEngine;
          if (engine === undefined) throw new Error("replay store not loaded");
          const started = performance.now();
          let count = 0;
          for await (const _event of engine.replay(NAMESPACE, REPLAY_AGENT)) count++;
          if (count !== events) throw new Error(`replay returned ${count} of ${events} events`);
          return { eventsPerSec: count / ((performance.now() - started) / 1000) };
        },
      },
    ],
  };
  return [{ id: "engine.commit", title: "engine: commits without RPC", measures: commitMeasures }, replay];
}
