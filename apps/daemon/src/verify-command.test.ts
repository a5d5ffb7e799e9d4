// `statehoused verify DIR` on the real binary: a data dir the daemon wrote (with retention and a
// purge behind it) is consistent (exit 0); a damaged snapshot is found (exit 1, named on stdout);
// a dir a running daemon holds is refused; on a terminal the progress line goes to stderr.
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RetentionKind, RetentionService, StatehouseService } from "@statehouse/api";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DaemonProcess, runDaemonToExit } from "@statehouse/test-services";
import { GrpcJsDriver } from "./test-support/rpc-drivers.js";
import { verifyCommand } from "./verify-command.js";

let daemon: DaemonProcess;

beforeAll(async () => {
  daemon = await DaemonProcess.start({ env: { STATEHOUSE_SNAPSHOT_INTERVAL: "10", STATEHOUSE_COMPACTION_INTERVAL_MS: "0" } });
  const driver = new GrpcJsDriver(daemon.address);
  await driver.unary(RetentionService.method.setRetentionPolicy, { namespace: "short", policy: { kind: RetentionKind.KEEP_DURATION, keepDurationMs: 1n } });
  for (let i = 0; i < 40; i++) {
    await driver.unary(StatehouseService.method.transact, {
      operations: [
        { namespace: "short", agentId: "a", key: `k${i % 3}`, value: { i } },
        { namespace: "kept", agentId: i % 2 === 0 ? "b" : "gone", key: "k", value: { i } },
      ],
      idempotencyKey: `req-${i}`,
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  await driver.unary(RetentionService.method.compactHistory, {});
  await driver.unary(RetentionService.method.purge, { namespace: "kept", agentId: "gone" });
  driver.close();
  const locked = await runDaemonToExit({}, ["verify", daemon.dataDir]);
  expect([locked.code, locked.output]).toEqual([1, `statehoused verify: the data dir ${daemon.dataDir} is in use (a running statehoused holds its lock): stop the daemon first\n`]);
  await daemon.stop();
}, 60_000);

afterAll(async () => {
  await daemon.dispose();
});

it("passes a data dir the daemon wrote, and shows progress on a terminal", async () => {
  const run = await runDaemonToExit({}, ["verify", daemon.dataDir]);
  expect(run.code, run.output).toBe(0);
  expect(run.output).toMatch(new RegExp(`^✓ ${daemon.dataDir} is consistent: \\d+ events \\(log floor 0, commit_ts 40\\), \\d+ state, `));
  const err: string[] = [];
  const out: string[] = [];
  const status = await verifyCommand(daemon.dataDir, { json: false }, { stdout: { write: (t: string) => out.push(t) }, stderr: { isTTY: true, write: (t: string) => err.push(t) } });
  expect(status).toBe(0);
  const clearLine = "\r\u001b[2K";
  expect(err[0]?.startsWith(clearLine)).toBe(true);
  expect(err[0]?.slice(clearLine.length)).toMatch(/^verify: log \d+\/40 \(\d+%\)$/);
  expect(err[err.length - 1]).toBe(clearLine);
  const json = await runDaemonToExit({}, ["verify", daemon.dataDir, "--json"]);
  expect((JSON.parse(json.output) as { findings: unknown[]; commitTs: number }).commitTs).toBe(40);
});

it("fails (exit 1) on a damaged snapshot and names it", async () => {
  const snapshots = join(daemon.dataDir, "snapshots");
  const files = (await readdir(snapshots)).filter((f) => f.endsWith(".snap")).sort();
  await writeFile(join(snapshots, files[0] as string), Buffer.alloc(32, 1));
  const run = await runDaemonToExit({}, ["verify", daemon.dataDir]);
  expect(run.code).toBe(1);
  expect(run.output).toContain(`✗ snapshots: snapshot ${join(snapshots, files[0] as string)}: bad header magic`);
  expect(run.output).toMatch(/✗ 1 inconsistencies in /);
  expect((await runDaemonToExit({}, ["verify"])).code).toBe(2);
});
