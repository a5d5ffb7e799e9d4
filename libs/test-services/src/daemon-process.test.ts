// The shared daemon launcher against the real statehoused (apps/daemon/dist, built by the test
// target's dependency): ready on a free port, every line kept and in the log file, a SIGKILL and a
// restart on the same port and data dir that keeps what was committed, a graceful stop, the temp
// dir removed, and the environment the daemon gets.
import { existsSync, readFileSync } from "node:fs";
import { afterEach, expect, test } from "vitest";
import { daemonEnv, DaemonProcess, runDaemonToExit } from "./daemon-process.ts";

let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.dispose();
  daemon = undefined;
});

/** A unary call in the Connect protocol with JSON over HTTP/1.1 (fetch): no client library needed. */
async function call(url: string, method: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/statehouse.v1.StatehouseService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status, `${method}: ${res.status}`).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

test("starts on a free port, survives a SIGKILL and a restart on the same port and data dir, and stops", async () => {
  daemon = await DaemonProcess.start({ logFile: "statehoused.log" });
  const { address, url, workDir } = daemon;
  expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(daemon.startMs).toBeGreaterThan(0);
  await call(url, "Transact", { operations: [{ namespace: "t", agentId: "a", key: "k", value: { n: 1 } }] });
  const firstPid = daemon.pid;

  expect(await daemon.kill()).toEqual({ code: null, signal: "SIGKILL" });
  expect(daemon.running).toBe(false);
  await daemon.restart();
  expect(daemon.address).toBe(address);
  expect(daemon.pid).not.toBe(firstPid);
  expect(await call(url, "GetState", { namespace: "t", agentId: "a", key: "k" })).toMatchObject({ exists: true, value: { n: 1 } });

  // Both runs' lines: kept in memory (parsed as JSON logs) and in the log file.
  expect(daemon.runs).toHaveLength(2);
  expect(daemon.logs().filter((line) => String(line["msg"]).startsWith("storage ready"))).toHaveLength(2);
  expect(readFileSync(`${workDir}/statehoused.log`, "utf8")).toContain("storage ready");

  expect((await daemon.stop()).code).toBe(0);
  await daemon.dispose();
  daemon = undefined;
  expect(existsSync(workDir)).toBe(false);
}, 60_000);

test("a daemon that cannot start fails the start with its output", async () => {
  await expect(DaemonProcess.start({ env: { STATEHOUSE_SNAPSHOT_INTERVAL: "often" } })).rejects.toThrow(/exited before it was ready[\s\S]*STATEHOUSE_SNAPSHOT_INTERVAL/);
  const exit = await runDaemonToExit({}, ["--no-such-flag"]);
  expect(exit.code).not.toBe(0);
  expect(exit.output).toContain("--no-such-flag");
});

test("the daemon's environment leaves out the runner's STATEHOUSE_* settings except the fast path, the RocksDB writer and RPC threads (auth off only)", () => {
  const saved = { fastPath: process.env["STATEHOUSE_FAST_PATH"], threads: process.env["STATEHOUSE_RPC_THREADS"], writer: process.env["STATEHOUSE_ROCKSDB_WRITER"] };
  process.env["STATEHOUSE_LEAK_TEST"] = "1";
  process.env["STATEHOUSE_FAST_PATH"] = "0";
  process.env["STATEHOUSE_ROCKSDB_WRITER"] = "thread";
  process.env["STATEHOUSE_RPC_THREADS"] = "2";
  try {
    const env = daemonEnv({ STATEHOUSE_DATA_DIR: "/d" });
    expect(env["STATEHOUSE_LEAK_TEST"]).toBeUndefined();
    expect(env["STATEHOUSE_FAST_PATH"]).toBe("0");
    expect(env["STATEHOUSE_ROCKSDB_WRITER"]).toBe("thread");
    expect(env["STATEHOUSE_RPC_THREADS"]).toBe("2");
    expect(env["STATEHOUSE_DATA_DIR"]).toBe("/d");
    expect(env["PATH"]).toBe(process.env["PATH"]);
    expect(daemonEnv({ STATEHOUSE_AUTH: "required" })["STATEHOUSE_RPC_THREADS"]).toBeUndefined();
    expect(daemonEnv({}, ["--auth", "optional"])["STATEHOUSE_RPC_THREADS"]).toBeUndefined();
    expect(daemonEnv({ STATEHOUSE_RPC_THREADS: "1" })["STATEHOUSE_RPC_THREADS"]).toBe("1");
  } finally {
    delete process.env["STATEHOUSE_LEAK_TEST"];
    for (const [name, value] of [["STATEHOUSE_FAST_PATH", saved.fastPath], ["STATEHOUSE_RPC_THREADS", saved.threads], ["STATEHOUSE_ROCKSDB_WRITER", saved.writer]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
});
