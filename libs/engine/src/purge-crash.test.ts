// Purge is crash-safe: a child process is SIGKILLed (a real kill, at the purge:mid-purge
// failpoint) in the middle of purging an agent; the next open completes the purge before it
// serves. Afterwards no key or value anywhere in the store holds the agent's name or data, the
// other agents answer exactly as before, and the log is gap-free (recovery verifies it).
import { spawn } from "node:child_process";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openEngine } from "./open-engine.ts";
import { RocksKv } from "./storage/rocks-kv.ts";
import { NODE_BINARY } from "./test-support/node-binary.ts";
import { withTempDir } from "./test-support/temp-dir.ts";
import type { AgentEvent, Engine, StateEntry } from "./types.ts";

const CHILD = fileURLToPath(new URL("./test-support/purge-child.ts", import.meta.url));
const NS = "tenant";
const SECRET_AGENT = "secret-agent";
const SECRET_MARK = "SECRET-PII-";

function runChild(env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE_BINARY, ["--conditions=@statehouse/source", CHILD], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

interface Oracle {
  keeper: StateEntry[];
  keeperEvents: AgentEvent[];
  elsewhere: StateEntry[];
  commitTs: bigint;
}

async function oracleOf(engine: Engine): Promise<Oracle> {
  return {
    keeper: await engine.scanPrefix(NS, "keeper", ""),
    keeperEvents: await collect(engine.replay(NS, "keeper")),
    elsewhere: await engine.scanPrefix("elsewhere", "keeper", ""),
    commitTs: engine.commitTs(),
  };
}

/** Every entry of the store, raw: none may hold the purged agent's name or data. */
async function leftovers(dir: string): Promise<string[]> {
  const kv = await RocksKv.open(join(dir, "db"));
  const found: string[] = [];
  const iterator = kv.iterator({ gte: Buffer.alloc(0), lt: Buffer.alloc(16, 0xff) });
  try {
    for (;;) {
      const rows = await iterator.next(1000);
      if (rows.length === 0) break;
      for (const [key, value] of rows) {
        const text = `${key.toString("latin1")} ${value.toString("latin1")}`;
        if (text.includes(SECRET_AGENT) || text.includes(SECRET_MARK)) found.push(text.slice(0, 120));
      }
    }
  } finally {
    iterator.close();
    await kv.close();
  }
  return found;
}

let populated: { dir: string; remove: () => Promise<void> };
let oracle: Oracle;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  populated = await withTempDir();
  const run = await runChild({ PURGE_MODE: "populate", PURGE_DIR: populated.dir });
  expect(run.stdout, run.stderr).toContain("POPULATED");
  const engine = await openEngine({ dataDir: populated.dir });
  oracle = await oracleOf(engine);
  expect((await engine.listKeys(NS, SECRET_AGENT)).length).toBeGreaterThan(30);
  await engine.close();
  expect((await leftovers(populated.dir)).length).toBeGreaterThan(1000);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await populated.remove();
});

// Batches of the purge: ~6 event-rewrite batches, then deletions of agent-event, version and state entries.
it.each([1, 3, 6, 8, 10])("completes a purge SIGKILLed at its batch %i at the next open, before serving", async (after) => {
  const { dir, remove } = await withTempDir();
  cleanups.push(remove);
  await cp(populated.dir, dir, { recursive: true });
  const run = await runChild({ PURGE_MODE: "purge", PURGE_DIR: dir, PURGE_FAILPOINT: `purge:mid-purge@${after}` });
  expect([run.signal, run.stdout], run.stderr).toEqual(["SIGKILL", ""]);
  const audit: string[] = [];
  const logger = { info: (obj: object, msg?: string) => audit.push(`${msg} ${JSON.stringify(obj)}`), warn: (obj: object, msg?: string) => audit.push(`${msg} ${JSON.stringify(obj)}`), error: () => undefined, debug: () => undefined };
  const engine = await openEngine({ dataDir: dir, logger });
  expect(audit.some((line) => line.startsWith("resuming an interrupted purge"))).toBe(true);
  expect(audit.some((line) => line.startsWith("purge ") && line.includes('"audit":"purge"'))).toBe(true);
  expect(audit.filter((line) => line.includes(SECRET_MARK))).toEqual([]);
  expect(await engine.listKeys(NS, SECRET_AGENT)).toEqual([]);
  expect(await collect(engine.replay(NS, SECRET_AGENT))).toEqual([]);
  expect(await oracleOf(engine)).toEqual(oracle);
  await engine.close();
  expect(await leftovers(dir)).toEqual([]);
  // And the purged store recovers cleanly again (log gap-free, indexes consistent: no rebuild).
  const again = await openEngine({ dataDir: dir });
  expect(again.recovery.notes.filter((n) => n.includes("rebuild"))).toEqual([]);
  expect(await oracleOf(again)).toEqual(oracle);
  await again.close();
}, 60_000);
