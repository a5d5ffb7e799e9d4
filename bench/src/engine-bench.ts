// Engine benchmark (not a test): group commit vs the binding's raw synced-batch rate,
// replay speed and recovery time. Run from the repository root:
//   node_modules/.bin/node --conditions=@statehouse/source bench/src/engine-bench.ts [--quick] [--rounds N] [--scratch DIR]
// The machine may be shared: rates are measured in interleaved rounds (raw, 1 committer,
// 64 committers, raw, ...) and reported as medians, ratios from the same rounds.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openEngine, type OperationInput } from "@statehouse/engine";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scratch: { type: "string", default: "/var/tmp" },
    seconds: { type: "string" },
    rounds: { type: "string" },
    fill: { type: "string" },
    events: { type: "string" },
    interval: { type: "string" },
    agents: { type: "string" },
  },
});
const quick = args.quick === true;
const windowMs = Number(args.seconds ?? (quick ? 1 : 2)) * 1000;
const rounds = Number(args.rounds ?? (quick ? 1 : 5));
const scratch = args.scratch ?? "/var/tmp";

interface RawDb {
  open(options: object): Promise<void>;
  close(): Promise<void>;
  batch(ops: { type: "put"; key: Buffer; value: Buffer }[], options: { sync: boolean }): Promise<void>;
}

const rows: [string, string][] = [];
const record = (name: string, value: string): void => {
  rows.push([name, value]);
  console.log(`${name.padEnd(64)} ${value}`);
};
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(scratch, `statehouse-engine-bench-${label}-`));
}

/** The options the engine opens RocksDB with (libs/engine/src/storage/rocks-kv.ts). */
const ENGINE_ROCKS_OPTIONS = { walCompression: false, compaction: "level", memtableMemoryBudget: 32 * 1024 * 1024 };

/** The binding alone: sequential db.batch([one put], { sync: true }) calls, one after another. */
async function rawSyncedRate(options: object): Promise<number> {
  const dir = await tempDir("raw");
  const { RocksLevel } = (await import("@nxtedition/rocksdb" as string)) as { RocksLevel: new (location: string) => RawDb };
  const db = new RocksLevel(dir);
  await db.open({ createIfMissing: true, ...options });
  const value = Buffer.alloc(120, 7);
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < windowMs) {
    await db.batch([{ type: "put", key: Buffer.from(`k${n}`), value }], { sync: true });
    n++;
  }
  const rate = n / ((performance.now() - started) / 1000);
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return rate;
}

/** One agent step: two keys of one agent. */
function operations(i: number, agents: number): OperationInput[] {
  const agentId = `agent-${i % agents}`;
  return [
    { namespace: "default", agentId, key: `step/${i % 50}`, value: { n: i, note: "x".repeat(60), tool: { name: "search", ok: true } } },
    { namespace: "default", agentId, key: "progress", value: { done: i } },
  ];
}

/**
 * Durable commits/s with `committers` concurrent closed-loop committers (fsync on, snapshots every
 * `interval` commits, default 1000), and the process's CPU (all threads, RocksDB's included) per commit.
 */
async function commitRate(committers: number, interval?: number): Promise<{ rate: number; perBatch: number; cpuUsPerCommit: number }> {
  const dir = await tempDir(`c${committers}`);
  const engine = await openEngine({ dataDir: dir, ...(interval === undefined ? {} : { snapshotInterval: interval }) });
  const cpu = process.cpuUsage();
  let next = 0;
  const deadline = performance.now() + windowMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: committers }, async () => {
      while (performance.now() < deadline) await engine.transact({ operations: operations(next++, 100) });
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const stats = engine.stats();
  const txns = stats.committedTransactions ?? 0;
  await engine.close();
  await rm(dir, { recursive: true, force: true });
  return { rate: txns / elapsed, perBatch: txns / Math.max(1, stats.groupCommits ?? 1), cpuUsPerCommit: (used.user + used.system) / Math.max(1, txns) };
}

/** Child mode: fill a store (fsync off: only the data matters), report, then wait to be SIGKILLed. */
async function fillChild(dir: string, events: number, interval: number, agents: number): Promise<void> {
  const engine = await openEngine({ dataDir: dir, fsyncOnCommit: false, snapshotInterval: interval });
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < events) await engine.transact({ operations: operations(next++, agents) });
    }),
  );
  process.stdout.write(`filled ${engine.commitTs()}\n`);
  setInterval(() => undefined, 1 << 30);
}

