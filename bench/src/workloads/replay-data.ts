// The replay agent of P3 (and the key set of P5): `events` one-operation
// transactions on one agent, each writing a new key step/<i> with a 200-byte
// value, loaded identically into every system once per bench run.
import { NAMESPACE, type BenchEnv } from "../bench-env.js";
import { benchValue, benchValueJson } from "../bench-value.js";
import { EtcdClient } from "../clients/etcd-client.js";
import { PostgresBenchClient } from "../clients/postgres-bench-client.js";
import { StatehouseGrpcClient } from "../clients/statehouse-grpc-client.js";

export const REPLAY_AGENT = "replay-agent";
export const etcdReplayPrefix = `/replay/${REPLAY_AGENT}/`;

export function stepKey(i: number): string {
  return `step/${i}`;
}

async function parallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
}

const loaded = new WeakMap<BenchEnv, Promise<void>>();

/** Loads the replay agent into every running system (once per env). */
export function ensureReplayData(env: BenchEnv): Promise<void> {
  let promise = loaded.get(env);
  if (promise === undefined) {
    promise = loadReplayData(env);
    loaded.set(env, promise);
  }
  return promise;
}

async function loadReplayData(env: BenchEnv): Promise<void> {
  const events = env.plan.replayEvents;
  const t0 = performance.now();
  using statehouse = new StatehouseGrpcClient(env.daemon.address);
  // One durable Transact per event, 256 in flight: the real write path.
  await parallel(events, 256, async (i) => {
    await statehouse.transact([{ namespace: NAMESPACE, agentId: REPLAY_AGENT, key: stepKey(i), value: benchValue(i) }]);
  });
  const shSeconds = (performance.now() - t0) / 1000;
  env.notes.push(`P3 data: ${events} events loaded into Statehouse through grpc-js Transact (256 in flight) in ${shSeconds.toFixed(1)} s.`);
  env.log(`replay agent loaded into Statehouse (${events} events, ${shSeconds.toFixed(1)} s)`);
  if (env.etcd !== null) {
    using etcd = new EtcdClient(env.etcd.address);
    const batch = 100; // etcd's --max-txn-ops default is 128
    await parallel(Math.ceil(events / batch), 8, async (b) => {
      const entries: [string, string][] = [];
      for (let i = b * batch; i < Math.min(events, (b + 1) * batch); i++) entries.push([etcdReplayPrefix + stepKey(i), benchValueJson(i)]);
      await etcd.putMany(entries);
    });
  }
  if (env.postgres !== null) {
    await using client = await PostgresBenchClient.connect(env.postgres);
    await client.loadAgent(NAMESPACE, REPLAY_AGENT, events, benchValueJson(0));
  }
}
