// Engine benchmark (not a test): group commit vs the binding's raw synced-batch rate,
// replay speed and recovery time. Run from the repository root:
//   node_modules/.bin/node --conditions=@statehouse/source bench/src/engine-bench.ts [--quick] [--scratch DIR]
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openEngine, type Engine, type OperationInput } from "@statehouse/engine";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scratch: { type: "string", default: "/var/tmp" },
    seconds: { type: "string" },
  },
});
const quick = args.quick === true;
const windowMs = Number(args.seconds ?? (quick ? 1 : 3)) * 1000;
const scratch = args.scratch ?? "/var/tmp";

interface RawBatch {
  _put(key: Buffer, value: Buffer, options: object): void;
  _writeSync(options: { sync: boolean }): void;
  _closeSync(): void;
}
interface RawDb {
  open(options: object): Promise<void>;
  close(): Promise<void>;
  _chainedBatch(): RawBatch;
  batch(ops: { type: "put"; key: Buffer; value: Buffer }[], options: { sync: boolean }): Promise<void>;
}

const rows: [string, string][] = [];
const record = (name: string, value: string): void => {
  rows.push([name, value]);
  console.log(`${name.padEnd(58)} ${value}`);
};
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(scratch, `statehouse-engine-bench-${label}-`));
}

/** The binding alone: sequential db.batch(..., { sync: true }) calls, one after another. */
async function rawSyncedRate(opsPerBatch: number): Promise<number> {
  const dir = await tempDir("raw");
  const { RocksLevel } = (await import("@nxtedition/rocksdb" as string)) as { RocksLevel: new (location: string) => RawDb };
  const db = new RocksLevel(dir);
  await db.open({ createIfMissing: true });
  const value = Buffer.alloc(120, 7);
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < windowMs) {
    const ops = [];
    for (let i = 0; i < opsPerBatch; i++) ops.push({ type: "put" as const, key: Buffer.from(`k${n}-${i}`), value });
    await db.batch(ops, { sync: true });
    n++;
  }
  const rate = n / ((performance.now() - started) / 1000);
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return rate;
}

function operations(i: number, agents: number): OperationInput[] {
  const agentId = `agent-${i % agents}`;
  return [
    { namespace: "default", agentId, key: `step/${i % 50}`, value: { n: i, note: "x".repeat(60), tool: { name: "search", ok: true } } },
    { namespace: "default", agentId, key: "progress", value: { done: i } },
  ];
}

/** Durable commits/s with `committers` concurrent closed-loop committers. */
async function commitRate(committers: number): Promise<{ rate: number; perBatch: number }> {
  const dir = await tempDir(`c${committers}`);
  const engine = await openEngine({ dataDir: dir });
  let next = 0;
  const deadline = performance.now() + windowMs;
  const before = engine.stats();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: committers }, async () => {
      while (performance.now() < deadline) await engine.transact({ operations: operations(next++, 100) });
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const after = engine.stats();
  const txns = (after.committedTransactions ?? 0) - (before.committedTransactions ?? 0);
  const batches = (after.groupCommits ?? 0) - (before.groupCommits ?? 0);
  await engine.close();
  await rm(dir, { recursive: true, force: true });
  return { rate: txns / elapsed, perBatch: txns / Math.max(1, batches) };
}

/** Fills an engine with `events` transactions as fast as possible (fsync off: only the data matters). */
async function fill(dir: string, events: number, snapshotInterval: number, agents: number): Promise<void> {
  const engine = await openEngine({ dataDir: dir, fsyncOnCommit: false, snapshotInterval });
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < events) await engine.transact({ operations: operations(next++, agents) });
    }),
  );
  await engine.close();
}

async function reopenTime(dir: string, snapshotInterval: number): Promise<{ ms: number; engine: Engine }> {
  const started = performance.now();
  const engine = await openEngine({ dataDir: dir, snapshotInterval });
  return { ms: performance.now() - started, engine };
}

async function main(): Promise<void> {
  console.log(`engine bench: window ${windowMs} ms per rate, scratch ${scratch}, node ${process.version}`);
  const raw1 = await rawSyncedRate(1);
  record("raw binding: sequential synced batches/s (1 put)", fmt(raw1));
  const raw6 = await rawSyncedRate(6);
  record("raw binding: sequential synced batches/s (6 puts ~ 1 commit)", fmt(raw6));
  const one = await commitRate(1);
  record("engine: durable commits/s, 1 committer", `${fmt(one.rate)}  (${fmt(one.rate / raw1, 2)}x raw)`);
  const many = await commitRate(64);
  record("engine: durable commits/s, 64 committers", `${fmt(many.rate)}  (${fmt(many.rate / raw1, 1)}x raw)`);
  record("engine: avg transactions per synced batch, 64 committers", fmt(many.perBatch, 1));

  const sizes = quick ? [100_000] : [100_000, 1_000_000];
  for (const events of sizes) {
    for (const interval of [1000, 0]) {
      const dir = await tempDir(`rec${events}-${interval}`);
      const fillStarted = performance.now();
      await fill(dir, events, interval, 100);
      const fillSeconds = (performance.now() - fillStarted) / 1000;
      const { ms, engine } = await reopenTime(dir, interval);
      const label = interval === 0 ? "snapshots off" : `snapshot every ${interval}`;
      record(
        `recovery: reopen after ${fmt(events)} events, ${label}`,
        `${fmt(ms)} ms (snapshot ts ${engine.recovery.snapshotTs ?? "none"}, ${fmt(engine.recovery.eventsReplayed)} events replayed; filled at ${fmt(events / fillSeconds)}/s)`,
      );
      if (interval === 1000 && events === sizes[sizes.length - 1]) {
        // Replay: one agent's whole history (events / 100 events per agent here), and a big single-agent log.
        const started = performance.now();
        let count = 0;
        for await (const _event of engine.replay("default", "agent-7")) count++;
        const seconds = (performance.now() - started) / 1000;
        record(`replay: events/s, one agent of 100 (${fmt(count)} events)`, fmt(count / seconds));
      }
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  const dir = await tempDir("replay");
  const single = quick ? 100_000 : 300_000;
  await fill(dir, single, 1000, 1);
  const engine = await openEngine({ dataDir: dir });
  const started = performance.now();
  let count = 0;
  for await (const _event of engine.replay("default", "agent-0")) count++;
  const seconds = (performance.now() - started) / 1000;
  record(`replay: events/s, single agent (${fmt(count)} events)`, fmt(count / seconds));
  await engine.close();
  await rm(dir, { recursive: true, force: true });

  console.log("\n| measurement | result |\n|---|---|");
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
}

await main();