/** Fills a store in a child process and SIGKILLs it: the reopen that follows is a crash recovery. */
function fillAndKill(dir: string, events: number, interval: number, agents: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=@statehouse/source", fileURLToPath(import.meta.url), "--fill", dir, "--events", String(events), "--interval", String(interval), "--agents", String(agents)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      if (chunk.includes("filled")) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => (signal === "SIGKILL" ? resolve((performance.now() - started) / 1000) : reject(new Error("fill child failed"))));
  });
}

async function main(): Promise<void> {
  console.log(`engine bench: ${rounds} round(s) of ${windowMs} ms windows, scratch ${scratch}, node ${process.version}`);
  const raw: number[] = [];
  const one: number[] = [];
  const many: number[] = [];
  const perBatch: number[] = [];
  const cpuOn: number[] = [];
  const cpuOff: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // The baseline is the faster of the binding's defaults and the engine's own options.
    raw.push(Math.max(await rawSyncedRate({}), await rawSyncedRate(ENGINE_ROCKS_OPTIONS)));
    one.push((await commitRate(1)).rate);
    const m = await commitRate(64);
    many.push(m.rate);
    perBatch.push(m.perBatch);
    cpuOn.push(m.cpuUsPerCommit);
    cpuOff.push((await commitRate(64, 0)).cpuUsPerCommit);
    console.log(`  round ${round + 1}: raw ${fmt(raw[round] ?? 0)}/s, 1 committer ${fmt(one[round] ?? 0)}/s, 64 committers ${fmt(m.rate)}/s`);
  }
  const rawMedian = median(raw);
  record("raw binding: sequential synced batches/s (db.batch, 1 put, sync; best of default/engine options)", `${fmt(rawMedian)} (rounds: ${raw.map((r) => fmt(r)).join(", ")})`);
  record("engine: durable commits/s, 1 committer", `${fmt(median(one))} = ${fmt(median(one) / rawMedian, 2)}x raw (per-round ratios ${one.map((r, i) => fmt(r / (raw[i] ?? 1), 2)).join(", ")})`);
  record("engine: durable commits/s, 64 committers", `${fmt(median(many))} = ${fmt(median(many) / rawMedian, 1)}x raw (per-round ratios ${many.map((r, i) => fmt(r / (raw[i] ?? 1), 1)).join(", ")})`);
  record("engine: avg transactions per synced batch, 64 committers", fmt(median(perBatch), 1));
  record(
    "engine: CPU µs per commit, 64 committers, snapshot every 1000 ÷ snapshots off",
    `${fmt(median(cpuOn), 1)} ÷ ${fmt(median(cpuOff), 1)} = ${fmt(median(cpuOn.map((c, i) => c / (cpuOff[i] ?? c))), 2)}x (per-round ratios ${cpuOn.map((c, i) => fmt(c / (cpuOff[i] ?? c), 2)).join(", ")})`,
  );

  for (const events of quick ? [100_000] : [100_000, 1_000_000]) {
    for (const interval of [1000, 0]) {
      const dir = await tempDir(`rec${events}-${interval}`);
      const fillSeconds = await fillAndKill(dir, events, interval, 100);
      const started = performance.now();
      const engine = await openEngine({ dataDir: dir, snapshotInterval: interval });
      const ms = performance.now() - started;
      const label = interval === 0 ? "snapshots off" : `snapshot every ${interval}`;
      record(
        `recovery: reopen after SIGKILL, ${fmt(events)} events, ${label}`,
        `${fmt(ms)} ms (snapshot ts ${engine.recovery.snapshotTs ?? "none"}, ${fmt(engine.recovery.eventsReplayed)} events replayed; fill ${fmt(events / fillSeconds)}/s incl. start)`,
      );
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  const dir = await tempDir("replay");
  const single = quick ? 100_000 : 300_000;
  await fillAndKill(dir, single, 1000, 1);
  const engine = await openEngine({ dataDir: dir });
  const rates: number[] = [];
  let count = 0;
  for (let pass = 0; pass < 3; pass++) {
    const started = performance.now();
    count = 0;
    for await (const _event of engine.replay("default", "agent-0")) count++;
    rates.push(count / ((performance.now() - started) / 1000));
  }
  record(`replay: events/s, one agent (${fmt(count)} events, 2 ops each)`, `${fmt(median(rates))} (passes: ${rates.map((r) => fmt(r)).join(", ")})`);
  await engine.close();
  await rm(dir, { recursive: true, force: true });

  console.log("\n| measurement | result |\n|---|---|");
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
}

if (args.fill !== undefined) {
  await fillChild(args.fill, Number(args.events), Number(args.interval), Number(args.agents ?? 100));
} else {
  await main();
}
