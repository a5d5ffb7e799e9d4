// statehoused import-original against an original 0.1.x data directory (a fixture written with
// the same RocksDB binding, in the original daemon's key and JSON layout): the daemon refuses to
// start on it, the import keeps commit_ts, versions and txn ids and verifies them, a re-run is a
// no-op, and afterwards the daemon serves the imported state and history.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { RocksLevel } from "@nxtedition/rocksdb";
import { StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { foreignDataProblem, IMPORT_MARKER } from "./import-original.js";
import { DAEMON_MAIN, DaemonProcess, NODE_BIN, runDaemonToExit } from "@statehouse/test-services";
import { GrpcJsDriver } from "./test-support/rpc-drivers.js";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "statehoused-import-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Op {
  namespace: string;
  agent_id: string;
  key: string;
  value: Record<string, unknown> | null;
  version: number;
}

const EVENTS: { txn_id: string; commit_ts: number; operations: Op[] }[] = [
  {
    txn_id: "5d0f7c1e-0001",
    commit_ts: 1,
    operations: [
      { namespace: "default", agent_id: "research-1", key: "context", value: { topic: "databases", sources: 2 }, version: 1 },
      { namespace: "default", agent_id: "research-1", key: "tool/search", value: { query: "raft vs paxos", results: 8.0 }, version: 1 },
    ],
  },
  { txn_id: "5d0f7c1e-0002", commit_ts: 2, operations: [{ namespace: "default", agent_id: "research-1", key: "context", value: { topic: "raft" }, version: 2 }] },
  {
    txn_id: "5d0f7c1e-0003",
    commit_ts: 3,
    operations: [
      { namespace: "default", agent_id: "research-1", key: "tool/search", value: null, version: 2 },
      { namespace: "prod", agent_id: "other", key: "final/answer", value: { text: "Raft" }, version: 1 },
    ],
  },
];

/** The original RocksStorage's layout: data_dir/rocksdb, UTF-8 keys, serde_json values. */
async function writeOriginalDataDir(dataDir: string): Promise<void> {
  const db = new RocksLevel(join(dataDir, "rocksdb"));
  await db.open({ createIfMissing: true });
  const batch = db._chainedBatch();
  const put = (key: string, value: unknown): void => batch._put(Buffer.from(key), Buffer.from(JSON.stringify(value)), {});
  for (const event of EVENTS) {
    put(`event:${String(event.commit_ts).padStart(20, "0")}`, event);
    for (const op of event.operations) {
      const record = { ...op, commit_ts: event.commit_ts, deleted: op.value === null };
      put(`state:${op.namespace}:${op.agent_id}:${op.key}`, record);
      put(`version:${op.namespace}:${op.agent_id}:${op.key}:${String(op.version).padStart(20, "0")}`, record);
    }
  }
  batch._writeSync({ sync: true });
  batch._closeSync();
  await db.close();
}

async function importCommand(...args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return importCommandWith({}, ...args);
}

async function importCommandWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(NODE_BIN, [DAEMON_MAIN, "import-original", ...args], { env: { PATH: process.env["PATH"] ?? "", ...env }, timeout: 60_000 });
    return { code: 0, signal: null, stdout, stderr };
  } catch (error) {
    const e = error as { code: number | null; signal: string | null; stdout: string; stderr: string };
    return { code: e.code, signal: e.signal, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("statehoused import-original", () => {
  it("refuses to start on original data, imports it in place (verified, re-runnable), then serves it", async () => {
    const data = join(dir, "in-place");
    await writeOriginalDataDir(data);
    expect(foreignDataProblem(data)).toContain(`statehoused import-original --from ${data}`);

    const refused = await runDaemonToExit({ STATEHOUSE_DATA_DIR: data, STATEHOUSE_LISTEN_ADDR: "127.0.0.1:0" });
    expect(refused.code).toBe(1);
    expect(refused.output).toContain("holds an original Statehouse 0.1.x database");
    expect(refused.output).toContain("statehoused import-original --from");

    const first = await importCommand("--from", data, "--data-dir", data);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toBe(
      [
        `imported 3 events from ${data} into ${data} (0 already there, 0 empty events filling commit_ts gaps)`,
        "verified: 3 records and the history of 2 agents (3 events) match the source",
        "commit_ts 3",
        "",
      ].join("\n"),
    );
    const marker = JSON.parse(await readFile(join(data, IMPORT_MARKER), "utf8")) as Record<string, unknown>;
    expect(marker).toMatchObject({ events: 3, imported: 3, records: 3, agents: 2, commitTs: 3 });
    const again = await importCommand("--from", data, "--data-dir", data);
    expect(again.stdout).toContain("imported 0 events");
    expect(again.stdout).toContain("(3 already there,");
    expect(foreignDataProblem(data)).toBeNull();

    const daemon = await DaemonProcess.start({ dataDir: data });
    const rpc = new GrpcJsDriver(daemon.address);
    try {
      const context = await rpc.unary(StatehouseService.method.getState, { namespace: "default", agentId: "research-1", key: "context" });
      expect(context).toMatchObject({ exists: true, version: 2n, commitTs: 2n });
      const deleted = await rpc.unary(StatehouseService.method.getState, { namespace: "default", agentId: "research-1", key: "tool/search" });
      expect(deleted).toMatchObject({ exists: false, version: 2n, commitTs: 3n });
      const events = [];
      for await (const event of rpc.stream(StatehouseService.method.replay, { namespace: "default", agentId: "research-1" })) events.push(event);
      expect(events.map((e) => [e.txnId, e.commitTs, e.operations.map((op) => [op.key, op.version])])).toEqual([
        ["5d0f7c1e-0001", 1n, [["context", 1n], ["tool/search", 1n]]],
        ["5d0f7c1e-0002", 2n, [["context", 2n]]],
        ["5d0f7c1e-0003", 3n, [["tool/search", 2n]]],
      ]);
      expect(events.every((e) => e.committedAt === undefined)).toBe(true); // the original kept no commit time
    } finally {
      rpc.close();
      await daemon.dispose();
    }
  });

  it("resumes after being SIGKILLed between batches", async () => {
    const source = join(dir, "killed-source");
    const target = join(dir, "killed-target");
    await writeOriginalDataDir(source);
    const killed = await importCommandWith({ STATEHOUSE_IMPORT_KILL_AFTER_BATCHES: "2" }, "--from", source, "--data-dir", target, "--batch-events", "1");
    expect(killed.signal).toBe("SIGKILL");
    expect(killed.stderr).toContain("commit_ts 2 (2 imported)");
    expect(foreignDataProblem(target)).toBeNull(); // the target never held original data
    const resumed = await importCommand("--from", source, "--data-dir", target, "--batch-events", "1");
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain("imported 1 events");
    expect(resumed.stdout).toContain("(2 already there,");
    expect(resumed.stdout).toContain("verified: 3 records and the history of 2 agents (3 events) match the source");
  });

  it("fails with a message and exit 1 on a directory without an original database", async () => {
    const result = await importCommand("--from", join(dir, "nothing-here"), "--data-dir", join(dir, "target"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("is not an original Statehouse database");
  });
});
