// "Where the time goes": restart the daemon on the bench's data dir under
// `node --cpu-prof`, run one scenario against it, stop it (the profile is
// written at exit) and summarise the samples taken while the scenario ran.
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Statehouse } from "@statehouse/sdk";
import { loopFor, NAMESPACE, pythonLoopSpec, type BenchEnv } from "../bench-env.js";
import { benchValue } from "../bench-value.js";
import { connectClient } from "../clients/connect-clients.js";
import { startDaemon, type RunningDaemon } from "../peers/statehouse-daemon.js";
import { runPythonWorker } from "../python-worker.js";
import { LANGGRAPH_CONCURRENCY } from "../workloads/langgraph-workloads.js";
import { REPLAY_AGENT } from "../workloads/replay-data.js";
import { monotonicUs, summarizeCpuProfile, type ProfileSummary } from "./cpu-profile-summary.js";

interface Scenario {
  name: string;
  run(daemon: RunningDaemon): Promise<void>;
}

function scenarios(env: BenchEnv, withReplayData: boolean, withLangGraph: boolean): Scenario[] {
  const concurrency = Math.max(...env.plan.concurrency);
  const list: Scenario[] = [
    {
      name: `P1: TS Connect Transact, ${concurrency} clients, ${env.plan.commitMs / 1000} s`,
      run: async (daemon) => {
        using client = connectClient(daemon.url, "connect-h2");
        await loopFor(env, concurrency, env.plan.commitMs)("baseline", async (w, seq) => {
          await client.rpc.transact({ operations: [{ namespace: NAMESPACE, agentId: `profile-${w}`, key: `k${seq % 100}`, value: benchValue(seq) }] });
        });
      },
    },
  ];
  if (withReplayData) {
    list.push({
      name: `P3: TS SDK replay of ${env.plan.replayEvents} events, 3 times`,
      run: async (daemon) => {
        await using client = new Statehouse({ url: daemon.url, namespace: NAMESPACE });
        for (let i = 0; i < 3; i++) for await (const _event of client.replay(REPLAY_AGENT));
      },
    });
  }
  if (withLangGraph && env.pythonSkip === null) {
    const concurrency = Math.max(...LANGGRAPH_CONCURRENCY);
    list.push({
      name: `LG: StatehouseSaver put + get_tuple, ${concurrency} Python clients, ${env.plan.commitMs / 1000} s`,
      run: async (daemon) => {
        await runPythonWorker({ ...pythonLoopSpec(env, "langgraph-statehouse", concurrency, env.plan.commitMs, "lg-profile"), url: daemon.url });
      },
    });
  }
  return list;
}

/** Stops env.daemon first (the data dir allows one daemon); profiles each scenario on a fresh daemon. */
export async function profileDaemon(env: BenchEnv, withReplayData: boolean, withLangGraph = false): Promise<ProfileSummary[]> {
  await env.daemon.stop();
  const summaries: ProfileSummary[] = [];
  for (const [i, scenario] of scenarios(env, withReplayData, withLangGraph).entries()) {
    const dir = join(env.workDir, `profile-${i}`);
    mkdirSync(dir, { recursive: true });
    const daemon = await startDaemon({
      dataDir: join(env.workDir, "statehouse-data"),
      workDir: env.workDir,
      name: `profile-${i}`,
      env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` },
    });
    let window: [number, number] | undefined;
    try {
      const from = monotonicUs();
      await scenario.run(daemon);
      window = [from, monotonicUs()];
    } finally {
      await daemon.stop();
    }
    const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
    if (file === undefined) {
      env.notes.push(`profile "${scenario.name}": the daemon wrote no .cpuprofile`);
      continue;
    }
    summaries.push(summarizeCpuProfile(join(dir, file), scenario.name, window));
    env.log(`profiled ${scenario.name}`);
  }
  return summaries;
}
